"""What the register holds for the calls the callers made: for each call one row, complete
(the caller's number, the final status and the duration the status callback gave) and once
(no journey event counted twice, one start and one end)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import create_engine, select
from sqlalchemy.engine import Engine

from faults.callers import Call
from register.models import RegisterCall

ONCE_PER_CALL = ("incoming", "status")  # a call starts once and ends once


@dataclass
class Rows:
    expected: int
    written: int
    complete: int
    doubled: int  # rows in which an event appears more than once

    @property
    def ok(self) -> bool:
        return self.written == self.complete == self.expected and not self.doubled


def engine_for(database_url: str) -> Engine:
    return create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))


def count(engine: Engine, calls: Iterable[Call]) -> Rows:
    wanted = {call.sid: call for call in calls}
    written = complete = doubled = 0
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                RegisterCall.call_sid,
                RegisterCall.telefono,
                RegisterCall.final_status,
                RegisterCall.duracion_seg,
                RegisterCall.events,
                RegisterCall.event_count,
            ).where(RegisterCall.call_sid.in_(list(wanted)))
        ).all()
    for sid, telefono, final_status, duracion, events, event_count in rows:
        call = wanted[sid]
        written += 1
        ids = [event.get("id") for event in events or []]
        steps = [event.get("step") for event in events or []]
        once = all(steps.count(step) <= 1 for step in ONCE_PER_CALL)
        if len(ids) != len(set(ids)) or event_count != len(set(ids)) or not once:
            doubled += 1
        if (telefono, final_status, duracion) == (call.phone, "completed", call.duration):
            complete += 1
    return Rows(len(wanted), written, complete, doubled)


def wait_until_complete(
    check: Callable[[], list[Rows]], seconds: float, every: float = 2.0
) -> list[Rows]:
    """Check again until every fault's rows are complete, or ``seconds`` have passed."""
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if all(rows.ok for rows in found) or time.monotonic() > deadline:
            return found
        time.sleep(every)
