"""`flask hours show|set|close-day|open-day`, `flask prompts list|set-audio|set-text` and
`flask simulate`. Changes are written to the audit log as ``cli:<OS user>``; the same
settings are on the admin pages /admin/horario and /admin/mensajes."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup

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

hours_group = AppGroup("hours", help="Horario de atención y días de cierre.")
prompts_group = AppGroup("prompts", help="Catálogo de mensajes de la línea.")


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise click.BadParameter(f"{text!r} no es una fecha AAAA-MM-DD.") from exc


@hours_group.command("show")
def hours_show() -> None:
    """Show the hours in force, where they come from, and the coming closure days."""
    config = current_app.config
    now = lima_now()
    current = hours_domain.load_hours(
        db.session(), config["SERVICE_HOURS"], config["SERVICE_CLOSE_ON_HOLIDAYS"]
    )
    click.echo(f"Horario: {current.spec} ({current.source})")
    click.echo(f"Se dice: {hours_domain.describe_hours(current.windows)}")
    click.echo(f"Cerrado en feriados: {'sí' if current.close_on_holidays else 'no'}")
    reason = hours_domain.closed_reason(now, current)
    click.echo(f"Ahora ({now:%Y-%m-%d %H:%M}): {'abierto' if reason is None else reason}")
    days = hours_domain.closure_days(db.session(), since=now.date())
    click.echo("Días de cierre: " + (", ".join(str(d.day) for d in days) or "ninguno"))


@hours_group.command("set")
@click.argument("spec", required=False)
@click.option("--default", "use_default", is_flag=True, help="Volver al SERVICE_HOURS del entorno.")
@click.option("--holidays/--no-holidays", default=None, help="Cerrar (o no) en feriados.")
def hours_set(spec: str | None, use_default: bool, holidays: bool | None) -> None:
    """Set the hours, e.g. "mon-fri 08:30-13:00;mon-fri 14:00-16:30" (wins over the environment)."""
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
@click.argument("day")
@click.option("--reason", default=None, help="Motivo del cierre.")
def hours_close_day(day: str, reason: str | None) -> None:
    """Close the line on DAY (YYYY-MM-DD)."""
    hours_domain.close_day(db.session(), _day(day), reason, actor=default_actor())
    click.echo(f"La línea estará cerrada el {day}.")


@hours_group.command("open-day")
@click.argument("day")
def hours_open_day(day: str) -> None:
    """Remove DAY (YYYY-MM-DD) from the closure days."""
    if hours_domain.open_day(db.session(), _day(day), actor=default_actor()):
        click.echo(f"El {day} ya no es día de cierre.")
    else:
        click.echo(f"El {day} no era día de cierre.")


@prompts_group.command("list")
@click.option("--language", type=click.Choice(prompts_domain.LANGUAGES), default=None)
def prompts_list(language: str | None) -> None:
    """Every prompt, per language, with its text and recording."""
    for entry in prompts_domain.catalogue(db.session(), language):
        audio = entry.audio_url or (
            "(sin grabación: se dice en español)" if entry.language != "es" else "-"
        )
        click.echo(f"{entry.prompt_id}\t{entry.language}\t{audio}\t{entry.text}")


@prompts_group.command("set-audio")
@click.argument("prompt_id")
@click.argument("language")
@click.argument("url", required=False)
def prompts_set_audio(prompt_id: str, language: str, url: str | None) -> None:
    """Set the recording of PROMPT_ID in LANGUAGE (no URL removes it)."""
    try:
        prompts_domain.set_audio(db.session(), prompt_id, language, url, actor=default_actor())
    except prompts_domain.UnknownPromptError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo("Grabación actualizada." if url else "Grabación retirada.")


@prompts_group.command("set-text")
@click.argument("prompt_id")
@click.argument("language")
@click.argument("text", required=False)
def prompts_set_text(prompt_id: str, language: str, text: str | None) -> None:
    """Replace the text of PROMPT_ID in LANGUAGE (no TEXT restores the default)."""
    try:
        prompts_domain.set_text(db.session(), prompt_id, language, text, actor=default_actor())
    except prompts_domain.UnknownPromptError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo("Texto actualizado." if text else "Texto por defecto restaurado.")


@click.command("simulate")
@click.option("--from", "from_number", default="+51987654321", help="Número que llama.")
@click.option("--to", "to_number", default="+5113115930", help="Número llamado.")
@click.option("--at", "at", default=None, help='Momento (hora de Lima), p. ej. "2026-11-26 10:00".')
@click.option("--keys", default="", help="Teclas, separadas por comas: 1,3,2,# (- = silencio).")
@click.option(
    "--dial", multiple=True, help="Resultado de cada marcación: accept, reject, no-answer, busy..."
)
@click.option("--scenario", type=click.Path(exists=True, path_type=Path), default=None)
@click.option("--url", default=None, help="Servidor en marcha, p. ej. http://localhost:5000.")
def simulate(
    from_number: str,
    to_number: str,
    at: str | None,
    keys: str,
    dial: tuple[str, ...],
    scenario: Path | None,
    url: str | None,
) -> None:
    """Walk a call through the flow the way Twilio would, and print what the caller hears."""
    try:
        plan = (
            load_scenario(scenario)
            if scenario
            else Scenario(
                from_number=from_number,
                to_number=to_number,
                at=parse_at(at) if at else None,
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
        raise click.ClickException(str(exc)) from exc
    destino = {"plataforma": "en cola de la Plataforma", "hangup": "terminada", "end": "terminada"}
    click.echo(f"Resultado: {destino.get(result.ended, result.ended)}")


def init_app(app: Flask) -> None:
    app.cli.add_command(hours_group)
    app.cli.add_command(prompts_group)
    app.cli.add_command(simulate)
