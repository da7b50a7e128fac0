"""rq jobs of the register: module-level functions over plain values.

``drain()`` writes the register from the events stream (register/events.py): it reads the
stream in batches through the ``register`` consumer group (its own unacknowledged entries
first, then those a crashed drain left idle, then new ones), writes each batch's rows in one
upsert and commits, and only then acknowledges and deletes the batch's entries. A drain
killed before its commit loses nothing: its entries stay pending and the next drain claims
them. The database failing stops the drain (rq retries the job with backoff; the entries
wait in the stream). A call whose events cannot be derived, or whose row the database
refuses, fails alone: its events go to a ``write_call`` job of their own, retried with
backoff and then listed by ``flask register failed``.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from flask import current_app
from redis import Redis, ResponseError
from rq import Queue, get_current_job
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

import mailer
from extensions import db, redis_store
from register import notices, sendings
from register.events import (
    FAILURE_TTL,
    GROUP,
    RETRY,
    STREAM,
    WAKE_KEY,
    WAKE_TTL,
    Event,
    Sink,
    wake,
)
from register.ingest import group_by_call, merge_rows, upsert_rows
from register.models import ReportSending

log = logging.getLogger(__name__)

BATCH_ENTRIES = 2000  # stream entries per batch (a webhook request's events are one entry)
DRAIN_SECONDS = 60.0  # then the drain hands over to a new job
CLAIM_IDLE_MS = 60_000  # entries of a drain that died are claimed after this long
LINGER_POLL_SECONDS = 0.1  # how often a lingering drain looks at an empty stream


@dataclass
class Batch:
    """Stream entries read together: their ids, and their events by call."""

    ids: list[bytes] = field(default_factory=list)
    by_call: dict[str, list[Event]] = field(default_factory=dict)
    unreadable: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, entries: Sequence[tuple[bytes, Mapping[bytes, bytes]]]) -> Batch:
        batch = cls()
        events: list[Event] = []
        for entry_id, fields in entries:
            batch.ids.append(entry_id)
            raw = fields.get(b"events", b"")
            try:
                parsed = orjson.loads(raw)
                if not isinstance(parsed, list) or not all(isinstance(e, dict) for e in parsed):
                    raise ValueError("not a list of events")
            except ValueError:
                batch.unreadable.append(raw.decode("utf-8", "replace"))
                continue
            events.extend(parsed)
        batch.by_call = group_by_call(events)  # type: ignore[assignment]
        return batch


def ensure_group(r: Redis) -> None:
    try:
        r.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def read_batches(
    r: Redis, consumer: str, *, count: int, claim_idle_ms: int
) -> Iterator[list[tuple[bytes, Any]]]:
    """Batches of entries for ``consumer``: its own pending ones (a retried drain), those idle
    longer than ``claim_idle_ms`` under another consumer (a drain that died), then new ones.
    Each batch must be acknowledged before the next is asked for."""
    while own := _entries(r.xreadgroup(GROUP, consumer, {STREAM: "0"}, count=count)):
        yield own
    start = "0-0"
    while True:
        start, claimed, *_ = r.xautoclaim(
            STREAM, GROUP, consumer, claim_idle_ms, start_id=start, count=count
        )
        claimed = [(entry_id, fields) for entry_id, fields in claimed if entry_id and fields]
        if claimed:
            yield claimed
        if start in (b"0-0", "0-0"):
            break
    while new := _entries(r.xreadgroup(GROUP, consumer, {STREAM: ">"}, count=count)):
        yield new


def _entries(reply: Any) -> list[tuple[bytes, Any]]:
    return [entry for _stream, entries in reply or () for entry in entries if entry[1]]


def write_batch(session: Session, queue: Queue, batch: Batch) -> int:
    """Write a batch's rows and commit; a call that fails goes to a job of its own. Returns
    the rows written. Raises when the database itself fails (nothing is committed)."""
    rows, failed = merge_rows(session, batch.by_call)
    try:
        upsert_rows(session, rows)
        session.commit()
    except OperationalError:
        session.rollback()
        raise
    except SQLAlchemyError:  # a row the database refuses: find it, write the others
        session.rollback()
        rows = _write_one_by_one(session, rows, failed)
    for call_sid, exc in failed.items():
        log.warning("register row of %s not written (%r): a job of its own", call_sid, exc)
        enqueue_write_call(queue, call_sid, batch.by_call[call_sid])
    for raw in batch.unreadable:
        log.error("unreadable register entry: %r", raw[:200])
        enqueue_write_call(queue, "-", [{"unreadable": raw}])
    return len(rows)


def _write_one_by_one(
    session: Session, rows: list[dict[str, Any]], failed: dict[str, Exception]
) -> list[dict[str, Any]]:
    written = []
    for row in rows:
        try:
            upsert_rows(session, [row])
            session.commit()
            written.append(row)
        except OperationalError:
            session.rollback()
            raise
        except SQLAlchemyError as exc:
            session.rollback()
            failed[row["call_sid"]] = exc
    return written


def enqueue_write_call(queue: Queue, call_sid: str, events: Sequence[Event]) -> None:
    queue.enqueue(
        "register.jobs.write_call",
        call_sid,
        list(events),
        job_timeout=60,
        retry=RETRY,
        result_ttl=0,
        failure_ttl=FAILURE_TTL,
        meta={"call_sid": call_sid},
        description=f"register {call_sid}",
    )


def drain_stream(
    session: Session,
    sink: Sink,
    consumer: str,
    *,
    count: int = BATCH_ENTRIES,
    seconds: float = DRAIN_SECONDS,
    claim_idle_ms: int = CLAIM_IDLE_MS,
    linger: float = 0.0,
    pace: float = 0.0,
) -> int:
    """Write the register from the stream until it has been empty for ``linger`` seconds (0:
    until it is empty), or ``seconds`` are up (then a new drain job goes on). A batch smaller
    than ``count`` is followed by a pause that makes batches start at most every ``pace``
    seconds, so that under load each batch holds more calls (one upsert and one commit for
    them all) and one job serves a busy line instead of several a second. Returns the rows
    written."""
    r = sink.r
    ensure_group(r)
    deadline = time.monotonic() + seconds
    written = 0
    last_entry = time.monotonic()
    while True:
        for entries in read_batches(r, consumer, count=count, claim_idle_ms=claim_idle_ms):
            began = time.monotonic()
            written += write_entries(session, sink, entries)
            last_entry = time.monotonic()
            if last_entry > deadline:  # a new job goes on (a fresh start for rq's records)
                r.set(WAKE_KEY, 1, ex=WAKE_TTL)
                wake(sink)
                return _leave(r, consumer, written)
            if len(entries) < count:
                time.sleep(max(0.0, began + pace - last_entry))
        now = time.monotonic()
        if now - last_entry < linger and now < deadline:  # empty for now: events come soon
            time.sleep(max(pace, LINGER_POLL_SECONDS))
            continue
        # Empty: clear the flag, then look once more (events added before the flag was
        # cleared found it set and queued no drain; those added after queue their own).
        r.delete(WAKE_KEY)
        if not undelivered(r):
            return _leave(r, consumer, written)
        r.set(WAKE_KEY, 1, ex=WAKE_TTL)


def write_entries(session: Session, sink: Sink, entries: list[tuple[bytes, Any]]) -> int:
    """One batch of stream entries into the register, then acknowledged and deleted."""
    with collector_paused():
        batch = Batch.of(entries)
        written = write_batch(session, sink.queue, batch)
    with sink.r.pipeline() as pipe:
        pipe.xack(STREAM, GROUP, *batch.ids)
        pipe.xdel(STREAM, *batch.ids)
        pipe.execute()
    return written


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off for the block. A batch allocates hundreds of
    thousands of small dicts and lists (its journeys and rows) that hold no cycles: reference
    counting frees them, while the collector, left on, scans them again and again as long as
    they are alive (40 % of the time deriving a batch's rows, measured). Whatever cycles the
    block made are collected once the collector is back on."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _leave(r: Redis, consumer: str, written: int) -> int:
    r.xgroup_delconsumer(STREAM, GROUP, consumer)  # its entries are all acknowledged
    return written


def undelivered(r: Redis) -> int:
    """Entries no drain has read yet (read ones are deleted once acknowledged)."""
    return int(r.xlen(STREAM)) - int(r.xpending(STREAM, GROUP)["pending"])


# --- Job entry points -----------------------------------------------------------------------


def _sink() -> Sink:
    sink: Sink = current_app.extensions["register"]
    return sink


def drain() -> int:
    """The drain job (queued by register.events.wake)."""
    job = get_current_job()
    consumer = job.id if job is not None else "drain-inline"
    config = current_app.config
    return drain_stream(
        db.session(),
        _sink(),
        consumer,
        linger=float(config["REGISTER_DRAIN_LINGER_SECONDS"]),
        pace=float(config["REGISTER_DRAIN_PACE_SECONDS"]),
    )


def write_call(call_sid: str, events: list[Event]) -> int:
    """The row of one call that failed in a batch (retried with backoff by rq)."""
    session = db.session()
    rows, failed = merge_rows(session, group_by_call(events))
    if failed or not rows:
        raise ValueError(f"register row of {call_sid} not written") from failed.get(call_sid)
    try:
        upsert_rows(session, rows)
        session.commit()
    except Exception:
        session.rollback()
        raise
    return len(rows)


RED_MISSED_SENT = "register:red_missed:{call_sid}"  # set once the notice went out (30 days)


def mail_red_missed(call_sid: str, sigla: str, data: dict[str, Any]) -> str:
    """E-mail the órgano's Red members about a technical call neither took (register/notices.py).

    Idempotent: a notice that went out is not sent again (rq and Twilio both deliver twice).
    Returns sent, already or nobody (no address in the directory)."""
    r = redis_store.client
    key = RED_MISSED_SENT.format(call_sid=call_sid)
    if r.exists(key):
        return "already"
    notice = notices.red_missed(db.session(), call_sid, sigla, data)
    if not notice.to:
        log.warning("call %s: no e-mail address for the Red members of %s", call_sid, sigla)
        return "nobody"
    mailer.send(
        mailer.SmtpSettings.from_config(current_app.config),
        notice.to,
        notice.subject,
        notice.body,
        message_id=f"<red-missed-{call_sid}@red-atencion.mef.gob.pe>",
    )
    r.set(key, "1", ex=30 * 24 * 3600)
    return "sent"


def send_report(sending_id: int) -> str:
    """E-mail one recorded report sending (register/sendings.py), retried by rq with
    mailer.MAIL_RETRY. Idempotent: a sending marked sent is not sent again. Returns sent,
    already or gone (the record no longer exists)."""
    session = db.session()
    sending = session.get(ReportSending, sending_id)
    if sending is None:
        return "gone"
    if sending.status == "enviado":
        return "already"
    try:
        sendings.deliver(session, mailer.SmtpSettings.from_config(current_app.config), sending)
        session.commit()
    except Exception as exc:
        session.rollback()
        sendings.mark_failed(session, sending_id, exc)
        session.commit()
        log.warning("report sending %s failed: %r (rq retries it)", sending_id, exc)
        raise
    return "sent"
