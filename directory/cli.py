"""The directory's commands: thin wrappers that call the domain functions and commit.

    flask --app app directory import|export FILE.csv
    flask --app app directory designate SIGLA --rol titular --memorando ... (dates YYYY-MM-DD)
    flask --app app directory late
    flask --app app centers import|export FILE.csv
    flask --app app seed demo [--if-empty]
    flask --app app agents list|add|languages|activate|deactivate ...
    flask --app app languages list|add ...; flask --app app languages speakers list|add|edit|remove

Every change is audit-logged under ``--actor`` (default ``cli:<OS user>``). A failing command
changes nothing and exits with status 1.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import click
from flask import Flask
from sqlalchemy.orm import Session

from cli_support import AGENT_CHANNELS as CHANNEL_LABELS
from cli_support import (
    CSV_ENCODING,
    DATE,
    FILE_IN,
    FILE_OUT,
    Group,
    check_output,
    echo_lines,
    label,
)
from directory import centers as centers_mod
from directory import designations, importer, plans, registry
from directory.audit import default_actor
from directory.csvio import FileRejected
from directory.models import AGENT_CHANNELS, ROLES
from directory.rules import RuleError
from extensions import db

actor_option = click.option(
    "--actor",
    default=None,
    metavar="NOMBRE",
    callback=lambda _ctx, _param, actor: actor or default_actor(),
    help="Quién hace el cambio (registro de auditoría); por defecto cli:<usuario del sistema>.",
)


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


# --- directory (Anexo 2) ---------------------------------------------------------------

directory_group = Group("directory", help="Anexo 2: los órganos y los miembros de la Red.")


def _import(kind: plans.Kind, file: Path, dry_run: bool, yes: bool, actor: str) -> None:
    """Preview the file (every error with its line and column); with --dry-run stop there;
    an import that would deactivate more than half needs --yes; else apply and commit, then
    print what changed."""
    data = file.read_bytes()
    with transaction() as session:
        plan = plans.preview(session, kind, data, actor=actor)
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
        applied = plans.apply(session, kind, data, expected=plan.fingerprint, actor=actor)
    echo_lines(applied.summary)


def import_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option(
        "--yes", is_flag=True, help="Aplica aunque desactive más de la mitad de las filas."
    )(f)
    return click.option(
        "--dry-run", is_flag=True, help="Muestra lo que cambiaría, sin cambiar nada."
    )(f)


@directory_group.command("import")
@click.argument("file", type=FILE_IN, metavar="ARCHIVO")
@import_options
@actor_option
def directory_import(file: Path, dry_run: bool, yes: bool, actor: str) -> None:
    """Importa un archivo del Anexo 2: CSV (con , o ;) o XLSX, todo o nada."""
    _import("anexo2", file, dry_run, yes, actor)


@directory_group.command("export")
@click.argument("file", type=FILE_OUT, metavar="ARCHIVO")
def directory_export(file: Path) -> None:
    """Escribe los representantes en funciones como Anexo 2: CSV (UTF-8 con BOM) o, si el
    nombre termina en .xlsx, XLSX."""
    check_output(file, (".csv", ".xlsx"))
    with transaction() as session:
        rows = importer.export_rows(session)
        _write_export(session, "anexo2", file)
        click.echo(f"{len(rows)} representante(s) exportado(s) a {file}.")


def _write_export(session: Session, kind: plans.Kind, file: Path) -> None:
    if file.suffix.lower() == ".xlsx":
        file.write_bytes(plans.export_xlsx(session, kind))
    else:  # Excel opens a CSV with accents right only with the BOM
        file.write_text(plans.export_csv(session, kind), encoding=CSV_ENCODING)


@directory_group.command("designate")
@click.argument("sigla", metavar="SIGLA")
@click.option("--rol", type=click.Choice(ROLES), required=True)
@click.option("--memorando", required=True, help='p. ej. "Memorando N° 0112-2026-EF/50.01"')
@click.option("--memorando-fecha", type=DATE, required=True, help="Fecha del memorando.")
@click.option("--vigente-desde", type=DATE, required=True, help="Desde cuándo rige la designación.")
@click.option("--comunicado-el", type=DATE, required=True, help="Cuándo se comunicó.")
@actor_option
def directory_designate(
    sigla: str,
    rol: str,
    memorando: str,
    memorando_fecha: date,
    vigente_desde: date,
    comunicado_el: date,
    actor: str,
) -> None:
    """Registra el memorando que designó al titular o alterno en funciones de un órgano."""
    with transaction() as session:
        rep = designations.designate(
            session,
            sigla,
            rol,
            memorando=memorando,
            memorando_fecha=memorando_fecha,
            vigente_desde=vigente_desde,
            comunicado_el=comunicado_el,
            actor=actor,
        )
        click.echo(f"{rep.organo.sigla} {rol}: {rep.nombre_completo}, {rep.memorando}.")
        if designations.representative_is_late(rep):
            click.echo("Comunicada fuera de plazo (más de 5 días hábiles, §4.2.4 d).")


@directory_group.command("late")
def directory_late() -> None:
    """Designaciones comunicadas más de cinco días hábiles después de regir (§4.2.4 d)."""
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

centers_group = Group("centers", help="Anexo 3: los centros CONECTAMEF.")


@centers_group.command("import")
@click.argument("file", type=FILE_IN, metavar="ARCHIVO")
@import_options
@actor_option
def centers_import(file: Path, dry_run: bool, yes: bool, actor: str) -> None:
    """Importa un archivo del Anexo 3: CSV (con , o ;) o XLSX, todo o nada."""
    _import("anexo3", file, dry_run, yes, actor)


@centers_group.command("export")
@click.argument("file", type=FILE_OUT, metavar="ARCHIVO")
def centers_export(file: Path) -> None:
    """Escribe los centros activos como Anexo 3: CSV (UTF-8 con BOM) o, si el nombre termina
    en .xlsx, XLSX."""
    check_output(file, (".csv", ".xlsx"))
    with transaction() as session:
        _write_export(session, "anexo3", file)
        click.echo(f"{len(centers_mod.active_centers(session))} centro(s) exportado(s) a {file}.")


# --- agents ----------------------------------------------------------------------------

agents_group = Group("agents", help="Los agentes de la Plataforma.")


@agents_group.command("list")
@click.option("--all", "include_inactive", is_flag=True, help="Incluir los agentes inactivos.")
def agents_list(include_inactive: bool) -> None:
    """Los agentes, con su canal, destino e idiomas."""
    with transaction() as session:
        agents = registry.list_agents(session, include_inactive=include_inactive)
        if not agents:
            click.echo("No hay agentes registrados.")
        for agent in agents:
            state = "" if agent.activo else " [inactivo]"
            click.echo(
                f"{agent.id}\t{agent.nombre}\t{label(CHANNEL_LABELS, agent.canal)} {agent.destino}\t"
                f"idiomas: {', '.join(agent.language_codes) or '-'}{state}"
            )


@agents_group.command("add")
@click.argument("nombre", metavar="NOMBRE")
@click.option("--canal", type=click.Choice(AGENT_CHANNELS), required=True)
@click.option("--destino", required=True, help="Anexo, URI SIP o identidad de Twilio Client.")
@click.option(
    "--idioma",
    "languages",
    multiple=True,
    default=["es"],
    show_default=True,
    metavar="CÓDIGO",
    help="Idioma que habla (repetible).",
)
@click.option("--correo", default=None, metavar="CORREO")
@actor_option
def agents_add(
    nombre: str,
    canal: str,
    destino: str,
    languages: tuple[str, ...],
    correo: str | None,
    actor: str,
) -> None:
    """Agrega un agente; rechaza uno igual (mismo nombre, canal y destino) ya registrado."""
    with transaction() as session:
        agent = registry.add_agent(
            session,
            nombre=nombre,
            canal=canal,
            destino=destino,
            languages=list(languages),
            correo=correo,
            actor=actor,
        )
        click.echo(f"Agente {agent.id} agregado: {registry.describe_agent(agent)}.")


@agents_group.command("languages")
@click.argument("agent_id", type=int, metavar="AGENTE")
@click.argument("codes", nargs=-1, required=True, metavar="CÓDIGOS...")
@actor_option
def agents_languages(agent_id: int, codes: tuple[str, ...], actor: str) -> None:
    """Fija los idiomas que habla un agente: `agents languages 3 es qu`."""
    with transaction() as session:
        agent = registry.set_agent_languages(session, agent_id, list(codes), actor=actor)
        click.echo(f"{agent.nombre}: {', '.join(agent.language_codes)}.")


@agents_group.command("activate")
@click.argument("agent_id", type=int, metavar="AGENTE")
@actor_option
def agents_activate(agent_id: int, actor: str) -> None:
    """Vuelve a activar un agente desactivado."""
    set_agent_active(agent_id, True, actor)


@agents_group.command("deactivate")
@click.argument("agent_id", type=int, metavar="AGENTE")
@actor_option
def agents_deactivate(agent_id: int, actor: str) -> None:
    """Desactiva un agente (deja de recibir llamadas; no se borra)."""
    set_agent_active(agent_id, False, actor)


def set_agent_active(agent_id: int, activo: bool, actor: str) -> None:
    with transaction() as session:
        agent = registry.set_agent_active(session, agent_id, activo, actor=actor)
        click.echo(f"Agente {agent.id} ({agent.nombre}) {'activado' if activo else 'desactivado'}.")


# --- languages and the §5.4 registry ---------------------------------------------------

languages_group = Group("languages", help="Los idiomas y el registro de servidores (§5.4).")


@languages_group.command("list")
def languages_list() -> None:
    """Los idiomas registrados y cuántos servidores hablan cada uno."""
    with transaction() as session:
        for language in registry.list_languages(session):
            menu = " (menú IVR)" if language.en_menu else ""
            count = len(registry.list_speakers(session, language.code))
            click.echo(f"{language.code}\t{language.nombre}{menu}\t{count} servidor(es)")


@languages_group.command("add")
@click.argument("code", metavar="CÓDIGO")
@click.argument("nombre", metavar="NOMBRE")
@actor_option
def languages_add(code: str, nombre: str, actor: str) -> None:
    """Registra otra lengua originaria: `languages add quz "Quechua del Cusco"`."""
    with transaction() as session:
        language = registry.add_language(session, code, nombre, actor=actor)
        click.echo(f"Idioma agregado: {language.code} {language.nombre}.")


speakers_group = Group("speakers", help="Servidores que hablan lenguas originarias (§5.4).")
languages_group.add_command(speakers_group)


@speakers_group.command("list")
@click.option("--idioma", default=None, metavar="CÓDIGO", help="Solo los de este idioma.")
def speakers_list(idioma: str | None) -> None:
    """Los servidores del registro, con su unidad y cómo ubicarlos."""
    with transaction() as session:
        if idioma is not None:
            known = [language.code for language in registry.list_languages(session)]
            if idioma.strip().lower() not in known:
                raise click.ClickException(
                    f"El idioma «{idioma}» no está registrado; registrados: {', '.join(known)}."
                )
        speakers = registry.list_speakers(session, idioma)
        if not speakers:
            click.echo("No hay servidores registrados.")
        for s in speakers:
            click.echo(
                f"{s.id}\t{s.language_code}\t{s.nombre_completo}\t{s.unidad or '-'}\t{registry.reach(s)}"
            )


@speakers_group.command("add")
@click.option(
    "--idioma", required=True, metavar="CÓDIGO", help="Código del idioma: qu, ay, cni, agr, shp..."
)
@click.option("--nombre", required=True, metavar="NOMBRE", help="Nombre completo.")
@click.option("--unidad", default=None, metavar="UNIDAD", help="Unidad orgánica.")
@click.option("--anexo", default=None, metavar="ANEXO")
@click.option("--telefono", default=None, metavar="TELÉFONO")
@click.option("--correo", default=None, metavar="CORREO")
@actor_option
def speakers_add(
    idioma: str,
    nombre: str,
    unidad: str | None,
    anexo: str | None,
    telefono: str | None,
    correo: str | None,
    actor: str,
) -> None:
    """Agrega un servidor al registro; rechaza uno igual (mismo nombre, idioma, anexo y
    teléfono) ya registrado."""
    with transaction() as session:
        speaker = registry.add_speaker(
            session,
            nombre_completo=nombre,
            language_code=idioma,
            unidad=unidad,
            anexo=anexo,
            telefono=telefono,
            correo=correo,
            actor=actor,
        )
        click.echo(f"Registrado {speaker.id}: {speaker.nombre_completo} ({speaker.language_code}).")


@speakers_group.command("edit")
@click.argument("speaker_id", type=int, metavar="SERVIDOR")
@click.option("--idioma", default=None, metavar="CÓDIGO")
@click.option("--nombre", default=None, metavar="NOMBRE")
@click.option("--unidad", default=None, metavar="UNIDAD", help='"" lo borra.')
@click.option("--anexo", default=None, metavar="ANEXO", help='"" lo borra.')
@click.option("--telefono", default=None, metavar="TELÉFONO", help='"" lo borra.')
@click.option("--correo", default=None, metavar="CORREO", help='"" lo borra.')
@actor_option
def speakers_edit(
    speaker_id: int,
    idioma: str | None,
    nombre: str | None,
    unidad: str | None,
    anexo: str | None,
    telefono: str | None,
    correo: str | None,
    actor: str,
) -> None:
    """Cambia un servidor del registro: `languages speakers edit 3 --anexo 5121`."""
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
            actor=actor,
        )
        click.echo(
            f"Actualizado {speaker.id}: {speaker.nombre_completo} ({speaker.language_code})."
        )


@speakers_group.command("remove")
@click.argument("speaker_id", type=int, metavar="SERVIDOR")
@actor_option
def speakers_remove(speaker_id: int, actor: str) -> None:
    """Retira a un servidor del registro (la fila queda, inactiva)."""
    with transaction() as session:
        speaker = registry.remove_speaker(session, speaker_id, actor=actor)
        click.echo(f"Retirado del registro: {speaker.nombre_completo} ({speaker.language_code}).")


def init_app(app: Flask) -> None:
    for group in (directory_group, centers_group, agents_group, languages_group):
        app.cli.add_command(group)
