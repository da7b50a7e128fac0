"""From journey events to register rows: merge new events into each call's stored journey and
derive the row again from all of it (``register.anexo1.build_row``), so duplicated and
reordered events always give one correct row; then one upsert for the whole batch.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import String, Table, any_, bindparam, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from clock import utcnow
from extensions import dialect_insert
from register.anexo1 import build_row
from register.models import RegisterCall

log = logging.getLogger(__name__)

CALLS: Table = RegisterCall.__table__  # type: ignore[assignment]
_CHUNK = 500  # CallSids per IN list (SQLite allows 32,766 parameters per statement)
# What a bad event raises while its row is derived: that call fails alone.
DERIVATION_ERRORS = (KeyError, TypeError, ValueError, AttributeError, IndexError)
Events = Sequence[Mapping[str, Any]]


def group_by_call(events: Iterable[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    by_call: dict[str, list[Mapping[str, Any]]] = {}
    for event in events:
        by_call.setdefault(str(event["call_sid"]), []).append(event)
    return by_call


def stored_events(session: Session, call_sids: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    """The journeys already stored in the rows of these calls (calls without a row: absent)."""
    sids = list(dict.fromkeys(call_sids))
    if not sids:
        return {}
    query = select(CALLS.c.call_sid, CALLS.c.events)
    if session.get_bind().dialect.name == "postgresql":  # one array parameter for them all
        chunks = [
            query.where(CALLS.c.call_sid == any_(bindparam("sids", sids, type_=ARRAY(String))))
        ]
    else:
        chunks = [
            query.where(CALLS.c.call_sid.in_(sids[i : i + _CHUNK]))
            for i in range(0, len(sids), _CHUNK)
        ]
    return {
        call_sid: list(events or [])
        for chunk in chunks
        for call_sid, events in session.execute(chunk)
    }


def merge_rows(
    session: Session, new_events: Mapping[str, Events]
) -> tuple[list[dict[str, Any]], dict[str, Exception]]:
    """The rows of these calls, derived from their stored journey plus ``new_events``, and
    the calls whose events could not be derived (with the error)."""
    stored = stored_events(session, new_events)
    rows: list[dict[str, Any]] = []
    failed: dict[str, Exception] = {}
    for call_sid, events in new_events.items():
        try:
            rows.append(build_row(call_sid, [*stored.get(call_sid, ()), *events]))
        except DERIVATION_ERRORS as exc:
            log.warning("could not derive the register row of %s: %r", call_sid, exc)
            failed[call_sid] = exc
    return rows, failed


KEPT_COLUMNS = frozenset({"id", "call_sid", "purged_at", "nota_red", "nota_red_por", "nota_red_at"})


_UPSERTS: dict[str, Any] = {}  # by dialect name


def _upsert(session: Session) -> Any:
    """The upsert statement, built once per dialect: its ``excluded`` columns are an alias of
    the table, built anew for every new statement (a third of a small batch's time)."""
    dialect = session.get_bind().dialect.name
    if dialect not in _UPSERTS:
        stmt = dialect_insert(session, CALLS)
        # purged_at stays: a late event does not undo the retention purge; nor does it erase
        # the Red member's note (nota_red*, written by /red, never derived from the events).
        columns = [c.name for c in CALLS.columns if c.name not in KEPT_COLUMNS]
        _UPSERTS[dialect] = stmt.on_conflict_do_update(
            index_elements=["call_sid"],
            set_={name: stmt.excluded[name] for name in columns},
            # Never replace a row derived from more events (a slower worker's older one).
            where=CALLS.c.event_count <= stmt.excluded.event_count,
        )
    return _UPSERTS[dialect]


def upsert_rows(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert or update the rows by CallSid: one statement for the whole batch."""
    if rows:
        now = utcnow()
        session.execute(_upsert(session), [{**row, "updated_at": now} for row in rows])


def ingest_events(session: Session, events: Events) -> int:
    """Merge events into their calls' rows and commit; returns the rows written. Raises
    (writing nothing) if an event cannot be derived. The demo data and the tests use it."""
    rows, failed = merge_rows(session, group_by_call(events))
    if failed:
        call_sid, exc = next(iter(failed.items()))
        raise ValueError(f"bad journey event for {call_sid}") from exc
    upsert_rows(session, rows)
    session.commit()
    return len(rows)
