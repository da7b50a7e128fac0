"""Commands for staff accounts and the voice-message inbox. They work in every profile,
production included, so the first admin is made with one command:

    printf '%s\\n' "$CLAVE" | flask --app app users create ana --rol admin --nombre "Ana Quispe" --password-stdin
    flask --app app users list
    flask --app app users disable NAME | enable NAME
    flask --app app users set-password NAME [--password-stdin] [--temporal]
    flask --app app users set-role NAME ROL [--agente ID | --representante ID]
    flask --app app buzon list [--estado pendiente|escuchado|atendido] [--completo]
    flask --app app buzon set ID escuchado|atendido|pendiente

A password is never an argument (it would stay in the shell's history and in ``ps``): it is
asked twice on the terminal, or read from standard input with ``--password-stdin``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click
from flask import Flask, current_app
from sqlalchemy.orm import Session

from admin import accounts, inbox
from admin.demo import seed_demo_users
from admin.formatting import peru_phone, sentence
from admin.models import ROLE_NAMES, ROLES
from cli_support import Group, echo_lines
from clock import lima_now, to_lima
from directory import demo as directory_demo
from directory.audit import default_actor
from directory.rules import RuleError
from extensions import db
from register.anexo1 import mask_phone
from register.demo import seed_demo_calls

seed_group = Group("seed", help="Datos de demostración.")


@seed_group.command("demo")
@click.option("--if-empty", is_flag=True, help="Cargar solo si el directorio no tiene órganos.")
@click.option(
    "--with-calls/--without-calls",
    default=True,
    help="Llenar también el registro con dos meses de llamadas de demostración (reportes).",
)
@click.option("--actor", default=None, help="Quién hace el cambio (registro de auditoría).")
def seed_demo(if_empty: bool, with_calls: bool, actor: str | None) -> None:
    """Carga el directorio, centros, agentes, registro de lenguas, usuarios y llamadas de
    demostración (repetirlo no cambia nada)."""
    if current_app.config.get("ENV_NAME") == "production":
        # The demo users share a published password: never on a reachable server.
        click.echo(
            "Error: los datos de demostración no se cargan en producción (RED_ENV=production).",
            err=True,
        )
        raise SystemExit(1)
    who = actor or default_actor()
    with transaction() as session:
        lines = directory_demo.seed_demo(session, actor=who, if_empty=if_empty)
        if not lines[0].startswith("El directorio ya tiene"):
            lines.append(f"Usuarios de demostración agregados: {seed_demo_users(session, who)}.")
    echo_lines(lines)
    if with_calls:
        # Register rows for the reports to show: deterministic, so a second run adds nothing.
        count = seed_demo_calls(db.session())
        click.echo(f"Registro de llamadas (Anexo 1) de demostración: {count} llamadas.")


users_group = Group("users", help="Las cuentas del personal: quién entra a la web y con qué rol.")
buzon_group = Group("buzon", help="Los mensajes de voz dejados fuera del horario (§5.6.1).")


@contextmanager
def transaction() -> Iterator[Session]:
    session = db.session()
    try:
        yield session
        session.commit()
    except RuleError as exc:
        session.rollback()
        click.echo(f"Error: {sentence(exc)}", err=True)
        raise SystemExit(1) from exc
    except BaseException:
        session.rollback()
        raise


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            click.echo("Error: no llegó ninguna contraseña por la entrada estándar.", err=True)
            raise SystemExit(1)
        return password
    return str(
        click.prompt("Contraseña", hide_input=True, confirmation_prompt="Repita la contraseña")
    )


def _min_length() -> int:
    return int(current_app.config["PASSWORD_MIN_LENGTH"])


actor_option = click.option(
    "--actor",
    default=None,
    callback=lambda _ctx, _param, actor: actor or default_actor(),
    help="Quién hace el cambio (registro de auditoría); por defecto cli:<usuario>.",
)
stdin_option = click.option(
    "--password-stdin", is_flag=True, help="Lee la contraseña de la entrada estándar (una línea)."
)
agent_option = click.option(
    "--agente", "agent_id", type=int, default=None, help="Número del agente (rol agente)."
)
representative_option = click.option(
    "--representante",
    "representative_id",
    type=int,
    default=None,
    help="Número del representante (rol red).",
)


@users_group.command("create")
@click.argument("username", metavar="USUARIO")
@click.option("--rol", "role", type=click.Choice(ROLES), required=True)
@click.option("--nombre", default=None, help="Nombre completo (por defecto, el usuario).")
@agent_option
@representative_option
@click.option(
    "--temporal/--definitiva",
    default=True,
    help="El usuario cambia la contraseña al ingresar por primera vez (por defecto: --temporal).",
)
@stdin_option
@actor_option
def users_create(
    username: str,
    role: str,
    nombre: str | None,
    agent_id: int | None,
    representative_id: int | None,
    temporal: bool,
    password_stdin: bool,
    actor: str,
) -> None:
    """Crea un usuario; la contraseña se pregunta, o se lee con --password-stdin."""
    password = _read_password(password_stdin)
    with transaction() as session:
        user = accounts.create_user(
            session,
            username=username,
            nombre=nombre or username,
            role=role,
            password=password,
            agent_id=agent_id,
            representative_id=representative_id,
            temporary=temporal,
            min_length=_min_length(),
            actor=actor,
        )
        click.echo(f"Usuario {user.username} creado con el rol {role} ({ROLE_NAMES[role]}).")


@users_group.command("list")
def users_list() -> None:
    """Los usuarios, con su rol y su estado."""
    with transaction() as session:
        users = accounts.list_users(session)
        if not users:
            click.echo(
                "No hay usuarios. Cree el primero con: flask --app app users create NOMBRE --rol admin"
            )
        for user in users:
            click.echo(accounts.describe(user))


@users_group.command("disable")
@click.argument("username", metavar="USUARIO")
@actor_option
def users_disable(username: str, actor: str) -> None:
    """Desactiva un usuario; sus sesiones abiertas terminan de inmediato."""
    with transaction() as session:
        user = accounts.set_active(session, username, False, actor=actor)
        click.echo(f"Usuario {user.username} desactivado; sus sesiones abiertas se cerraron.")


@users_group.command("enable")
@click.argument("username", metavar="USUARIO")
@actor_option
def users_enable(username: str, actor: str) -> None:
    """Vuelve a activar un usuario."""
    with transaction() as session:
        user = accounts.set_active(session, username, True, actor=actor)
        click.echo(f"Usuario {user.username} activado.")


@users_group.command("set-password")
@click.argument("username", metavar="USUARIO")
@click.option(
    "--temporal/--definitiva",
    default=True,
    help="El usuario debe cambiarla al ingresar (por defecto: --temporal).",
)
@stdin_option
@actor_option
def users_set_password(username: str, temporal: bool, password_stdin: bool, actor: str) -> None:
    """Da una contraseña nueva a un usuario; sus sesiones terminan."""
    password = _read_password(password_stdin)
    with transaction() as session:
        user = accounts.set_password(
            session,
            username,
            password,
            temporary=temporal,
            min_length=_min_length(),
            actor=actor,
        )
        tail = " La cambiará al ingresar." if temporal else ""
        click.echo(f"Contraseña de {user.username} cambiada; sus sesiones se cerraron.{tail}")


@users_group.command("set-role")
@click.argument("username", metavar="USUARIO")
@click.argument("role", type=click.Choice(ROLES), metavar="ROL")
@agent_option
@representative_option
@actor_option
def users_set_role(
    username: str,
    role: str,
    agent_id: int | None,
    representative_id: int | None,
    actor: str,
) -> None:
    """Cambia el rol de un usuario; sus sesiones terminan."""
    with transaction() as session:
        user = accounts.set_role(
            session,
            username,
            role,
            agent_id=agent_id,
            representative_id=representative_id,
            actor=actor,
        )
        click.echo(f"{user.username}: rol {role} ({ROLE_NAMES[role]}); sus sesiones se cerraron.")


@buzon_group.command("list")
@click.option("--estado", type=click.Choice(inbox.STATES), default=None)
@click.option("--completo", is_flag=True, help="Muestra los números completos (Ley 29733).")
def buzon_list(estado: str | None, completo: bool) -> None:
    """Los mensajes de voz, el más reciente primero: número, fecha, llamante, día de atención,
    estado y quién lo cambió."""
    today = lima_now().date()
    with transaction() as session:
        items = inbox.list_messages(session, today=today, status=estado)
        if not items:
            click.echo("No hay mensajes de voz.")
        for item in items:
            m = item.message
            caller = peru_phone(m.telefono) if completo else (mask_phone(m.telefono) or "")
            flag = " VENCIDO" if item.overdue else ""
            who = f" ({m.handled_by})" if m.handled_by else ""
            seconds = f"{m.duration_seconds} s" if m.duration_seconds is not None else "-"
            click.echo(
                f"{m.id}\t{to_lima(m.created_at):%d/%m/%Y %H:%M}\t{caller}\t{seconds}\t"
                f"vence {m.due_date:%d/%m/%Y}\t{m.status}{who}{flag}"
            )


@buzon_group.command("set")
@click.argument("message_id", type=int, metavar="MENSAJE")
@click.argument("status", type=click.Choice(inbox.STATES), metavar="ESTADO")
@actor_option
def buzon_set(message_id: int, status: str, actor: str) -> None:
    """Cambia el estado de un mensaje (pendiente, escuchado, atendido)."""
    with transaction() as session:
        message = inbox.set_status(session, message_id, status, actor=actor)
        click.echo(f"Mensaje {message.id}: {message.status}.")


def init_app(app: Flask) -> None:
    app.cli.add_command(seed_group)
    app.cli.add_command(users_group)
    app.cli.add_command(buzon_group)
