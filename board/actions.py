"""What a supervisor may do from the board, each written to the audit log (who, what, when;
entity ``supervision``, shown on /admin/auditoria):

- set an agent available, paused or offline; an agent left ringing (a browser closed, a phone
  that never rang) is freed: their caller goes back to their place in line first;
- take a waiting caller out of the line into a callback (the request is recorded now; the
  caller hears it said and the call ends: routing.jobs.callback_caller);
- move a waiting caller ahead of everyone waiting;
- listen to a caller's recorded summary (the page's player; logged when it starts).

The functions take the session, the routing Context (Redis, settings, jobs, the journal) and
the actor; the caller (a view) commits, then hands the journal over.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rq import Retry
from sqlalchemy import select
from sqlalchemy.orm import Session

from directory import audit
from directory.models import Agent
from ivr import state as call_state
from ivr.hours import callback_due_date, load_hours
from register import callbacks
from register.models import RegisterCall
from register.red_calls import summary_url_of
from routing import agents
from routing import queue as line
from routing.context import Context
from routing.queue import CallerStatus

ENTITY = "supervision"
AGENT_TARGETS = {"available": "Disponible", "paused": "En pausa", "offline": "Desconectado"}


class ActionRefused(Exception):
    """The action cannot be done now; the message (Spanish) says why."""


def _audit(
    session: Session,
    actor: str,
    entity_id: object,
    action: str,
    note: str,
    **change: dict[str, Any],
) -> None:
    """The audit entry of a supervisor's action (``change``: its ``before`` and ``after``)."""
    audit.record(
        session, actor=actor, entity=ENTITY, entity_id=entity_id, action=action, note=note, **change
    )


def set_agent_state(
    session: Session, ctx: Context, agent_id: int, target: str, *, actor: str, now_ms: int
) -> dict[str, Any]:
    """Set an agent available, paused or offline; a ringing agent is freed first (their
    caller keeps their place in line). An agent on a call is refused."""
    if target not in AGENT_TARGETS:
        raise ActionRefused("Estado no válido: elija disponible, en pausa o desconectado.")
    agent = session.get(Agent, agent_id)
    if agent is None:
        raise ActionRefused("El agente no existe.")
    before = agents.presence(ctx.r, agent_id)
    freed = None
    ringing = before.state == "ringing" and before.call_sid
    if ringing and line.requeue(ctx.r, before.call_sid or "", now=now_ms) == "requeued":
        freed = before.call_sid
    try:
        state = agents.set_state_from_directory(
            session, ctx.r, agent_id, target, now=now_ms, settings=ctx.settings
        )
    except agents.StateRefused as exc:
        if exc.current == "inactive":
            raise ActionRefused(f"{agent.nombre} está inactivo en el directorio.") from exc
        raise ActionRefused(
            f"{agent.nombre} está en una llamada: su estado cambia cuando termine."
        ) from exc
    note = f"{agent.nombre}: {AGENT_TARGETS[target].lower()}"
    if freed:
        note += f" (estaba timbrando; la llamada {freed} volvió a su puesto en la cola)"
    _audit(
        session,
        actor,
        agent_id,
        "estado_agente",
        note,
        before={"estado": before.state, "llamada": before.call_sid},
        after={"estado": state, "llamada_devuelta": freed},
    )
    return {"estado": state, "llamada_devuelta": freed, "mensaje": note}


def take_to_callback(
    session: Session, ctx: Context, call_sid: str, *, actor: str, now: datetime, now_ms: int
) -> dict[str, Any]:
    """Out of the line into a callback request (source ``cola``), the caller told so."""
    previous, wait_ms = line.leave(ctx.r, call_sid, now=now_ms, new_state=CallerStatus.CALLBACK)
    if previous not in (CallerStatus.WAITING, CallerStatus.OFFERED):
        raise ActionRefused("La llamada ya no está en espera.")
    state = call_state.load(ctx.r, call_sid)
    telefono = state.from_number if state and state.from_number else "desconocido"
    hours = load_hours(session, ctx.service_hours, ctx.close_on_holidays)
    request, created = callbacks.request_callback(
        session,
        call_sid=call_sid,
        source="cola",
        telefono=telefono,
        due=callback_due_date(now, hours),
        now=now,
        language=state.language if state else "es",
        detalle=state.detalle if state else None,
    )
    wait = round(wait_ms / 1000)
    ctx.journal.record(call_sid, "queue_left", "callback", wait_seconds=wait, by=actor)
    if created:
        ctx.journal.record(call_sid, "callback_requested", source="cola", telefono=telefono)
    ctx.jobs.enqueue(
        "routing.jobs.callback_caller",
        call_sid,
        job_timeout=30,
        retry=Retry(max=3, interval=[1, 3, 10]),
        meta={"call_sid": call_sid},
    )
    note = f"Llamada {call_sid} pasada a devolución tras {wait} s de espera"
    _audit(
        session,
        actor,
        call_sid,
        "devolucion",
        note,
        before={"estado": previous.value, "espera_seg": wait},
        after={"estado": "devolucion", "devolucion_id": request.id},
    )
    return {"devolucion_id": request.id, "mensaje": note}


def move_up(session: Session, ctx: Context, call_sid: str, *, actor: str) -> dict[str, Any]:
    """The caller goes ahead of everyone waiting."""
    before = line.position(ctx.r, call_sid)
    if before is None or not line.promote(ctx.r, call_sid):
        raise ActionRefused("La llamada ya no está en espera.")
    note = f"Llamada {call_sid} adelantada del puesto {before} al primero"
    after = {"puesto": line.position(ctx.r, call_sid)}
    _audit(session, actor, call_sid, "adelantar", note, before={"puesto": before}, after=after)
    return {"mensaje": note}


def summary_url(session: Session, ctx: Context, call_sid: str) -> str | None:
    """The caller's recorded summary: from the live call's state, else its register row."""
    state = call_state.load(ctx.r, call_sid)
    if state is not None and state.summary_url:
        return state.summary_url
    journey = session.scalar(select(RegisterCall.journey).where(RegisterCall.call_sid == call_sid))
    return summary_url_of(journey or {})


def listened(session: Session, call_sid: str, *, actor: str) -> None:
    _audit(session, actor, call_sid, "escuchar", f"Resumen de la llamada {call_sid} escuchado")
