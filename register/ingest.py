"""Turning journey events into register rows: store the events, derive each call's row again.

``ingest_events`` is what the worker runs, for one event or thousands at once (one
transaction for the events, one for the rows). It is idempotent: events are unique by id
(INSERT … ON CONFLICT DO NOTHING), rows unique by CallSid (INSERT … ON CONFLICT DO UPDATE,
guarded so that a row derived from fewer events never overwrites one derived from more).
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import JSON, DateTime, String, Table, Text, bindparam, cast, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from clock import utcnow
from register.anexo1 import build_row, parse_at
from register.models import RegisterCall, RegisterEvent

log = logging.getLogger(__name__)

# SQLite allows 32766 bound parameters per statement; keep IN lists well below.
_CHUNK = 500
_EVENTS: Table = RegisterEvent.__table__  # type: ignore[assignment]
_CALLS: Table = RegisterCall.__table__  # type: ignore[assignment]
_ROW_KEYS = [c.name for c in _CALLS.columns if c.name not in ("id",)]


def _dialect_insert(session: Session, table: Table) -> Any:
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise RuntimeError(f"unsupported database dialect {name!r}")


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def event_row(event: Mapping[str, Any]) -> dict[str, Any]:
    """The register_events row of a journey event (validates its shape)."""
    choice = event.get("choice")
    return {
        "event_id": str(event["id"]),
        "call_sid": str(event["call_sid"]),
        "step": str(event["step"]),
        "choice": None if choice is None else str(choice),
        "at": parse_at(event["at"]),
        "data": dict(event.get("data") or {}),
        "received_at": utcnow(),
    }


def store_events(session: Session, events: Iterable[Mapping[str, Any]]) -> set[str]:
    """Insert the events not seen before; returns the CallSids they belong to."""
    rows: dict[str, dict[str, Any]] = {}
    for event in events:
        row = event_row(event)
        rows[row["event_id"]] = row
    if not rows:
        return set()
    values = list(rows.values())
    if session.get_bind().dialect.name == "postgresql":
        for chunk in _chunks(values, 2000):
            session.execute(_PG_EVENTS_FROM_ARRAYS, _as_arrays(chunk))
        return {row["call_sid"] for row in values}
    for chunk in _chunks(values):
        stmt = _dialect_insert(session, _EVENTS).on_conflict_do_nothing(index_elements=["event_id"])
        session.execute(stmt, list(chunk))
    return {row["call_sid"] for row in values}


def _pg_events_from_arrays() -> Any:
    """PostgreSQL: INSERT … SELECT FROM unnest(arrays) ON CONFLICT DO NOTHING: one statement
    and one round trip for thousands of events (the worker's hot path)."""
    unnest = func.unnest(
        bindparam("event_id", type_=ARRAY(String)),
        bindparam("call_sid", type_=ARRAY(String)),
        bindparam("step", type_=ARRAY(String)),
        bindparam("choice", type_=ARRAY(String)),
        bindparam("at", type_=ARRAY(DateTime(timezone=True))),
        bindparam("data", type_=ARRAY(Text)),
    )
    rows = unnest.table_valued("event_id", "call_sid", "step", "choice", "at", "data")
    rows = rows.render_derived()
    return (
        postgresql.insert(_EVENTS)
        .from_select(
            ["event_id", "call_sid", "step", "choice", "at", "data", "received_at"],
            select(
                rows.c.event_id,
                rows.c.call_sid,
                rows.c.step,
                rows.c.choice,
                rows.c.at,
                cast(rows.c.data, JSON),
                func.now(),
            ),
        )
        .on_conflict_do_nothing(index_elements=["event_id"])
    )


_PG_EVENTS_FROM_ARRAYS = _pg_events_from_arrays()


def _as_arrays(rows: Sequence[dict[str, Any]]) -> dict[str, list[Any]]:
    return {
        "event_id": [r["event_id"] for r in rows],
        "call_sid": [r["call_sid"] for r in rows],
        "step": [r["step"] for r in rows],
        "choice": [r["choice"] for r in rows],
        "at": [r["at"] for r in rows],
        "data": [json.dumps(r["data"], separators=(",", ":")) for r in rows],
    }


def load_events(session: Session, call_sids: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    """Every stored event of these calls, as journey events (id, call_sid, step, …)."""
    by_call: dict[str, list[dict[str, Any]]] = defaultdict(list)
    sids = sorted(set(call_sids))
    cols = (
        _EVENTS.c.event_id,
        _EVENTS.c.call_sid,
        _EVENTS.c.step,
        _EVENTS.c.choice,
        _EVENTS.c.at,
        _EVENTS.c.data,
    )
    for chunk in _chunks(sids):
        for event_id, call_sid, step, choice, at, data in session.execute(
            select(*cols).where(_EVENTS.c.call_sid.in_(chunk))
        ):
            by_call[call_sid].append(
                {
                    "id": event_id,
                    "call_sid": call_sid,
                    "step": step,
                    "choice": choice,
                    "at": at,
                    "data": data or {},
                }
            )
    return by_call


def upsert_rows(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert or update register rows by CallSid; never replace a row built from more events."""
    now = utcnow()
    for chunk in _chunks(rows, 200):
        values = [{**{k: row.get(k) for k in _ROW_KEYS}, "updated_at": now} for row in chunk]
        for value in values:
            value["purged_at"] = None
        stmt = _dialect_insert(session, _CALLS)
        update = {k: stmt.excluded[k] for k in _ROW_KEYS if k not in ("call_sid", "purged_at")}
        stmt = stmt.on_conflict_do_update(
            index_elements=["call_sid"],
            set_=update,
            where=_CALLS.c.event_count <= stmt.excluded.event_count,
        )
        session.execute(stmt, values)


def rebuild_calls(session: Session, call_sids: Iterable[str]) -> int:
    """Derive again the rows of these calls from all their stored events. Returns the count."""
    by_call = load_events(session, call_sids)
    rows = []
    for call_sid, events in by_call.items():
        try:
            rows.append(build_row(call_sid, events))
        except (KeyError, TypeError, ValueError):
            log.exception("could not derive the register row of %s", call_sid)
            raise
    upsert_rows(session, rows)
    return len(rows)


def ingest_events(session: Session, events: Sequence[Mapping[str, Any]]) -> int:
    """Store the events, then derive again the rows of their calls; returns rows written.

    Two transactions: the events are committed before the rows are derived, so a row is
    always derived from everything committed so far (two workers on one call cannot lose an
    event; the event_count guard keeps the newest derivation).
    """
    call_sids = store_events(session, events)
    session.commit()
    if not call_sids:
        return 0
    written = rebuild_calls(session, call_sids)
    session.commit()
    return written
