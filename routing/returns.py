"""The agent's returns (§5.6.1): today's callback requests and the voice messages due, one list
oldest due first; an agent takes one (claimed: two agents never take the same), dials it from
the console (webhooks/outbound.py, the TwiML App's Voice URL) and records the outcome.

An item's reference is ``c<id>`` for a callback request (register.callbacks; claimed by its
``en_curso`` state) and ``m<id>`` for a voice message (claimed in Redis for CLAIM_SECONDS; it
is ``atendido`` once returned). The console sends the reference as the ``Devolucion``
parameter of its outbound call: the number dialed is the item's, never the page's.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

import redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from clock import to_lima
from register import callbacks, messages
from register.models import CallbackRequest, VoiceMessage
from routing.context import Refused
from routing.scripts import PREFIX, text

CLAIM_SECONDS = 2 * 3600
MESSAGE_OPEN = ("pendiente", "escuchado")


@dataclass(frozen=True)
class Item:
    id: str  # c<id> or m<id>
    tipo: str  # devolucion or mensaje
    call_sid: str  # the call it returns
    telefono: str
    idioma: str
    detalle: str | None
    recibido: str  # when it was left (Lima, minutes)
    vence: str  # the due day
    vencida: bool
    estado: str
    tomada_por: str | None
    grabacion: str | None  # a voice message's recording URL

    def as_data(self) -> dict[str, Any]:
        return asdict(self)


def _claim_key(message_id: int) -> str:
    return f"{PREFIX}return:m{message_id}"


def _callback_item(request: CallbackRequest, today: date) -> Item:
    return Item(
        id=f"c{request.id}",
        tipo="devolucion",
        call_sid=request.call_sid,
        telefono=request.telefono,
        idioma=request.language_code,
        detalle=request.detalle,
        recibido=to_lima(request.created_at).isoformat(timespec="minutes"),
        vence=request.due_date.isoformat(),
        vencida=bool(request.vencida) or request.due_date < today,
        estado=request.status,
        tomada_por=request.taken_by,
        grabacion=None,
    )


def _message_item(r: redis.Redis, message: VoiceMessage, today: date) -> Item:
    holder = r.get(_claim_key(message.id))
    return Item(
        id=f"m{message.id}",
        tipo="mensaje",
        call_sid=message.call_sid,
        telefono=message.telefono,
        idioma="es",
        detalle=None,
        recibido=to_lima(message.created_at).isoformat(timespec="minutes"),
        vence=message.due_date.isoformat(),
        vencida=message.due_date < today,
        estado="en_curso" if holder else message.status,
        tomada_por=text(holder) if holder else message.handled_by,
        grabacion=message.recording_url,
    )


def due_today(session: Session, r: redis.Redis, *, today: date) -> list[Item]:
    """Open callback requests and voice messages due today or before, oldest due first."""
    items = [_callback_item(c, today) for c in callbacks.open_requests(session, today=today)]
    messages = session.scalars(
        select(VoiceMessage).where(
            VoiceMessage.status.in_(MESSAGE_OPEN), VoiceMessage.due_date <= today
        )
    )
    items += [_message_item(r, m, today) for m in messages]
    return sorted(items, key=lambda item: (item.vence, item.recibido, item.id))


def _parse(ref: str) -> tuple[str, int]:
    kind, number = ref[:1], ref[1:]
    if kind not in ("c", "m") or not number.isdigit():
        raise Refused(404, f"No existe la devolución «{ref}».")
    return kind, int(number)


def take(session: Session, r: redis.Redis, ref: str, agent: str, *, today: date) -> Item:
    """Claim an item for ``agent`` (taking it again is fine; another agent's: 409)."""
    kind, number = _parse(ref)
    if kind == "c":
        try:
            return _callback_item(callbacks.take(session, number, agent), today)
        except callbacks.CallbackError as exc:
            status = 404 if "No existe" in str(exc) else 409
            raise Refused(status, str(exc)) from exc
    message = session.get(VoiceMessage, number)
    if message is None:
        raise Refused(404, f"No existe el mensaje de voz {number}.")
    if message.status not in MESSAGE_OPEN:
        raise Refused(409, f"El mensaje de voz {number} ya fue atendido.")
    key = _claim_key(number)
    if not r.set(key, agent, nx=True, ex=CLAIM_SECONDS):
        holder = text(r.get(key) or b"")
        if holder != agent:
            raise Refused(409, f"El mensaje de voz {number} lo tiene {holder}.")
    return _message_item(r, message, today)


def held(session: Session, r: redis.Redis, ref: str, agent: str, *, today: date) -> Item | None:
    """The item, when ``agent`` holds it (what an outbound call may dial)."""
    try:
        kind, number = _parse(ref)
    except Refused:
        return None
    if kind == "c":
        request = session.get(CallbackRequest, number)
        if request is None or request.status != "en_curso" or request.taken_by != agent:
            return None
        return _callback_item(request, today)
    message = session.get(VoiceMessage, number)
    if message is None or text(r.get(_claim_key(number)) or b"") != agent:
        return None
    return _message_item(r, message, today)


def record_outcome(
    session: Session,
    r: redis.Redis,
    ref: str,
    agent: str,
    outcome: str,
    *,
    today: date,
    note: str | None = None,
) -> Item:
    """The outcome of a return: realizada and cancelada close it, no_contesta leaves it on
    the list for another try (and frees it)."""
    if outcome not in callbacks.OUTCOMES:  # realizada, no_contesta, cancelada
        raise Refused(400, f"Resultado no válido: use {', '.join(callbacks.OUTCOMES)}.")
    kind, number = _parse(ref)
    if kind == "c":
        try:
            request = callbacks.record_attempt(
                session, number, agent=agent, outcome=outcome, note=note
            )
        except callbacks.CallbackError as exc:
            status = 404 if "No existe" in str(exc) else 409
            raise Refused(status, str(exc)) from exc
        return _callback_item(request, today)
    if held(session, r, ref, agent, today=today) is None:
        raise Refused(409, f"Tome primero el mensaje de voz {number}.")
    state = "escuchado" if outcome == "no_contesta" else "atendido"
    message = messages.set_status(session, number, state, actor=agent)
    session.commit()
    r.delete(_claim_key(number))
    return _message_item(r, message, today)
