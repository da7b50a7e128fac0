"""Delivery of journey events to the register worker, without ever losing one.

``emit(event)`` (called by ivr.journey.record_event on the webhook path) appends the event to
its call's journey list in Redis (``register:journey:<CallSid>``) and, in the same MULTI,
sets the call's pending flag (``register:pending:<CallSid>``, SET NX). Only when the flag was
not set already does it enqueue a job, ``register.jobs.ingest_call(call_sid)`` on the
``register`` queue: a call has one queued job at a time, not one per event; the job reads the
whole list. If Redis cannot be reached the event goes to the ``register_outbox`` table; if the
database cannot be reached either, it is appended as a JSON line to
``instance/register-spool.jsonl``. ``flush_outbox`` (``flask register flush-outbox``, and
every 30 s in the worker) moves the spool into the outbox and the outbox into Redis once it is
back (pushing the events and always queueing a job for their calls). ``emit`` never raises:
the call goes on whatever happens here.

Within ``deferred()`` (the call flow wraps each webhook request in it) ``emit`` only keeps the
event; at the end of the block all the kept events are handed over together by ``emit_many``:
one MULTI for all their lists and flags, one pipeline for the jobs they need, with the same
outbox and spool fallbacks. A request then costs one round trip for its events, not one each.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import secrets
from collections.abc import Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import orjson
from rq import Queue, Retry
from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from extensions import db, redis_store

log = logging.getLogger(__name__)

REGISTER_QUEUE = "register"
JOB_PREFIX = "reg-"
DESCRIPTION_PREFIX = "register "  # the job's description is "register <CallSid>"
JOB_NONCE_LEN = 20  # hex characters after JOB_PREFIX (see ``new_job_id``)
_PLAIN_SID = re.compile(r"[A-Za-z0-9]{1,64}").fullmatch
JOB_TIMEOUT = 300
# Backoff between attempts: 5 s, 30 s, 2 min, 10 min, 30 min, 1 h.
RETRY_INTERVALS = [5, 30, 120, 600, 1800, 3600]
FAILURE_TTL = 90 * 24 * 3600  # failed jobs stay visible (flask register failed) for 90 days
# Safety net only: a journey list or pending flag nobody processed expires after 100 days
# (a list is emptied as soon as its events are committed). A failed job is kept 90 days and
# ``register retry`` reads its list again, so the list outlives it.
JOURNEY_TTL = FAILURE_TTL + 10 * 24 * 3600
JOURNEY_KEY = "register:journey:"
PENDING_KEY = "register:pending:"
NONCE_LEN = 12  # hex characters in front of each list entry (see ``entry_for``)
SPOOL_NAME = "register-spool.jsonl"

_spool_dir: Path | None = None


def configure(instance_dir: str) -> None:
    """Where the last-resort spool file lives (register.init_app sets it)."""
    global _spool_dir
    _spool_dir = Path(instance_dir)


def spool_path() -> Path:
    base = _spool_dir or Path(__file__).resolve().parent.parent / "instance"
    return base / SPOOL_NAME


def journey_key(call_sid: str) -> str:
    return f"{JOURNEY_KEY}{call_sid}"


def pending_key(call_sid: str) -> str:
    return f"{PENDING_KEY}{call_sid}"


def dumps(value: Any) -> str:
    """Compact JSON (orjson: the worker serialises megabytes of journeys per batch)."""
    return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


def entry_for(event: Mapping[str, Any]) -> str:
    """A journey list entry: a random nonce, then the event as JSON.

    The nonce makes every entry unique even when the same event is pushed twice (an outbox
    flush interrupted halfway), so the worker's trim can check exactly that the head of the
    list is still what it read (see register.jobs).
    """
    return secrets.token_hex(NONCE_LEN // 2) + dumps(event)


def event_of(entry: bytes | str) -> dict[str, Any]:
    """The event inside a journey list entry (raises ValueError when it is not one)."""
    text = entry.decode() if isinstance(entry, bytes) else entry
    event = json.loads(text[NONCE_LEN:])
    if not isinstance(event, dict):
        raise ValueError(f"not a journey event: {text[:80]!r}")
    return event


def new_job_id(call_sid: str = "") -> str:
    """A fresh job id (a call gets a new job whenever its pending flag was clear):
    ``reg-<nonce>-<CallSid>``, so that the worker's claim reads the call from the id itself;
    ``reg-<nonce>`` when the CallSid is not made of letters and digits only."""
    nonce = secrets.token_hex(JOB_NONCE_LEN // 2)
    if _PLAIN_SID(call_sid):
        return f"{JOB_PREFIX}{nonce}-{call_sid}"
    return f"{JOB_PREFIX}{nonce}"


def job_options(call_sid: str) -> dict[str, Any]:
    """The rq options of a call's register job (shared with the benchmark's backlog)."""
    return {
        "job_id": new_job_id(call_sid),
        "result_ttl": 0,
        "failure_ttl": FAILURE_TTL,
        "meta": {"call_sid": call_sid},
        "description": f"{DESCRIPTION_PREFIX}{call_sid}",
    }


def enqueue_call(call_sid: str) -> None:
    """Queue the job that writes this call's row (raises redis errors)."""
    from register.jobs import ingest_call

    redis_store.queue(REGISTER_QUEUE).enqueue(
        ingest_call,
        call_sid,
        job_timeout=JOB_TIMEOUT,
        retry=Retry(max=len(RETRY_INTERVALS), interval=RETRY_INTERVALS),
        **job_options(call_sid),
    )


def job_data(queue: Queue, call_sid: str) -> Any:
    """What ``Queue.enqueue_many`` takes to queue a call's register job."""
    from register.jobs import ingest_call

    options = job_options(call_sid)
    return queue.prepare_data(
        ingest_call,
        args=(call_sid,),
        timeout=JOB_TIMEOUT,
        retry=Retry(max=len(RETRY_INTERVALS), interval=RETRY_INTERVALS),
        result_ttl=options["result_ttl"],
        failure_ttl=options["failure_ttl"],
        description=options["description"],
        job_id=options["job_id"],
        meta=options["meta"],
    )


def enqueue_calls(call_sids: Collection[str]) -> None:
    """Queue the jobs of these calls in one round trip (``Queue.enqueue`` takes two per job:
    the queue's registration, then the job). Raises redis errors."""
    queue = redis_store.queue(REGISTER_QUEUE)
    if not queue.is_async:
        # A synchronous queue (some tests) runs each job as it is queued.
        for call_sid in call_sids:
            enqueue_call(call_sid)
        return
    with redis_store.client.pipeline() as pipe:
        queue.enqueue_many([job_data(queue, call_sid) for call_sid in call_sids], pipeline=pipe)
        pipe.execute()


def push_events(events: Iterable[Mapping[str, Any]], *, force_job: bool = False) -> set[str]:
    """Append events to their calls' journey lists and set the pending flags in one MULTI;
    then queue a job for each call whose flag was clear (for every call when ``force_job``).
    Returns the CallSids that got a job. Raises redis errors."""
    by_call: dict[str, list[str]] = {}
    for event in events:
        by_call.setdefault(str(event.get("call_sid")), []).append(entry_for(event))
    if not by_call:
        return set()
    with redis_store.client.pipeline(transaction=True) as pipe:
        for call_sid, entries in by_call.items():
            key = journey_key(call_sid)
            pipe.rpush(key, *entries)
            pipe.expire(key, JOURNEY_TTL)
            pipe.set(pending_key(call_sid), 1, nx=True, ex=JOURNEY_TTL)
        results = pipe.execute()
    needing = {
        call_sid
        for i, call_sid in enumerate(by_call)
        if force_job or results[3 * i + 2]  # the SET NX of that call
    }
    if not needing:
        return needing
    try:
        enqueue_calls(needing)
    except Exception:
        # Clear the flags again (if Redis allows) so the next event queues the job; the
        # caller keeps the events (outbox) and the flush always queues one anyway.
        try:
            redis_store.client.delete(*(pending_key(call_sid) for call_sid in needing))
        except Exception:
            log.debug("could not clear the pending flags of %s", needing, exc_info=True)
        raise
    return needing


def _outbox_insert(session: Session, events: list[dict[str, Any]]) -> None:
    from register.models import RegisterOutbox

    table = RegisterOutbox.__table__
    name = session.get_bind().dialect.name
    insert = postgresql.insert if name == "postgresql" else sqlite.insert
    rows = [
        {
            "event_id": str(e["id"]),
            "call_sid": str(e.get("call_sid")),
            "payload": dumps(e),
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
    line = dumps(event) + "\n"
    with open(path, "a", encoding="utf-8") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())


# What ``emit`` keeps within ``deferred()``: each event with its gate (see ``once``) or None.
Gate = tuple[str, str, int]  # hash key, field, TTL
_Kept = list[tuple[dict[str, Any], Gate | None]]
_deferred: ContextVar[_Kept | None] = ContextVar("register_deferred", default=None)
_gate: ContextVar[Gate | None] = ContextVar("register_gate", default=None)

# A request's events, atomically each (like push_events' MULTI, which the worker's read relies
# on), in one script. Per event, KEYS: its call's journey list, pending flag and gate hash (the
# journey list again when it has no gate); ARGV: the entry, the gate's field ('' when none)
# and the gate's TTL; ARGV[1] before them all: the TTL of lists and flags. With a gate, nothing
# happens when its field is set already (a replayed webhook) and it is set otherwise; then the
# entry is appended to the list and the pending flag set NX. Returns, per event, -1 for a
# replay, 1 when the flag was clear (the call needs a job), else 0.
_PUSH = """
local out = {}
for i = 1, #KEYS, 3 do
  local entry, field = ARGV[i + 1], ARGV[i + 2]
  local result = 0
  if field ~= '' and redis.call('HSETNX', KEYS[i + 2], field, '1') == 0 then
    result = -1
  else
    if field ~= '' then redis.call('EXPIRE', KEYS[i + 2], ARGV[i + 3]) end
    redis.call('RPUSH', KEYS[i], entry)
    redis.call('EXPIRE', KEYS[i], ARGV[1])
    if redis.call('SET', KEYS[i + 1], '1', 'NX', 'EX', ARGV[1]) then result = 1 end
  end
  out[#out + 1] = result
end
return out
"""


@contextmanager
def deferred() -> Iterator[None]:
    """Within it, ``emit`` keeps the events; at the end of the block (also when it fails)
    those not handed to a caller's pipeline (``stage``) are handed over together by
    ``emit_many``; gated ones (``once``) only go with the caller's pipeline."""
    kept: _Kept = []
    token = _deferred.set(kept)
    try:
        yield
    finally:
        _deferred.reset(token)
        emit_many([event for event, gate in kept if gate is None])


@contextmanager
def once(hash_key: str, field: str, ttl: int) -> Iterator[None]:
    """Within a ``deferred()`` block: the events emitted here are delivered only if ``field``
    of the hash ``hash_key`` is not set yet (a replayed webhook's are not), and set it, in
    the same atomic step as their push (see ``stage``)."""
    token = _gate.set((hash_key, field, ttl))
    try:
        yield
    finally:
        _gate.reset(token)


def emit(event: dict[str, Any]) -> None:
    """Hand a journey event to the register (kept until the end of a ``deferred()`` block).
    Never raises."""
    kept = _deferred.get()
    if kept is not None:
        kept.append((event, _gate.get()))
        return
    emit_many([event])


class Staged:
    """The events a ``deferred()`` block kept, added to the caller's pipeline by ``stage``."""

    def __init__(self, kept: _Kept, index: int, queued: Collection[str]) -> None:
        self.kept = kept
        self.index = index  # of the script's reply among the pipeline's
        self.queued = frozenset(queued)  # calls whose job went with the pipeline

    def abandon(self) -> None:
        """The pipeline failed: the ungated events go back to the block, so that its end
        hands them to the outbox (as ``emit`` would have), or straight to ``emit_many``
        once the block is over; gated ones are dropped with the rest of the request's
        writes."""
        ungated = [event for event, gate in self.kept if gate is None]
        kept = _deferred.get()
        if kept is not None:
            kept.extend((event, None) for event in ungated)
        else:
            emit_many(ungated)

    def settle(self, results: list[Any]) -> None:
        """After the pipeline ran (``results``: all its replies): queue a job for each call
        whose pending flag was clear, unless one went with the pipeline. Never raises: when
        the jobs cannot be queued, the flags are cleared and the events go to the outbox."""
        if not self.kept:
            return
        needing: set[str] = set()
        delivered: dict[str, list[dict[str, Any]]] = {}
        for (event, _gate_of), result in zip(self.kept, results[self.index], strict=True):
            call_sid = str(event.get("call_sid"))
            if result != -1:
                delivered.setdefault(call_sid, []).append(event)
            if result == 1 and call_sid not in self.queued:
                needing.add(call_sid)
        if not needing:
            return
        try:
            enqueue_calls(list(needing))
            return
        except Exception:
            log.warning("could not queue the register jobs of %s", list(needing), exc_info=True)
            try:
                redis_store.client.delete(*(pending_key(call_sid) for call_sid in needing))
            except Exception:
                log.debug("could not clear the pending flags of %s", needing, exc_info=True)
        _keep([e for call_sid in needing for e in delivered.get(call_sid, [])])


def stage(pipe: Any, *, clear: Collection[str] = ()) -> Staged:
    """Add the events kept so far by the current ``deferred()`` block to ``pipe`` (one
    script for all, see ``_PUSH``); the caller runs the pipeline, then calls ``settle``
    with its replies (or ``abandon`` if it failed).

    ``clear``: calls whose pending flag the caller saw clear (at the start of its request).
    Their events need a job, and it is queued in the same pipeline, after the events: no
    round trip of its own. Should the flag have been set meanwhile, the call gets a second
    job, which finds nothing left to write; should it have been cleared for a call not in
    ``clear`` (the worker took its job meanwhile), ``settle`` queues the job."""
    kept = _deferred.get()
    staged = Staged(list(kept or []), len(pipe), ())
    if kept:
        kept.clear()
    if not staged.kept:
        return staged
    keys: list[str] = []
    args: list[Any] = [JOURNEY_TTL]
    for event, gate in staged.kept:
        call_sid = str(event.get("call_sid"))
        journey = journey_key(call_sid)
        hash_key, field, gate_ttl = gate or (journey, "", 0)
        keys += (journey, pending_key(call_sid), hash_key)
        args += (entry_for(event), field, gate_ttl)
    pipe.eval(_PUSH, len(keys), *keys, *args)
    calls = {str(event.get("call_sid")) for event, _gate in staged.kept}
    queued = [call_sid for call_sid in clear if call_sid in calls]
    if queued:
        queue = redis_store.queue(REGISTER_QUEUE)
        if queue.is_async:
            queue.enqueue_many([job_data(queue, call_sid) for call_sid in queued], pipeline=pipe)
            staged.queued = frozenset(queued)
    return staged


def _about(events: list[dict[str, Any]]) -> str:
    return ", ".join(f"{e.get('step')} of {e.get('call_sid')}" for e in events)


def _keep(events: list[dict[str, Any]]) -> None:
    """The outbox, or the spool file when the database fails too. Never raises."""
    if not events:
        return
    try:
        write_outbox(events)
        return
    except Exception:
        log.error(
            "database unavailable: events %s go to the spool file", _about(events), exc_info=True
        )
    for event in events:
        try:
            write_spool(event)
        except Exception:
            log.critical(
                "EVENT LOST (Redis, database and spool all failed): %s", event, exc_info=True
            )


def emit_many(events: list[dict[str, Any]]) -> None:
    """Hand events to the register together: one MULTI for all, one pipeline for the jobs
    they need; the outbox when Redis fails, the spool file when the database fails too.
    Never raises."""
    if not events:
        return
    try:
        push_events(events)
        return
    except Exception:
        log.warning("Redis unavailable: events %s go to the outbox", _about(events), exc_info=True)
    _keep(events)


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
    """Move the spool into the outbox, then the outbox into Redis. Returns events moved.

    The events of each batch are pushed onto their journey lists with a job queued for every
    call among them (whatever its pending flag says: a flag may have been left set by an
    enqueue that failed when Redis went away), and deleted from the outbox only after that;
    an event pushed twice is harmless (events are unique by id).
    """
    from register.models import RegisterOutbox

    flush_spool(session)
    moved = 0
    while True:
        rows = session.execute(
            select(RegisterOutbox.id, RegisterOutbox.payload)
            .order_by(RegisterOutbox.id)
            .limit(batch)
        ).all()
        if not rows:
            return moved
        push_events([json.loads(payload) for _id, payload in rows], force_job=True)
        session.execute(delete(RegisterOutbox).where(RegisterOutbox.id.in_([r[0] for r in rows])))
        session.commit()
        moved += len(rows)
