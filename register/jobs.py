"""rq jobs of the register: module-level functions over plain values.

``ingest_call(call_sid)`` is the job of a call with new journey events (register/events.py
queues at most one per call at a time). To keep up with hundreds of calls a second it also
takes the calls queued behind it: it claims up to ``BATCH_SIZE`` more register jobs from the
head of the ``register`` queue (atomically, into the queue's StartedJobRegistry, so a worker
killed mid-batch loses nothing: rq's maintenance retries abandoned jobs). For the whole batch
(``ingest_calls``) it then

1. deletes the calls' pending flags (an event arriving from now on queues a new job),
2. reads their journey lists (one pipeline) and their stored rows (one SELECT per 500),
3. merges the new events into each row's journey and derives each row again,
4. upserts all the rows in one executemany and commits,
5. and only then trims from each list exactly the entries it read (events that arrived
   meanwhile stay, with their new job), and deletes the claimed jobs.

A worker killed before the commit loses nothing: the lists are intact and rq retries the
jobs. A call whose events cannot be derived fails alone: the others are written, its own job
is put back at the head of the queue (or, when it is this job's own call, this job raises)
so that rq retries it with backoff and ``flask register failed`` lists it. If the batch write
itself fails, the claimed jobs go back to the queue and the job writes its own call alone.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from redis import Redis
from rq import get_current_job
from rq.job import Job
from rq.registry import StartedJobRegistry
from rq.utils import current_timestamp
from sqlalchemy.orm import Session

from extensions import db, redis_store
from register.events import (
    DESCRIPTION_PREFIX,
    JOB_PREFIX,
    JOB_TIMEOUT,
    REGISTER_QUEUE,
    event_of,
    flush_outbox,
    journey_key,
    pending_key,
)
from register.ingest import merge_rows, upsert_rows

log = logging.getLogger(__name__)

BATCH_SIZE = 2000

# Pop ids from the head of the queue while they are register jobs; record each in the started
# registry with a lease (score = expiry) so rq's cleanup retries them if we die. Returns each
# id with its description ("register <CallSid>").
_CLAIM = """
local out = {}
for i = 1, tonumber(ARGV[1]) do
  local id = redis.call('LINDEX', KEYS[1], 0)
  if not id or string.sub(id, 1, string.len(ARGV[3])) ~= ARGV[3] then break end
  redis.call('LPOP', KEYS[1])
  redis.call('ZADD', KEYS[2], ARGV[2], id .. ':batch')
  out[#out + 1] = id
  out[#out + 1] = redis.call('HGET', ARGV[4] .. id, 'description') or ''
end
return out
"""

# For each journey list: drop everything up to and including the last entry this worker read
# (entries are unique: see register.events.entry_for). Entries pushed after the read stay; if
# another worker already trimmed past it, nothing is dropped.
_TRIM = """
for i = 1, #KEYS do
  local last = redis.call('LPOS', KEYS[i], ARGV[i])
  if last then redis.call('LTRIM', KEYS[i], last + 1, -1) end
end
return #KEYS
"""


def _claim(connection: Redis, limit: int) -> list[tuple[str, str]]:
    """Claim up to ``limit`` queued register jobs; returns (job id, CallSid) pairs."""
    queue = redis_store.queue(REGISTER_QUEUE)
    registry = StartedJobRegistry(REGISTER_QUEUE, connection=connection)
    lease = current_timestamp() + JOB_TIMEOUT + 60
    flat = connection.eval(
        _CLAIM, 2, queue.key, registry.key, limit, lease, JOB_PREFIX, Job.redis_job_namespace_prefix
    )
    pairs = []
    for i in range(0, len(flat), 2):
        job_id = flat[i].decode() if isinstance(flat[i], bytes) else str(flat[i])
        description = flat[i + 1].decode() if isinstance(flat[i + 1], bytes) else ""
        if description.startswith(DESCRIPTION_PREFIX):
            pairs.append((job_id, description[len(DESCRIPTION_PREFIX) :]))
        else:
            pairs.append((job_id, ""))  # no such job any more (done and deleted): nothing to do
    return pairs


def _release(connection: Redis, ids: Sequence[str], *, requeue: bool) -> None:
    """Claimed jobs done (deleted) or handed back to the head of the queue."""
    if not ids:
        return
    queue = redis_store.queue(REGISTER_QUEUE)
    registry = StartedJobRegistry(REGISTER_QUEUE, connection=connection)
    with connection.pipeline() as pipe:
        pipe.zrem(registry.key, *[f"{i}:batch" for i in ids])
        if requeue:
            pipe.lpush(queue.key, *reversed(ids))
        else:
            pipe.delete(*[Job.key_for(i) for i in ids])
        pipe.execute()


def read_journeys(connection: Redis, call_sids: Sequence[str]) -> list[list[bytes]]:
    """Clear the calls' pending flags, then read their journey lists (one round trip)."""
    with connection.pipeline(transaction=False) as pipe:
        for call_sid in call_sids:
            pipe.delete(pending_key(call_sid))
            pipe.lrange(journey_key(call_sid), 0, -1)
        replies = pipe.execute()
    return [list(replies[2 * i + 1]) for i in range(len(call_sids))]


def trim_journeys(connection: Redis, read: dict[str, bytes]) -> None:
    """Drop from each list the entries read up to ``read[call_sid]`` (the last one read)."""
    items = list(read.items())
    for i in range(0, len(items), 1000):
        chunk = items[i : i + 1000]
        connection.eval(
            _TRIM, len(chunk), *[journey_key(s) for s, _ in chunk], *[e for _, e in chunk]
        )


def ingest_calls(
    session: Session, connection: Redis, call_sids: Sequence[str]
) -> tuple[int, dict[str, Exception]]:
    """Write the rows of these calls from their journey lists (see the module docstring).

    Returns the rows written and the calls that could not be derived (left untouched in
    Redis). Raises if the write fails (nothing is trimmed then).
    """
    sids = [s for s in dict.fromkeys(call_sids) if s]
    lists = read_journeys(connection, sids)
    new_events: dict[str, list[dict[str, Any]]] = {}
    failed: dict[str, Exception] = {}
    last_read: dict[str, bytes] = {}
    for call_sid, entries in zip(sids, lists, strict=True):
        if not entries:
            continue  # already written by an earlier job
        try:
            new_events[call_sid] = [event_of(entry) for entry in entries]
        except ValueError as exc:  # JSONDecodeError included
            log.warning("unreadable journey entry of %s: %r", call_sid, exc)
            failed[call_sid] = exc
            continue
        last_read[call_sid] = entries[-1]
    rows, bad = merge_rows(session, new_events)
    failed.update(bad)
    upsert_rows(session, rows)
    session.commit()
    trim_journeys(connection, {s: e for s, e in last_read.items() if s not in failed})
    return len(rows), failed


def ingest_call(call_sid: str, batch_size: int | None = None) -> int:
    """Write the register row of a call (and of the calls queued behind it)."""
    session = db.session()
    job = get_current_job()
    connection: Redis = job.connection if job is not None else redis_store.client
    limit = BATCH_SIZE if batch_size is None else batch_size
    claimed: list[tuple[str, str]] = []
    if job is not None and limit > 0:
        try:
            claimed = _claim(connection, limit)
        except Exception:
            log.warning("could not claim more register jobs", exc_info=True)
            claimed = []
    try:
        written, failed = ingest_calls(session, connection, [call_sid, *(s for _, s in claimed)])
    except Exception:
        session.rollback()
        if not claimed:
            raise
        log.warning(
            "batch of %d calls failed; writing %s alone", len(claimed) + 1, call_sid, exc_info=True
        )
        _release(connection, [job_id for job_id, _ in claimed], requeue=True)
        written, failed = ingest_calls(session, connection, [call_sid])
    else:
        _release(connection, [j for j, s in claimed if s not in failed], requeue=False)
        # Each call that failed runs again as its own job, to fail (and be retried) alone.
        _release(connection, [j for j, s in claimed if s in failed], requeue=True)
    if call_sid in failed:
        raise ValueError(f"bad journey event for {call_sid}") from failed[call_sid]
    return written


def flush_outbox_job() -> int:
    """Periodic: move the spool and the outbox into Redis."""
    return flush_outbox(db.session())


def purge_job(months: int | None = None) -> dict[str, int]:
    """Periodic: apply the retention setting (recordings and unmasked numbers)."""
    from flask import current_app

    from register.retention import purge

    keep = months if months is not None else int(current_app.config["REGISTER_RETENTION_MONTHS"])
    return purge(db.session(), keep)
