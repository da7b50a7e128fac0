"""A Red member's calls (/red): the technical calls the flow dialed them for, answered or
missed, and the note they write on a call they took (kept in the call's register row, shown in
the export's ``detalle``: register/export.py).

A call was routed to a representative when its journey has a ``dial`` of their role, for their
órgano, with their name (the dial event records who was dialed: a representative who retired
keeps their calls; the one who followed starts with none). They answered it when their leg's
``dial_result`` was ``accepted``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from clock import utcnow
from directory import audit
from directory.models import Representative
from directory.rules import RuleError
from register.models import RegisterCall

NOTE_MAX = 500
OUTCOME_ES = {
    "accepted": "atendida",
    "not-accepted": "no aceptada",
    "no-answer": "no contestó",
    "busy": "ocupado",
    "failed": "no se pudo llamar",
    "canceled": "colgó antes",
}


@dataclass(frozen=True)
class RedCall:
    """One call routed to the representative, as their page shows it."""

    call: RegisterCall
    outcome: str  # accepted, no-answer, busy, failed, not-accepted, or "" (no result yet)
    summary_url: str | None

    @property
    def answered(self) -> bool:
        return self.outcome == "accepted"

    @property
    def outcome_es(self) -> str:
        return OUTCOME_ES.get(self.outcome, "en curso" if not self.outcome else self.outcome)


def _same_name(a: str | None, b: str | None) -> bool:
    return " ".join((a or "").split()).casefold() == " ".join((b or "").split()).casefold()


def outcome_for(journey: Mapping[str, Any], rol: str, nombre: str) -> str | None:
    """The outcome of the dial of ``rol`` to ``nombre`` in a journey, "" when they were dialed
    and no result came yet, None when they were not dialed."""
    dialed = False
    outcome = ""
    for dial in journey.get("dials") or ():
        if dial.get("rol") != rol:
            continue
        if "anexo" in dial or "nombre" in dial:  # the dial itself
            dialed = _same_name(dial.get("nombre"), nombre)
        elif dialed and dial.get("outcome"):
            outcome = str(dial["outcome"])
    return outcome if dialed else None


def summary_url_of(journey: Mapping[str, Any]) -> str | None:
    """The URL of the caller's recorded summary in a stored journey, if any."""
    for recording in journey.get("recordings") or ():
        if recording.get("kind") == "summary" and recording.get("recording_url"):
            return str(recording["recording_url"])
    return None


def _routed(row: RegisterCall, rep: Representative) -> RedCall | None:
    """The call as ``rep``'s page shows it, or None when it was not routed to them."""
    journey = row.journey or {}
    outcome = outcome_for(journey, rep.rol, rep.nombre_completo)
    return None if outcome is None else RedCall(row, outcome, summary_url_of(journey))


def red_calls(session: Session, rep: Representative, start: date, end: date) -> list[RedCall]:
    """The calls of [start, end) (Lima dates) routed to ``rep``, newest first (simulated
    calls left out, as in the register's exports)."""
    rows: Iterable[RegisterCall] = session.scalars(
        select(RegisterCall)
        .where(
            RegisterCall.fecha >= start,
            RegisterCall.fecha < end,
            RegisterCall.organo == rep.organo.sigla,
            RegisterCall.simulada.is_(False),
        )
        .order_by(RegisterCall.fecha.desc(), RegisterCall.hora_inicio.desc())
    )
    return [call for row in rows if (call := _routed(row, rep)) is not None]


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_day(day: date) -> date:
    return day + timedelta(days=1)


def red_call(session: Session, rep: Representative, call_sid: str) -> RedCall:
    """One call routed to ``rep`` (any date), or RuleError: a representative reads and notes
    only their own calls."""
    row = session.scalars(select(RegisterCall).where(RegisterCall.call_sid == call_sid)).first()
    found = _routed(row, rep) if row is not None and row.organo == rep.organo.sigla else None
    if found is None:
        raise RuleError("esa llamada no le fue derivada.")
    return found


def save_note(
    session: Session, rep: Representative, call_sid: str, text: str, *, actor: str
) -> RegisterCall:
    """The representative's note on a call they took, into its register row (audit-logged).
    An empty text clears it. Not flushed to the caller: the view commits."""
    found = red_call(session, rep, call_sid)
    if not found.answered:
        raise RuleError("solo puede anotar las llamadas que usted atendió.")
    note = " ".join(text.split())  # one line: it travels in a CSV cell
    if len(note) > NOTE_MAX:
        raise RuleError(f"la nota tiene {len(note)} caracteres; el máximo es {NOTE_MAX}.")
    row = found.call
    before = {"nota_red": row.nota_red, "nota_red_por": row.nota_red_por}
    row.nota_red = note or None
    row.nota_red_por = rep.nombre_completo if note else None
    row.nota_red_at = utcnow() if note else None
    after = {"nota_red": row.nota_red, "nota_red_por": row.nota_red_por}
    if after != before:
        audit.record(
            session,
            actor=actor,
            entity="register_call",
            entity_id=row.call_sid,
            action="note",
            before=before,
            after=after,
        )
    session.flush()
    return row
