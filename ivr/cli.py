"""`flask hours show|set|close-day|open-day`, `flask prompts list|set-audio|set-text` and
`flask simulate`. Changes are written to the audit log as ``cli:<OS user>``; the same
settings are on the admin pages /admin/horario and /admin/mensajes."""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from pathlib import Path

import click
from flask import Flask, current_app

from cli_support import DATE, Command, Group
from clock import lima_now
from directory.audit import default_actor
from extensions import db
from ivr import hours as hours_domain
from ivr import prompts as prompts_domain
from ivr.simulator import (
    HttpTransport,
    Scenario,
    SimulationError,
    Simulator,
    load_scenario,
    parse_at,
    parse_keys,
    simulate_in_process,
)

hours_group = Group("hours", help="Horario de atención y días de cierre.")
prompts_group = Group("prompts", help="Catálogo de mensajes de la línea.")


@hours_group.command("show")
def hours_show() -> None:
    """Muestra el horario vigente, de dónde viene y los próximos días de cierre."""
    config = current_app.config
    now = lima_now()
    current = hours_domain.load_hours(
        db.session(), config["SERVICE_HOURS"], config["SERVICE_CLOSE_ON_HOLIDAYS"]
    )
    click.echo(f"Horario: {current.spec} ({current.source})")
    click.echo(f"Se dice: {hours_domain.describe_hours(current.windows)}")
    click.echo(f"Cerrado en feriados: {'sí' if current.close_on_holidays else 'no'}")
    reason = hours_domain.closed_reason(now, current)
    state = "abierta" if reason is None else hours_domain.CLOSED_REASON_LABELS[reason]
    click.echo(f"Ahora ({now:%Y-%m-%d %H:%M}): {state}")
    days = hours_domain.closure_days(db.session(), since=now.date())
    click.echo("Días de cierre: " + (", ".join(str(d.day) for d in days) or "ninguno"))


@hours_group.command("set")
@click.argument("spec", required=False, metavar="[HORARIO]")
@click.option("--default", "use_default", is_flag=True, help="Volver al SERVICE_HOURS del entorno.")
@click.option("--holidays/--no-holidays", default=None, help="Cerrar (o no) en feriados.")
def hours_set(spec: str | None, use_default: bool, holidays: bool | None) -> None:
    """Fija el horario (prevalece sobre el entorno): "mon-fri 08:30-13:00;mon-fri 14:00-16:30"."""
    if spec is None and not use_default and holidays is None:
        raise click.UsageError("Indique un horario, --default o --holidays/--no-holidays.")
    session = db.session()
    if spec is not None or use_default:
        try:
            hours_domain.set_service_hours(
                session, None if use_default else spec, actor=default_actor()
            )
        except hours_domain.ServiceHoursError as exc:
            raise click.ClickException(str(exc)) from exc
    if holidays is not None:
        hours_domain.set_close_on_holidays(session, holidays, actor=default_actor())
    click.echo("Horario actualizado.")


@hours_group.command("close-day")
@click.argument("day", type=DATE)
@click.option("--reason", default=None, metavar="MOTIVO", help="Motivo del cierre.")
def hours_close_day(day: date, reason: str | None) -> None:
    """Cierra la línea ese día (hoy o una fecha futura)."""
    try:
        hours_domain.check_closure_day(day, lima_now().date())
    except hours_domain.ClosureDayError as exc:
        raise click.ClickException(f"{day}: {exc}") from exc
    hours_domain.close_day(db.session(), day, reason, actor=default_actor())
    click.echo(f"La línea estará cerrada el {day}.")


@hours_group.command("open-day")
@click.argument("day", type=DATE)
def hours_open_day(day: date) -> None:
    """Quita ese día de los días de cierre."""
    opened = hours_domain.open_day(db.session(), day, actor=default_actor())
    click.echo(f"El {day} ya no es día de cierre." if opened else f"El {day} no era día de cierre.")


@prompts_group.command("list")
@click.option(
    "--language", type=click.Choice(prompts_domain.LANGUAGES), default=None, help="Solo ese idioma."
)
def prompts_list(language: str | None) -> None:
    """Cada mensaje, por idioma, con su texto y su grabación."""
    for entry in prompts_domain.catalogue(db.session(), language):
        audio = entry.audio_url or (
            "(sin grabación: se dice en español)" if entry.language != "es" else "-"
        )
        click.echo(f"{entry.prompt_id}\t{entry.language}\t{audio}\t{entry.text}")


@prompts_group.command("set-audio")
@click.argument("prompt_id", metavar="MENSAJE")
@click.argument("language", metavar="IDIOMA")
@click.argument("url", required=False, metavar="[URL]")
def prompts_set_audio(prompt_id: str, language: str, url: str | None) -> None:
    """Fija la grabación de MENSAJE en IDIOMA (sin URL, la retira)."""
    try:
        prompts_domain.set_audio(db.session(), prompt_id, language, url, actor=default_actor())
    except prompts_domain.UnknownPromptError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo("Grabación actualizada." if url else "Grabación retirada.")


@prompts_group.command("set-text")
@click.argument("prompt_id", metavar="MENSAJE")
@click.argument("language", metavar="IDIOMA")
@click.argument("text", required=False, metavar="[TEXTO]")
def prompts_set_text(prompt_id: str, language: str, text: str | None) -> None:
    """Reemplaza el texto de MENSAJE en IDIOMA (sin TEXTO, vuelve el de fábrica)."""
    try:
        prompts_domain.set_text(db.session(), prompt_id, language, text, actor=default_actor())
    except prompts_domain.UnknownPromptError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo("Texto actualizado." if text else "Texto por defecto restaurado.")


@click.command("simulate", cls=Command)
@click.option(
    "--from", "from_number", default="+51987654321", metavar="NÚMERO", help="Número que llama."
)
@click.option("--to", "to_number", default="+5113115930", metavar="NÚMERO", help="Número llamado.")
@click.option(
    "--at", "at", default=None, metavar="MOMENTO", help='Hora de Lima: "2026-11-26 10:00".'
)
@click.option(
    "--keys", default="", metavar="TECLAS", help="Separadas por comas: 1,3,2,# (- = silencio)."
)
@click.option(
    "--dial",
    multiple=True,
    metavar="RESULTADO",
    help="Resultado de cada marcación: accept, reject, answer, no-answer, busy, failed, canceled.",
)
@click.option(
    "--scenario",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Archivo YAML o JSON con from, at, keys y dial.",
)
@click.option(
    "--url", default=None, metavar="URL", help="Servidor en marcha: http://localhost:5000."
)
def simulate(
    from_number: str,
    to_number: str,
    at: str | None,
    keys: str,
    dial: tuple[str, ...],
    scenario: Path | None,
    url: str | None,
) -> None:
    """Recorre una llamada por el flujo como lo haría Twilio y muestra lo que se oye."""
    try:
        plan = (
            read_scenario(scenario)
            if scenario
            else Scenario(
                from_number=from_number,
                to_number=to_number,
                at=moment(at) if at else None,
                keys=parse_keys(keys),
                dial=list(dial),
            )
        )
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        if url:
            if plan.at is not None:
                click.echo("Aviso: --at no se aplica a un servidor en marcha (usa su reloj).")
            transport = HttpTransport(
                url, current_app.config["TWILIO_AUTH_TOKEN"], current_app.config["PUBLIC_BASE_URL"]
            )
            result = Simulator(transport, plan, click.echo).run()
        else:
            result = simulate_in_process(current_app._get_current_object(), plan, click.echo)  # type: ignore[attr-defined]
    except SimulationError as exc:
        raise click.ClickException(simulation_error(exc)) from exc
    destino = {"plataforma": "en cola de la Plataforma", "hangup": "terminada", "end": "terminada"}
    click.echo(f"Resultado: {destino.get(result.ended, result.ended)}")


def moment(text: str) -> datetime:
    """``--at``: a Lima moment such as "2026-11-26 10:00" (any ISO 8601 moment)."""
    try:
        return parse_at(text)
    except ValueError as exc:
        raise click.BadParameter(
            f"«{text}» no es un momento AAAA-MM-DD HH:MM (hora de Lima).", param_hint="'--at'"
        ) from exc


def read_scenario(path: Path) -> Scenario:
    """A scenario file, or a Spanish error saying what is wrong in it (the parsers and
    datetime speak English)."""
    try:
        return load_scenario(path)
    except json.JSONDecodeError as exc:
        raise click.ClickException(
            f"El escenario no es JSON válido (línea {exc.lineno}, columna {exc.colno})."
        ) from exc
    except ValueError as exc:
        if "isoformat" in str(exc):  # datetime.fromisoformat on the file's `at`
            raise click.ClickException(
                "El campo «at» del escenario no es un momento AAAA-MM-DD HH:MM (hora de Lima)."
            ) from exc
        raise click.ClickException(str(exc)) from exc
    except Exception as exc:
        import yaml  # only .yaml scenarios need PyYAML

        if not isinstance(exc, yaml.YAMLError):
            raise
        mark = getattr(exc, "problem_mark", None)
        where = f" (línea {mark.line + 1})" if mark is not None else ""
        raise click.ClickException(f"El escenario no es YAML válido{where}.") from exc


def simulation_error(exc: SimulationError) -> str:
    answered = re.fullmatch(r"POST (\S+) answered (\d+)", str(exc))
    if answered:
        return f"El servidor respondió {answered[2]} a POST {answered[1]}; la simulación se detuvo."
    if "loop" in str(exc):
        return "Demasiadas solicitudes: el flujo parece no terminar; la simulación se detuvo."
    return f"La simulación se detuvo: {exc}"


def init_app(app: Flask) -> None:
    app.cli.add_command(hours_group)
    app.cli.add_command(prompts_group)
    app.cli.add_command(simulate)
