"""Turning journey events into register rows: merge them into each call's stored journey and
derive the row again from all of it.

A register row keeps its call's journey (``events``: every event received, unique by id,
sorted by time) beside the Anexo 1 columns. ``merge_rows`` adds new events to the stored ones
and derives each row again with ``register.anexo1.build_row``, so duplicates and events out of
order always give one correct row; ``upsert_rows`` writes all the rows of a batch in one
executemany (INSERT … ON CONFLICT DO UPDATE, guarded so that a row derived from fewer events
never overwrites one derived from more). ``ingest_events`` does both and commits: the demo
data and the tests use it; the worker (register/jobs.py) reads the events from Redis first.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import chain, islice
from operator import itemgetter
from typing import Any

import psycopg
from sqlalchemy import String, Table, Text, any_, bindparam, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from clock import utcnow
from register.anexo1 import build_row
from register.events import dumps
from register.models import RegisterCall

log = logging.getLogger(__name__)

# SQLite allows 32766 bound parameters per statement; keep IN lists well below.
_CHUNK = 500
_CALLS: Table = RegisterCall.__table__  # type: ignore[assignment]
_JSON_KEYS = ("journey", "events")
_ROW_KEYS = [
    c.name for c in _CALLS.columns if c.name not in ("id", "updated_at", "purged_at", *_JSON_KEYS)
]
# Set by derive_rows on the row of a call that had no stored row (see _pg_upsert).
NEW_ROW = "new_row"
# The row's column values in _ROW_KEYS order (build_row gives every key).
_ROW_VALUES = itemgetter(*_ROW_KEYS)
# What a bad event raises while its row is derived: that call fails alone.
DERIVATION_ERRORS = (KeyError, TypeError, ValueError, AttributeError, IndexError)


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _sqlite_upsert() -> Any:
    stmt: Any = sqlite.insert(_CALLS)
    # The JSON columns arrive already serialised (orjson, much faster than the json module
    # the JSON type would use): bound as text, which SQLite stores as is.
    stmt = stmt.values({name: bindparam(f"{name}_json", type_=Text) for name in _JSON_KEYS})
    # purged_at stays: a late event does not undo the retention purge (its events are scrubbed).
    update = {
        k: stmt.excluded[k] for k in (*_ROW_KEYS, *_JSON_KEYS, "updated_at") if k != "call_sid"
    }
    return stmt.on_conflict_do_update(
        index_elements=["call_sid"],
        set_=update,
        where=_CALLS.c.event_count <= stmt.excluded.event_count,
    )


_SQLITE_UPSERT = _sqlite_upsert()


def stored_events(session: Session, call_sids: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    """The journeys already stored in the rows of these calls (calls without a row: absent)."""
    found: dict[str, list[dict[str, Any]]] = {}
    sids = list(dict.fromkeys(call_sids))
    if not sids:
        return found
    if session.get_bind().dialect.name == "postgresql":
        # One statement for the whole batch: = ANY(array) takes a single parameter.
        sid_array = bindparam("sids", sids, type_=postgresql.ARRAY(String))
        queries = [_STORED.where(_CALLS.c.call_sid == any_(sid_array))]
    else:
        queries = [_STORED.where(_CALLS.c.call_sid.in_(chunk)) for chunk in _chunks(sids)]
    for query in queries:
        for call_sid, events in session.execute(query):
            found[call_sid] = list(events or [])
    return found


_STORED = select(_CALLS.c.call_sid, _CALLS.c.events)


def derive_rows(
    new_events: Mapping[str, Sequence[Mapping[str, Any]]],
    stored: Mapping[str, list[dict[str, Any]]],
    failed: dict[str, Exception],
) -> Iterator[dict[str, Any]]:
    """The rows of these calls derived from their stored journey plus ``new_events``, one by
    one (the worker streams them into the upsert). A call whose events cannot be derived is
    skipped and added to ``failed`` with the error: a bad event fails its own call only."""
    for call_sid, events in new_events.items():
        if not events:
            continue
        before = stored.get(call_sid)
        try:
            row = build_row(call_sid, [*before, *events] if before else events)
        except DERIVATION_ERRORS as exc:
            log.warning("could not derive the register row of %s: %r", call_sid, exc)
            failed[call_sid] = exc
            continue
        if call_sid not in stored:
            row[NEW_ROW] = True
        yield row


def merge_rows(
    session: Session, new_events: Mapping[str, Sequence[Mapping[str, Any]]]
) -> tuple[list[dict[str, Any]], dict[str, Exception]]:
    """The rows of these calls derived from their stored journey plus ``new_events``, and the
    calls that could not be derived (with the error)."""
    stored = stored_events(session, [sid for sid, events in new_events.items() if events])
    failed: dict[str, Exception] = {}
    rows = list(derive_rows(new_events, stored, failed))
    return rows, failed


def upsert_rows(session: Session, rows: Iterable[dict[str, Any]]) -> None:
    """Insert or update register rows by CallSid in one executemany; never replace a row built
    from more events (a slower worker's older derivation). ``rows`` may be a generator: on
    PostgreSQL each row is sent as soon as it is built, so the server inserts while the next
    rows are derived."""
    now = utcnow()
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        _pg_upsert(session, rows, now)
        return
    if dialect != "sqlite":
        raise RuntimeError(f"unsupported database dialect {dialect!r}")
    keys = _ROW_KEYS
    values = []
    for row in rows:
        value = {k: row.get(k) for k in keys}
        value["journey_json"] = dumps(row["journey"])
        value["events_json"] = dumps(row["events"])
        value["updated_at"] = now
        value["purged_at"] = None
        values.append(value)
    if values:
        session.execute(_SQLITE_UPSERT, values)


# From this many rows on, PostgreSQL gets them by COPY into a temporary table and one INSERT …
# SELECT … ON CONFLICT from it (several times faster than an executemany); fewer rows (the
# calls of a quiet minute, a row-by-row retry) are sent by executemany.
COPY_MIN_ROWS = 64
_PG_COLUMNS = [*_ROW_KEYS, *_JSON_KEYS, "updated_at", "purged_at"]
_LOAD_TABLE = "register_calls_load"


def _pg_updates(table: str) -> str:
    updates = ", ".join(
        f"{c} = EXCLUDED.{c}" for c in (*_ROW_KEYS, *_JSON_KEYS, "updated_at") if c != "call_sid"
    )
    return (
        f"ON CONFLICT (call_sid) DO UPDATE SET {updates} "
        f"WHERE {table}.event_count <= EXCLUDED.event_count"
    )


class _PgStatements:
    """The statements of the PostgreSQL upsert into one (schema-qualified) table."""

    def __init__(self, table: str) -> None:
        columns = ", ".join(_PG_COLUMNS)
        placeholders = ", ".join("%s::json" if c in _JSON_KEYS else "%s" for c in _PG_COLUMNS)
        self.executemany = (
            f"INSERT INTO {table} ({columns}) VALUES ({placeholders}) {_pg_updates(table)}"
        )
        loaded = [*_ROW_KEYS, *_JSON_KEYS]
        # Same column types as the table, no constraints; dropped at the end of the upsert
        # (and at the latest with its transaction).
        self.create = (
            f"CREATE TEMPORARY TABLE {_LOAD_TABLE} ON COMMIT DROP AS "
            f"SELECT {', '.join(loaded)} FROM {table} WITH NO DATA"
        )
        self.copy = f"COPY {_LOAD_TABLE} ({', '.join(loaded)}) FROM STDIN"
        # One row per CallSid (the one derived from the most events), in CallSid order: two
        # workers upserting the same calls lock them in the same order.
        self.insert = (
            f"INSERT INTO {table} ({columns}) "
            f"SELECT DISTINCT ON (call_sid) {', '.join(loaded)}, %s, NULL FROM {_LOAD_TABLE} "
            f"ORDER BY call_sid, event_count DESC {_pg_updates(table)}"
        )
        self.drop = f"DROP TABLE {_LOAD_TABLE}"
        # Rows of calls that had no row yet: straight into the table.
        self.copy_new = f"COPY {table} ({', '.join([*loaded, 'updated_at'])}) FROM STDIN"


def _pg_upsert(session: Session, rows: Iterable[dict[str, Any]], now: Any) -> None:
    """PostgreSQL: the same upsert through psycopg itself, on the session's connection and
    transaction: no per-row work in SQLAlchemy (the hot path of the worker). Honours a
    schema_translate_map (the benchmark runs in a schema of its own).

    A batch of rows of calls that had no row yet (``NEW_ROW``, set by ``derive_rows``) is
    COPied straight into the table, inside a savepoint: if another worker inserted one of those
    calls meanwhile (a unique violation), the savepoint is rolled back and those rows are
    upserted like the others: by COPY into a temporary table and one INSERT … SELECT … ON
    CONFLICT from it, or by executemany when there are only a few."""
    connection = session.connection()
    schema = (connection.get_execution_options().get("schema_translate_map") or {}).get(None)
    preparer = connection.dialect.identifier_preparer
    table = preparer.quote(_CALLS.name)
    if schema:
        table = f"{preparer.quote_schema(schema)}.{table}"
    sql = _PG_SQL.get(table)
    if sql is None:
        sql = _PG_SQL[table] = _PgStatements(table)
    values = _ROW_VALUES
    rows = iter(rows)
    head = list(islice(rows, COPY_MIN_ROWS))
    driver = connection.connection.driver_connection
    assert driver is not None
    statement = sql.executemany
    try:
        with driver.cursor() as cursor:
            if len(head) < COPY_MIN_ROWS:
                _pg_upsert_rows(cursor, sql, head, now)
                return
            later: list[dict[str, Any]] = []  # rows of calls that have a row already
            sent: list[dict[str, Any]] = []
            statement = sql.copy_new
            cursor.execute("SAVEPOINT register_copy_new")
            try:
                with cursor.copy(statement) as copy:
                    write = copy.write_row
                    for row in chain(head, rows):
                        if row.get(NEW_ROW):
                            sent.append(row)
                            write((*values(row), dumps(row["journey"]), dumps(row["events"]), now))
                        else:
                            later.append(row)
                cursor.execute("RELEASE SAVEPOINT register_copy_new")
            except psycopg.errors.UniqueViolation:
                cursor.execute("ROLLBACK TO SAVEPOINT register_copy_new")
                later = [*sent, *later, *rows]
            statement = sql.insert
            _pg_upsert_rows(cursor, sql, later, now)
    except psycopg.Error as exc:  # as SQLAlchemy would raise it (DataError, OperationalError…)
        raise DBAPIError.instance(statement, None, exc, psycopg.Error) from exc


def _pg_upsert_rows(
    cursor: psycopg.Cursor[Any], sql: _PgStatements, rows: list[dict[str, Any]], now: Any
) -> None:
    """Upsert these rows: executemany for a few, else COPY into a temporary table and one
    INSERT … SELECT … ON CONFLICT from it."""
    values = _ROW_VALUES
    if len(rows) < COPY_MIN_ROWS:
        if rows:
            cursor.executemany(
                sql.executemany,
                [
                    (*values(row), dumps(row["journey"]), dumps(row["events"]), now, None)
                    for row in rows
                ],
            )
        return
    cursor.execute(sql.create)
    with cursor.copy(sql.copy) as copy:
        write = copy.write_row
        for row in rows:
            write((*values(row), dumps(row["journey"]), dumps(row["events"])))
    cursor.execute(sql.insert, (now,))
    cursor.execute(sql.drop)


_PG_SQL: dict[str, _PgStatements] = {}


def ingest_events(session: Session, events: Sequence[Mapping[str, Any]]) -> int:
    """Merge events into their calls' rows and commit; returns the rows written.

    Raises (writing nothing) if an event cannot be derived.
    """
    by_call: dict[str, list[Mapping[str, Any]]] = {}
    for event in events:
        by_call.setdefault(str(event["call_sid"]), []).append(event)
    rows, failed = merge_rows(session, by_call)
    if failed:
        call_sid, exc = next(iter(failed.items()))
        raise ValueError(f"bad journey event for {call_sid}") from exc
    upsert_rows(session, rows)
    session.commit()
    return len(rows)
