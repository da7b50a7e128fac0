"""The directory's commands: thin wrappers that call the domain functions and commit.

    flask --app app directory import|export FILE.csv
    flask --app app directory designate SIGLA --rol titular --memorando ... (dates YYYY-MM-DD)
    flask --app app directory late
    flask --app app centers import|export FILE.csv
    flask --app app seed demo [--if-empty]
    flask --app app agents list|add|languages|deactivate ...
    flask --app app languages list|add ...; flask --app app languages speakers list|add|remove

Every change is audit-logged under ``--actor`` (default ``cli:<OS user>``). A failing command
changes nothing and exits with status 1.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy.orm import Session

from directory import centers as centers_mod
from directory import demo, designations, importer, plans, registry
from directory.audit import default_actor
from directory.csvio import FileRejected
from directory.models import AGENT_CHANNELS, ROLES
from directory.rules import RuleError
from extensions import db

FILE_IN = click.Path(exists=True, dir_okay=False, path_type=Path)
FILE_OUT = click.Path(dir_okay=False, writable=True, path_type=Path)
DATE = click.DateTime(formats=["%Y-%m-%d"])


def actor_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--actor", default=None, help="Who makes the change (audit log); default cli:<OS user>."
    )(f)


@contextmanager
def transaction() -> Iterator[Session]:
    """The command's unit of work: commit on success; on a rejected file or a broken rule,
    roll back, print every error and exit 1."""
    session = db.session()
    try:
        yield session
        session.commit()
    except FileRejected as exc:
        session.rollback()
        click.echo(str(exc), err=True)
        raise SystemExit(1) from exc
    except RuleError as exc:
        session.rollback()
        click.echo(f"Error: {exc}", err=True)
        raise SystemExit(1) from exc
    except BaseException:
        session.rollback()
        raise


def _day(value: datetime) -> date:
    return value.date()


def echo_lines(lines: list[str]) -> None:
    for line in lines:
        click.echo(line)


# --- directory (Anexo 2) ---------------------------------------------------------------

directory_group = AppGroup("directory", help="Anexo 2: órganos and their Red members.")


def _import(kind: plans.Kind, file: Path, dry_run: bool, yes: bool, actor: str | None) -> None:
    """Preview the file (every error with its line and column); with --dry-run stop there;
    an import that would deactivate more than half needs --yes; else apply and commit, then
    print what changed."""
    data = file.read_bytes()
    who = actor or default_actor()
    with transaction() as session:
        plan = plans.preview(session, kind, data, actor=who)
    if dry_run:
        click.echo("Vista previa (--dry-run): no se cambió nada.")
        echo_lines(plan.summary)
        return
    if plan.drastic and not yes:
        for warning in plan.warnings:
            click.echo(warning, err=True)
        echo_lines(plan.summary)
        click.echo("No se cambió nada. Si es lo que quiere, repita el comando con --yes.", err=True)
        raise SystemExit(1)
    with transaction() as session:
        applied = plans.apply(session, kind, data, expected=plan.fingerprint, actor=who)
    echo_lines(applied.summary)


def import_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option(
        "--yes", is_flag=True, help="Apply even if it deactivates more than half of the rows."
    )(f)
    return click.option("--dry-run", is_flag=True, help="Show what would change; change nothing.")(
        f
    )


@directory_group.command("import")
@click.argument("file", type=FILE_IN)
@import_options
@actor_option
def directory_import(file: Path, dry_run: bool, yes: bool, actor: str | None) -> None:
    """Import an Anexo 2 file: CSV (, or ;) or XLSX, all or nothing."""
    _import("anexo2", file, dry_run, yes, actor)


@directory_group.command("export")
@click.argument("file", type=FILE_OUT)
def directory_export(file: Path) -> None:
    """Write the serving representatives as Anexo 2: CSV (UTF-8 with BOM) or, for a .xlsx
    name, XLSX."""
    with transaction() as session:
        rows = importer.export_rows(session)
        _write_export(session, "anexo2", file)
        click.echo(f"{len(rows)} representante(s) exportado(s) a {file}.")


def _write_export(session: Session, kind: plans.Kind, file: Path) -> None:
    if file.suffix.lower() == ".xlsx":
        file.write_bytes(plans.export_xlsx(session, kind))
    else:  # Excel opens a CSV with accents right only with the BOM
        file.write_text(plans.export_csv(session, kind), encoding="utf-8-sig")


@directory_group.command("designate")
@click.argument("sigla")
@click.option("--rol", type=click.Choice(ROLES), required=True)
@click.option("--memorando", required=True, help='e.g. "Memorando N° 0112-2026-EF/50.01"')
@click.option("--memorando-fecha", type=DATE, required=True)
@click.option("--vigente-desde", type=DATE, required=True, help="Date the designation took effect.")
@click.option("--comunicado-el", type=DATE, required=True, help="Date it was communicated.")
@actor_option
def directory_designate(
    sigla: str,
    rol: str,
    memorando: str,
    memorando_fecha: datetime,
    vigente_desde: datetime,
    comunicado_el: datetime,
    actor: str | None,
) -> None:
    """Record the memorando that designated an órgano's serving titular or alterno."""
    with transaction() as session:
        rep = designations.designate(
            session,
            sigla,
            rol,
            memorando=memorando,
            memorando_fecha=_day(memorando_fecha),
            vigente_desde=_day(vigente_desde),
            comunicado_el=_day(comunicado_el),
            actor=actor or default_actor(),
        )
        click.echo(f"{rep.organo.sigla} {rol}: {rep.nombre_completo}, {rep.memorando}.")
        if designations.representative_is_late(rep):
            click.echo("Comunicada fuera de plazo (más de 5 días hábiles, §4.2.4 d).")


@directory_group.command("late")
def directory_late() -> None:
    """List designations communicated more than five business days after they took effect."""
    with transaction() as session:
        late = designations.late_designations(session)
        if not late:
            click.echo("Ninguna designación comunicada fuera de plazo.")
        for item in late:
            rep = item.representative
            click.echo(
                f"{rep.organo.sigla} {rep.rol}: {rep.nombre_completo} — vigente desde "
                f"{rep.vigente_desde}, comunicada el {rep.comunicado_el}: "
                f"{item.business_days} días hábiles (plazo: {item.deadline}); {rep.memorando}"
            )


# --- centers (Anexo 3) -----------------------------------------------------------------

centers_group = AppGroup("centers", help="Anexo 3: the CONECTAMEF centers.")


@centers_group.command("import")
@click.argument("file", type=FILE_IN)
@import_options
@actor_option
def centers_import(file: Path, dry_run: bool, yes: bool, actor: str | None) -> None:
    """Import an Anexo 3 file: CSV (, or ;) or XLSX, all or nothing."""
    _import("anexo3", file, dry_run, yes, actor)


@centers_group.command("export")
@click.argument("file", type=FILE_OUT)
def centers_export(file: Path) -> None:
    """Write the active centers as Anexo 3: CSV (UTF-8 with BOM) or, for a .xlsx name, XLSX."""
    with transaction() as session:
        _write_export(session, "anexo3", file)
        click.echo(f"{len(centers_mod.active_centers(session))} centro(s) exportado(s) a {file}.")


# --- seed ------------------------------------------------------------------------------

seed_group = AppGroup("seed", help="Demo data.")


@seed_group.command("demo")
@click.option("--if-empty", is_flag=True, help="Load only when the directory has no órganos.")
@click.option(
    "--with-calls/--without-calls",
    default=True,
    help="Also fill the register with two months of demo calls (for the reports).",
)
@actor_option
def seed_demo(if_empty: bool, with_calls: bool, actor: str | None) -> None:
    """Load the demo directory, centers, agents, language registry, users and calls."""
    if current_app.config.get("ENV_NAME") == "production":
        # The demo users share a published password: never on a reachable server.
        click.echo(
            "Error: los datos de demostración no se cargan en producción (RED_ENV=production).",
            err=True,
        )
        raise SystemExit(1)
    with transaction() as session:
        echo_lines(demo.seed_demo(session, actor=actor or default_actor(), if_empty=if_empty))
    if with_calls:
        # Register rows for the reports to show: deterministic, so a second run adds nothing.
        from register.demo import seed_demo_calls

        count = seed_demo_calls(db.session())
        click.echo(f"Registro de llamadas (Anexo 1) de demostración: {count} llamadas.")


# --- agents ----------------------------------------------------------------------------

agents_group = AppGroup("agents", help="Plataforma agents.")


@agents_group.command("list")
@click.option("--all", "include_inactive", is_flag=True, help="Include inactive agents.")
def agents_list(include_inactive: bool) -> None:
    with transaction() as session:
        agents = registry.list_agents(session, include_inactive=include_inactive)
        if not agents:
            click.echo("No hay agentes registrados.")
        for agent in agents:
            state = "" if agent.activo else " [inactivo]"
            click.echo(
                f"{agent.id}\t{agent.nombre}\t{agent.canal} {agent.destino}\t"
                f"idiomas: {', '.join(agent.language_codes) or '-'}{state}"
            )


@agents_group.command("add")
@click.argument("nombre")
@click.option("--canal", type=click.Choice(AGENT_CHANNELS), required=True)
@click.option("--destino", required=True, help="Anexo, SIP URI or Twilio Client identity.")
@click.option("--idioma", "languages", multiple=True, default=["es"], show_default=True)
@click.option("--correo", default=None)
@actor_option
def agents_add(
    nombre: str,
    canal: str,
    destino: str,
    languages: tuple[str, ...],
    correo: str | None,
    actor: str | None,
) -> None:
    with transaction() as session:
        agent = registry.add_agent(
            session,
            nombre=nombre,
            canal=canal,
            destino=destino,
            languages=list(languages),
            correo=correo,
            actor=actor or default_actor(),
        )
        click.echo(f"Agente {agent.id} agregado: {agent.nombre} ({agent.canal} {agent.destino}).")


@agents_group.command("languages")
@click.argument("agent_id", type=int)
@click.argument("codes", nargs=-1, required=True)
@actor_option
def agents_languages(agent_id: int, codes: tuple[str, ...], actor: str | None) -> None:
    """Set the languages an agent speaks, e.g. `agents languages 3 es qu`."""
    with transaction() as session:
        agent = registry.set_agent_languages(
            session, agent_id, list(codes), actor=actor or default_actor()
        )
        click.echo(f"{agent.nombre}: {', '.join(agent.language_codes)}.")


@agents_group.command("deactivate")
@click.argument("agent_id", type=int)
@actor_option
def agents_deactivate(agent_id: int, actor: str | None) -> None:
    with transaction() as session:
        agent = registry.set_agent_active(session, agent_id, False, actor=actor or default_actor())
        click.echo(f"Agente {agent.id} ({agent.nombre}) desactivado.")


# --- languages and the §5.4 registry ---------------------------------------------------

languages_group = AppGroup("languages", help="Languages and the §5.4 registry of speakers.")


@languages_group.command("list")
def languages_list() -> None:
    with transaction() as session:
        for language in registry.list_languages(session):
            menu = " (menú IVR)" if language.en_menu else ""
            count = len(registry.list_speakers(session, language.code))
            click.echo(f"{language.code}\t{language.nombre}{menu}\t{count} servidor(es)")


@languages_group.command("add")
@click.argument("code")
@click.argument("nombre")
@actor_option
def languages_add(code: str, nombre: str, actor: str | None) -> None:
    """Register another lengua originaria, e.g. `languages add quz "Quechua de Cusco"`."""
    with transaction() as session:
        language = registry.add_language(session, code, nombre, actor=actor or default_actor())
        click.echo(f"Idioma agregado: {language.code} {language.nombre}.")


speakers_group = AppGroup("speakers", help="Servers who speak lenguas originarias (§5.4).")
languages_group.add_command(speakers_group)


@speakers_group.command("list")
@click.option("--idioma", default=None, help="Only this language code.")
def speakers_list(idioma: str | None) -> None:
    with transaction() as session:
        speakers = registry.list_speakers(session, idioma)
        if not speakers:
            click.echo("No hay servidores registrados.")
        for s in speakers:
            reach = ", ".join(
                x
                for x in (f"anexo {s.anexo}" if s.anexo else "", s.telefono or "", s.correo or "")
                if x
            )
            click.echo(
                f"{s.id}\t{s.language_code}\t{s.nombre_completo}\t{s.unidad or '-'}\t{reach or '-'}"
            )


@speakers_group.command("add")
@click.option("--idioma", required=True, help="Language code, e.g. qu, ay, cni, agr, shp.")
@click.option("--nombre", required=True)
@click.option("--unidad", default=None)
@click.option("--anexo", default=None)
@click.option("--telefono", default=None)
@click.option("--correo", default=None)
@actor_option
def speakers_add(
    idioma: str,
    nombre: str,
    unidad: str | None,
    anexo: str | None,
    telefono: str | None,
    correo: str | None,
    actor: str | None,
) -> None:
    with transaction() as session:
        speaker = registry.add_speaker(
            session,
            nombre_completo=nombre,
            language_code=idioma,
            unidad=unidad,
            anexo=anexo,
            telefono=telefono,
            correo=correo,
            actor=actor or default_actor(),
        )
        click.echo(f"Registrado {speaker.id}: {speaker.nombre_completo} ({speaker.language_code}).")


@speakers_group.command("edit")
@click.argument("speaker_id", type=int)
@click.option("--idioma", default=None)
@click.option("--nombre", default=None)
@click.option("--unidad", default=None, help='"" clears it.')
@click.option("--anexo", default=None, help='"" clears it.')
@click.option("--telefono", default=None, help='"" clears it.')
@click.option("--correo", default=None, help='"" clears it.')
@actor_option
def speakers_edit(
    speaker_id: int,
    idioma: str | None,
    nombre: str | None,
    unidad: str | None,
    anexo: str | None,
    telefono: str | None,
    correo: str | None,
    actor: str | None,
) -> None:
    """Change a registry entry, e.g. `languages speakers edit 3 --anexo 5121`."""
    with transaction() as session:
        speaker = registry.update_speaker(
            session,
            speaker_id,
            nombre_completo=nombre,
            language_code=idioma,
            unidad=unidad,
            anexo=anexo,
            telefono=telefono,
            correo=correo,
            actor=actor or default_actor(),
        )
        click.echo(
            f"Actualizado {speaker.id}: {speaker.nombre_completo} ({speaker.language_code})."
        )


@speakers_group.command("remove")
@click.argument("speaker_id", type=int)
@actor_option
def speakers_remove(speaker_id: int, actor: str | None) -> None:
    with transaction() as session:
        speaker = registry.remove_speaker(session, speaker_id, actor=actor or default_actor())
        click.echo(f"Retirado del registro: {speaker.nombre_completo} ({speaker.language_code}).")


def init_app(app: Flask) -> None:
    for group in (directory_group, centers_group, seed_group, agents_group, languages_group):
        app.cli.add_command(group)
