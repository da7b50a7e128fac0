"""Callback requests: one list for the agents, whatever the source (closed hours, the queue, a
failed route, a wait limit), due the day the caller gives (``ivr.hours.callback_due_date``:
today while the line is open or still opens today, else the next day it opens; §5.6.1). Every
attempt and its outcome is recorded; a request not done by the end of its due day is flagged
``vencida``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from clock import to_lima, utcnow
from register.models import CALLBACK_SOURCES, CallbackAttempt, CallbackRequest

OPEN_STATUSES = ("pendiente", "en_curso", "no_contesta")
OUTCOMES = ("realizada", "no_contesta", "cancelada")


class CallbackError(Exception):
    """The request cannot be taken or closed (message in Spanish for the agent)."""


def request_callback(
    session: Session,
    *,
    call_sid: str,
    source: str,
    telefono: str,
    due: date,
    language: str = "es",
    detalle: str | None = None,
    now: datetime | None = None,
) -> tuple[CallbackRequest, bool]:
    """Record a callback request (idempotent per call and source). Returns (request, created)."""
    if source not in CALLBACK_SOURCES:
        raise ValueError(f"unknown callback source {source!r}")
    same = select(CallbackRequest).where(
        CallbackRequest.call_sid == call_sid, CallbackRequest.source == source
    )
    existing = session.scalars(same).first()
    if existing is not None:
        return existing, False
    moment = now or utcnow()
    request = CallbackRequest(
        call_sid=call_sid,
        source=source,
        telefono=telefono,
        language_code=language,
        detalle=detalle,
        created_at=moment,
        due_date=due,
        status="pendiente",
        vencida=False,
    )
    session.add(request)
    try:
        session.commit()
    except IntegrityError:  # a concurrent retry won the race
        session.rollback()
        return session.scalars(same).one(), False
    return request, True


def open_requests(session: Session, *, today: date | None = None) -> list[CallbackRequest]:
    """The list agents work: open requests due today or before (overdue first), then later."""
    query = (
        select(CallbackRequest)
        .where(CallbackRequest.status.in_(OPEN_STATUSES))
        .order_by(CallbackRequest.due_date, CallbackRequest.created_at, CallbackRequest.id)
        .execution_options(populate_existing=True)
    )
    if today is not None:
        query = query.where(CallbackRequest.due_date <= today)
    return list(session.scalars(query))


def take(session: Session, callback_id: int, agent: str) -> CallbackRequest:
    """An agent takes a request (only one agent at a time)."""
    result = session.execute(
        update(CallbackRequest)
        .where(
            CallbackRequest.id == callback_id,
            or_(
                CallbackRequest.status.in_(("pendiente", "no_contesta")),
                (CallbackRequest.status == "en_curso") & (CallbackRequest.taken_by == agent),
            ),
        )
        .values(status="en_curso", taken_by=agent)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    request = session.get(CallbackRequest, callback_id)
    if request is None:
        raise CallbackError(f"No existe la solicitud {callback_id}.")
    session.refresh(request)
    if getattr(result, "rowcount", 0) == 0:
        raise CallbackError(
            f"La solicitud {callback_id} está {request.status.replace('_', ' ')}"
            + (f" ({request.taken_by})." if request.taken_by else ".")
        )
    return request


def record_attempt(
    session: Session,
    callback_id: int,
    *,
    agent: str,
    outcome: str,
    note: str | None = None,
    now: datetime | None = None,
) -> CallbackRequest:
    """Record an attempt and its outcome: realizada closes it, no_contesta leaves it open for
    another try, cancelada closes it without contact."""
    if outcome not in OUTCOMES:
        raise CallbackError(f"Resultado no válido: {outcome}. Use {', '.join(OUTCOMES)}.")
    request = session.get(CallbackRequest, callback_id)
    if request is None:
        raise CallbackError(f"No existe la solicitud {callback_id}.")
    if request.status in ("realizada", "cancelada"):
        raise CallbackError(f"La solicitud {callback_id} ya está {request.status}.")
    if request.status == "en_curso" and request.taken_by not in (None, agent):
        raise CallbackError(f"La solicitud {callback_id} la tiene {request.taken_by}.")
    moment = now or utcnow()
    request.attempts.append(CallbackAttempt(at=moment, agent=agent, outcome=outcome, note=note))
    request.status = outcome
    request.taken_by = agent
    if outcome in ("realizada", "cancelada"):
        request.done_at = moment
    session.commit()
    return request


def flag_overdue(session: Session, *, today: date) -> int:
    """Flag (vencida) every open request whose due day is over. Returns how many were flagged."""
    result = session.execute(
        update(CallbackRequest)
        .where(
            CallbackRequest.status.in_(OPEN_STATUSES),
            CallbackRequest.due_date < today,
            CallbackRequest.vencida.is_(False),
        )
        .values(vencida=True)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return int(getattr(result, "rowcount", 0) or 0)


@dataclass(frozen=True)
class CallbackView:
    id: int
    source: str
    telefono: str
    language: str
    detalle: str | None
    created_at: str
    due_date: str
    status: str
    taken_by: str | None
    vencida: bool
    attempts: int

    @classmethod
    def of(cls, request: CallbackRequest) -> CallbackView:
        return cls(
            id=request.id,
            source=request.source,
            telefono=request.telefono,
            language=request.language_code,
            detalle=request.detalle,
            created_at=to_lima(request.created_at).isoformat(timespec="minutes"),
            due_date=request.due_date.isoformat(),
            status=request.status,
            taken_by=request.taken_by,
            vencida=bool(request.vencida),
            attempts=len(request.attempts),
        )
