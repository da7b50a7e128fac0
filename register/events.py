"""Delivery of journey events to the register worker, without ever losing one.

``emit(event)`` (called by ivr.journey.record_event on the webhook path) enqueues one rq job
per event on the ``register`` queue. If Redis cannot be reached the event goes to the
``register_outbox`` table; if the database cannot be reached either, it is appended as a JSON
line to ``instance/register-spool.jsonl``. ``flush_outbox`` (``flask register flush-outbox``,
and every minute in the worker) moves the spool into the outbox and the outbox into the queue
once Redis is back. ``emit`` never raises: the call goes on whatever happens here.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from pathlib import Path
from typing import Any

from rq import Retry
from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from extensions import db, redis_store

log = logging.getLogger(__name__)

REGISTER_QUEUE = "register"
JOB_PREFIX = "ev-"
JOB_TIMEOUT = 300
# Backoff between attempts: 5 s, 30 s, 2 min, 10 min, 30 min, 1 h.
RETRY_INTERVALS = [5, 30, 120, 600, 1800, 3600]
FAILURE_TTL = 90 * 24 * 3600  # failed jobs stay visible (flask register failed) for 90 days
SPOOL_NAME = "register-spool.jsonl"

_spool_dir: Path | None = None


def configure(instance_dir: str) -> None:
    """Where the last-resort spool file lives (register.init_app sets it)."""
    global _spool_dir
    _spool_dir = Path(instance_dir)


def spool_path() -> Path:
    base = _spool_dir or Path(__file__).resolve().parent.parent / "instance"
    return base / SPOOL_NAME


def job_id_for(event: dict[str, Any]) -> str:
    return f"{JOB_PREFIX}{event['id']}"


def enqueue_event(event: dict[str, Any]) -> None:
    """One rq job per event (raises redis errors: ``emit`` catches them)."""
    from register.jobs import ingest_event

    redis_store.queue(REGISTER_QUEUE).enqueue(
        ingest_event,
        event,
        job_id=job_id_for(event),
        job_timeout=JOB_TIMEOUT,
        retry=Retry(max=len(RETRY_INTERVALS), interval=RETRY_INTERVALS),
        result_ttl=0,
        failure_ttl=FAILURE_TTL,
        meta={"call_sid": event.get("call_sid")},
        description=f"register {event.get('call_sid')} {event.get('step')}",
    )


def _outbox_insert(session: Session, events: list[dict[str, Any]]) -> None:
    from register.models import RegisterOutbox

    table = RegisterOutbox.__table__
    name = session.get_bind().dialect.name
    insert = postgresql.insert if name == "postgresql" else sqlite.insert
    rows = [
        {
            "event_id": str(e["id"]),
            "call_sid": str(e.get("call_sid")),
            "payload": json.dumps(e, separators=(",", ":"), default=str),
        }
        for e in events
    ]
    session.execute(
        insert(table).on_conflict_do_nothing(index_elements=["event_id"]),  # type: ignore[arg-type]
        rows,
    )


def write_outbox(events: list[dict[str, Any]]) -> None:
    """Keep events in the database until Redis is back (own session, own transaction)."""
    session = db.new_session()
    try:
        _outbox_insert(session, events)
        session.commit()
    finally:
        session.close()


def write_spool(event: dict[str, Any]) -> None:
    """Last resort: one JSON line appended (and fsynced) to the spool file."""
    path = spool_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(event, separators=(",", ":"), default=str) + "\n"
    with open(path, "a", encoding="utf-8") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())


def emit(event: dict[str, Any]) -> None:
    """Hand a journey event to the register. Never raises."""
    try:
        enqueue_event(event)
        return
    except Exception:
        log.warning(
            "Redis unavailable: event %s of %s goes to the outbox",
            event.get("step"),
            event.get("call_sid"),
            exc_info=True,
        )
    try:
        write_outbox([event])
        return
    except Exception:
        log.error(
            "database unavailable: event %s of %s goes to the spool file",
            event.get("step"),
            event.get("call_sid"),
            exc_info=True,
        )
    try:
        write_spool(event)
    except Exception:
        log.critical("EVENT LOST (Redis, database and spool all failed): %s", event, exc_info=True)


def flush_spool(session: Session) -> int:
    """Move the spool file's events into the outbox table; returns how many."""
    path = spool_path()
    if not path.exists():
        return 0
    with open(path, "r+", encoding="utf-8") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        events = []
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                log.error("unreadable spool line kept aside: %r", line[:200])
                with open(path.with_suffix(".bad"), "a", encoding="utf-8") as bad:
                    bad.write(line + "\n")
        if events:
            for i in range(0, len(events), 500):
                _outbox_insert(session, events[i : i + 500])
            session.commit()
        fh.seek(0)
        fh.truncate()
    return len(events)


def flush_outbox(session: Session, batch: int = 500) -> int:
    """Move the spool into the outbox, then the outbox into the queue. Returns events queued.

    Each event is deleted from the outbox only after its job is in Redis; a job queued twice
    is harmless (events are unique by id).
    """
    from register.models import RegisterOutbox

    flush_spool(session)
    queued = 0
    while True:
        rows = session.execute(
            select(RegisterOutbox.id, RegisterOutbox.payload)
            .order_by(RegisterOutbox.id)
            .limit(batch)
        ).all()
        if not rows:
            return queued
        for row_id, payload in rows:
            enqueue_event(json.loads(payload))
            session.execute(delete(RegisterOutbox).where(RegisterOutbox.id == row_id))
            queued += 1
        session.commit()
