"""The screen pop: what the agent's console shows about a caller being offered, before the
agent answers (the ``offer`` event on ``agent:<id>``, and /agente/api/estado).

It is built from the caller's state (ivr.state: the menu choices), their entry in the line
(class, arrival, the agent offered) and the register (this number's earlier calls and its
open callback requests). The number is masked unless the reader's role may see phones
(register.export.may_see_phones, Ley 29733). Published by routing.jobs.connect_caller (an rq
job), never from a webhook.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import redis
from sqlalchemy import select
from sqlalchemy.orm import Session

import livebus
from directory.models import Organo
from ivr import state as call_state
from ivr.briefing import Briefing
from register.anexo1 import mask_phone
from register.callbacks import OPEN_STATUSES
from register.export import may_see_phones
from register.models import CallbackRequest, RegisterCall
from routing import queue as line

CONSOLE_ROLE = "agente"  # who reads an agent's console
TIPO_USUARIO = {"ciudadano": "Ciudadano", "autoridad": "Autoridad"}
PRIORITY_NAMES = {"preferential": "preferencial", "authority": "autoridad", "normal": "normal"}


@dataclass(frozen=True)
class PopSettings:
    ring_timeout_seconds: int = 20
    history: int = 5  # earlier calls shown

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> PopSettings:
        return cls(ring_timeout_seconds=int(config.get("ROUTING_RING_TIMEOUT_SECONDS", 20)))


def menu_path(state: call_state.CallState) -> list[str]:
    """The caller's way through the menus, in the words agents read."""
    facts = Briefing.of(state)
    steps = [f"Idioma: {facts.language or 'español'}"]
    steps.append(TIPO_USUARIO.get(state.tipo_usuario, state.tipo_usuario))
    if facts.preferential:
        steps.append(f"Atención preferencial: {facts.preferential}")
    if facts.query:
        steps.append(facts.query[0].upper() + facts.query[1:])
    if state.organo_sigla:
        steps.append(f"Órgano: {state.organo_sigla}")
    if state.expediente:
        steps.append(f"Expediente {state.expediente}")
    return steps


def _phone(number: str | None, role: str | None) -> str | None:
    return number if may_see_phones(role) else mask_phone(number)


def earlier_calls(
    session: Session, number: str, *, exclude: str, limit: int
) -> list[dict[str, Any]]:
    if not number:
        return []
    rows = session.scalars(
        select(RegisterCall)
        .where(RegisterCall.telefono == number, RegisterCall.call_sid != exclude)
        .order_by(RegisterCall.started_at.desc())
        .limit(limit)
    )
    return [
        {
            "fecha": row.fecha.isoformat(),
            "hora": row.hora_inicio.strftime("%H:%M"),
            "tipo_consulta": row.tipo_consulta,
            "detalle": row.detalle,
            "resultado": row.resultado,
            "atendido_por": row.atendido_por,
            "derivacion": row.derivacion,
        }
        for row in rows
    ]


def open_callbacks(session: Session, number: str) -> list[dict[str, Any]]:
    if not number:
        return []
    rows = session.scalars(
        select(CallbackRequest)
        .where(CallbackRequest.telefono == number, CallbackRequest.status.in_(OPEN_STATUSES))
        .order_by(CallbackRequest.due_date, CallbackRequest.id)
    )
    return [
        {
            "id": row.id,
            "origen": row.source,
            "vence": row.due_date.isoformat(),
            "estado": row.status,
            "vencida": row.vencida,
            "detalle": row.detalle,
        }
        for row in rows
    ]


def offer_for(
    session: Session,
    r: redis.Redis,
    settings: PopSettings,
    call_sid: str,
    *,
    role: str | None = CONSOLE_ROLE,
) -> dict[str, Any] | None:
    """The screen pop of a caller in the line (None when the line does not know them)."""
    caller = line.caller(r, call_sid)
    if caller is None:
        return None
    state = call_state.load(r, call_sid) or call_state.CallState(call_sid=call_sid)
    facts = Briefing.of(state)
    organo = None
    if state.organo_sigla:
        found = session.scalar(select(Organo).where(Organo.sigla == state.organo_sigla))
        organo = {"sigla": state.organo_sigla, "nombre": found.nombre if found else None}
    return {
        "call_sid": call_sid,
        "agent_id": caller.agent_id,
        "telefono": _phone(state.from_number or None, role),
        "region": state.region,
        "idioma": facts.language or "español",
        "idioma_codigo": state.language,
        "interprete": caller.interpreter,
        "tipo_usuario": TIPO_USUARIO.get(state.tipo_usuario, state.tipo_usuario),
        "autoridad": facts.authority,
        "preferencial": facts.preferential,
        "prioridad": PRIORITY_NAMES.get(caller.priority, caller.priority),
        "consulta": facts.query,
        "ruta_menu": menu_path(state),
        "expediente": state.expediente,
        "organo": organo,
        "llegada_ms": caller.arrival_ms,
        "espera_seg": max(0, round((line.now_ms() - caller.arrival_ms) / 1000)),
        "tiene_resumen": bool(state.summary_url),
        "timbre_seg": settings.ring_timeout_seconds,
        "llamadas_previas": earlier_calls(
            session, state.from_number, exclude=call_sid, limit=settings.history
        ),
        "devoluciones_pendientes": open_callbacks(session, state.from_number),
    }


def publish_offer(
    session: Session, r: redis.Redis, settings: PopSettings, call_sid: str
) -> dict[str, Any] | None:
    """Show the caller on the console of the agent they are offered to."""
    offer = offer_for(session, r, settings, call_sid)
    if offer is None or offer["agent_id"] is None:
        return None
    livebus.publish(r, f"agent:{offer['agent_id']}", "offer", offer)
    return offer


def summary_url(r: redis.Redis, call_sid: str) -> str | None:
    """The caller's recorded summary (Twilio's URL), for the console's proxy."""
    state = call_state.load(r, call_sid)
    return state.summary_url if state else None
