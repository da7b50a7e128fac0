"""Command line for agents and operators: `flask --app app routing ...` and
`flask --app app callbacks list|take|done`."""

from __future__ import annotations

import logging
import time

import click
import redis
from flask import current_app
from sqlalchemy.exc import SQLAlchemyError

from cli_support import (
    AGENT_STATES,
    CALLBACK_SOURCES,
    CALLBACK_STATUSES,
    CALLER_CLASSES,
    Group,
    label,
    plural,
)
from clock import lima_now
from extensions import db, ensure_embedded_redis
from ivr.briefing import LANGUAGE_NAMES
from register import callbacks
from routing import agents, authorities, flows
from routing import queue as line
from routing.api import agent_token
from routing.context import from_app
from routing.dispatch import try_dispatch
from routing.jobs import schedule_sweep, sweep

log = logging.getLogger(__name__)

routing_cli = Group("routing", help="La fila de la Plataforma: barrido, agentes, tokens.")
callbacks_cli = Group("callbacks", help="Devoluciones de llamada pendientes.")


def sweep_round(*, quiet: bool) -> bool:
    """One sweep; a Redis or database failure is logged, not raised, so a repeating sweep
    (the Procfile's `sweep:` process, which honcho would otherwise take down with the whole
    stack) carries on at the next round. Returns whether the round ran."""
    try:
        report = sweep(from_app(), now=line.now_ms())
    except (redis.RedisError, SQLAlchemyError) as exc:
        log.exception("sweep failed; trying again at the next round")
        if isinstance(exc, redis.RedisError) and current_app.config.get("REDIS_EMBEDDED"):
            # `make run`'s own Redis died: start it again (a no-op if another process did).
            try:
                ensure_embedded_redis(current_app.config["INSTANCE_DIR"])
                log.warning("the embedded Redis answers again")
            except (RuntimeError, OSError):
                log.exception("the embedded Redis could not be started again")
        return False
    finally:
        db.session.remove()
    if not quiet or report.timeouts or report.unstuck or report.matches or report.flagged:
        click.echo(
            f"Barrido: {len(report.timeouts)} con límite de espera, "
            f"{plural(len(report.unstuck), 'oferta liberada', 'ofertas liberadas')}, "
            f"{plural(len(report.matches), 'asignada', 'asignadas')}, "
            f"{plural(report.flagged, 'devolución vencida', 'devoluciones vencidas')}."
        )
    return True


@routing_cli.command("sweep")
@click.option(
    "--every",
    type=float,
    default=0,
    metavar="SEGUNDOS",
    help="Repetir cada N segundos (0: una vez).",
)
def sweep_command(every: float) -> None:
    """Límites de espera, ofertas trabadas, asignación y devoluciones vencidas."""
    if every <= 0:
        if not sweep_round(quiet=False):
            raise click.ClickException("El barrido falló; vea el registro (Redis o base de datos).")
        return
    while True:  # repeating: print only rounds that did something
        sweep_round(quiet=True)
        time.sleep(every)


@routing_cli.command("schedule-sweep")
@click.option(
    "--every", type=int, default=5, show_default=True, metavar="SEGUNDOS", help="Entre barridos."
)
def schedule_sweep_command(every: int) -> None:
    """Programa el barrido como tarea rq periódica (requiere `python worker.py`); volver a
    programarlo no crea una segunda cadena."""
    schedule_sweep(from_app(), every)
    click.echo(f"Barrido programado cada {every} s.")


@routing_cli.command("agent-state")
@click.argument("agent_id", type=int, metavar="AGENTE")
@click.argument("state", type=click.Choice(agents.SETTABLE_STATES), metavar="ESTADO")
def agent_state_command(agent_id: int, state: str) -> None:
    """Cambia el estado de un agente: available (disponible), paused (en pausa), wrap_up
    (cerrando la atención) u offline (desconectado)."""
    ctx = from_app()
    now = line.now_ms()
    try:
        new = agents.set_state_from_directory(
            db.session(), ctx.r, agent_id, state, now=now, settings=ctx.settings
        )
    except LookupError as exc:
        raise click.ClickException(f"No existe el agente {agent_id}.") from exc
    except agents.StateRefused as exc:
        raise click.ClickException(
            f"El agente {agent_id} está {label(AGENT_STATES, exc.current)}: "
            "su estado no se puede cambiar ahora."
        ) from exc
    if new in ("available", "wrap_up"):
        try_dispatch(ctx.r, ctx.jobs, now=now, settings=ctx.settings)
    click.echo(f"Agente {agent_id}: {label(AGENT_STATES, new)}.")


@routing_cli.command("transfer")
@click.argument("call_sid", metavar="CALL_SID")
@click.option("--anexo", default=None, metavar="ANEXO", help="Anexo (solo dígitos).")
@click.option("--organo", default=None, metavar="SIGLA", help="Sigla del órgano: su titular.")
def transfer_command(call_sid: str, anexo: str | None, organo: str | None) -> None:
    """Transferir por teléfono a la persona conectada con un agente (§5.5)."""
    target = flows.anexo_of(db.session(), anexo=anexo, organo=organo)
    if target is None:
        raise click.ClickException("Indique un anexo (solo dígitos) o un órgano con titular.")
    ctx = from_app()
    try:
        authorities.transfer(
            ctx, call_sid, agent_id=None, anexo=target, by="cli", now=line.now_ms()
        )
    except authorities.NotOnThisCall as exc:
        raise click.ClickException("Esa llamada no está conectada con un agente.") from exc
    ctx.hand_over()
    click.echo(f"{call_sid}: transferida al anexo {target}.")


@routing_cli.command("presencial")
@click.argument("call_sid", metavar="CALL_SID")
@click.option("--nombre", required=True, help="Nombre de la autoridad.")
@click.option("--entidad", required=True, help="Su gobierno regional o local.")
@click.option("--fecha", required=True, metavar="AAAA-MM-DD", help="Día acordado.")
@click.option("--hora", required=True, metavar="HH:MM", help="Hora acordada.")
@click.option("--organo", metavar="SIGLA", help="Órgano que la recibe (por omisión, el elegido).")
def presencial_command(
    call_sid: str, nombre: str, entidad: str, fecha: str, hora: str, organo: str | None
) -> None:
    """Atención presencial: la autoridad va al Módulo de Registro y Control de Visitas."""
    ctx = from_app()
    given = {"nombre": nombre, "entidad": entidad, "organo": organo, "fecha": fecha, "hora": hora}
    try:
        visit = authorities.visit_for_call(db.session(), ctx, call_sid, given, now=lima_now())
    except authorities.VisitInvalid as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        authorities.presencial(
            ctx, call_sid, agent_id=None, by="cli", visit=visit, now=line.now_ms()
        )
    except authorities.NotOnThisCall as exc:
        raise click.ClickException("Esa llamada no está conectada con un agente.") from exc
    ctx.hand_over()
    click.echo(f"{call_sid}: atención presencial; se avisa al Módulo de Visitas.")


@routing_cli.command("agent-token")
@click.argument("agent_id", type=int, metavar="AGENTE")
def agent_token_command(agent_id: int) -> None:
    """Muestra el token de la API de un agente (Authorization: Bearer <token>)."""
    click.echo(agent_token(current_app.config["SECRET_KEY"], agent_id))


@routing_cli.command("queue")
def queue_command() -> None:
    """Las personas en espera, en el orden en que serán atendidas."""
    waiting = line.waiting_snapshot(from_app().r)
    if not waiting:
        click.echo("No hay nadie esperando en la fila de la Plataforma.")
    for n, row in enumerate(waiting, start=1):
        click.echo(
            f"{n:3} {row['call_sid']} {label(CALLER_CLASSES, row['priority']):12} "
            f"{label(LANGUAGE_NAMES, row['language'])}"
        )


@callbacks_cli.command("list")
@click.option("--today-only", is_flag=True, help="Solo las que vencen hoy o antes.")
def callbacks_list(today_only: bool) -> None:
    """Devoluciones abiertas, primero las más antiguas (VENCIDA: pasó su día)."""
    rows = callbacks.open_requests(db.session(), today=lima_now().date() if today_only else None)
    if not rows:
        click.echo("No hay devoluciones pendientes.")
    for request in rows:
        view = callbacks.CallbackView.of(request)
        flag = " VENCIDA" if view.vencida else ""
        click.echo(
            f"{view.id:5} {view.due_date} {view.telefono:14} "
            f"{label(CALLBACK_SOURCES, view.source):17} {label(CALLBACK_STATUSES, view.status):11} "
            f"{view.taken_by or '-'}{flag}"
        )


@callbacks_cli.command("take")
@click.argument("callback_id", type=int, metavar="SOLICITUD")
@click.option("--agent", required=True, metavar="NOMBRE", help="Quién la toma.")
def callbacks_take(callback_id: int, agent: str) -> None:
    """Tomar una solicitud para devolver la llamada."""
    try:
        request = callbacks.take(db.session(), callback_id, agent)
    except callbacks.CallbackError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Solicitud {request.id}: llame al {request.telefono}.")


@callbacks_cli.command("done")
@click.argument("callback_id", type=int, metavar="SOLICITUD")
@click.option("--agent", required=True, metavar="NOMBRE", help="Quién llamó.")
@click.option(
    "--outcome",
    type=click.Choice(callbacks.OUTCOMES),
    default="realizada",
    show_default=True,
    help="Resultado del intento.",
)
@click.option("--note", default=None, metavar="TEXTO", help="Nota del intento.")
def callbacks_done(callback_id: int, agent: str, outcome: str, note: str | None) -> None:
    """Registrar un intento y su resultado."""
    try:
        request = callbacks.record_attempt(
            db.session(), callback_id, agent=agent, outcome=outcome, note=note
        )
    except callbacks.CallbackError as exc:
        raise click.ClickException(str(exc)) from exc
    attempts = plural(len(request.attempts), "intento", "intentos")
    click.echo(f"Solicitud {request.id}: {label(CALLBACK_STATUSES, request.status)} ({attempts}).")
