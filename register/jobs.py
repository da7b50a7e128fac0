"""rq jobs of the register: module-level functions over plain values.

``ingest_call(call_sid)`` is the job of a call with new journey events (register/events.py
queues at most one per call at a time). To keep up with hundreds of calls a second it also
takes the calls queued behind it: it claims up to ``BATCH_SIZE`` more register jobs from the
head of the ``register`` queue (atomically, into the queue's StartedJobRegistry, so a worker
killed mid-batch loses nothing: rq's maintenance retries abandoned jobs). For the whole batch
(``ingest_calls``) it then

1. deletes the calls' pending flags (an event arriving from now on queues a new job),
2. reads their journey lists (a pipeline of plain LRANGEs per 500 calls; each call's
   entries, without their nonces, joined into one JSON array to parse) and their stored
   rows (one SELECT; per 500 calls on SQLite),
3. merges the new events into each row's journey and derives each row again,
4. upserts all the rows (streamed: each row is sent as soon as it is derived; on PostgreSQL
   by COPY into a temporary table and one INSERT … SELECT … ON CONFLICT, see
   register.ingest) and commits,
5. and only then trims from each list exactly the entries it read (events that arrived
   meanwhile stay, with their new job) and, in the same Lua scripts, takes the claimed jobs
   out of the started registry and unlinks them.

A worker killed before the commit loses nothing: the lists are intact and rq retries the
jobs. A call whose events cannot be derived, or whose row the database refuses (the batch is
then written again one row per transaction), fails alone: the others are written, and its
job fails as rq would fail it (retried with backoff, then listed by ``flask register
failed``; when it is this job's own call, this job raises). Its journey list stays intact.
"""

from __future__ import annotations

import gc
import logging
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import orjson
from redis import Redis
from rq import get_current_job
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry
from rq.utils import current_timestamp
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from extensions import db, redis_store
from register.events import (
    DESCRIPTION_PREFIX,
    JOB_PREFIX,
    JOB_TIMEOUT,
    NONCE_LEN,
    REGISTER_QUEUE,
    flush_outbox,
    journey_key,
    pending_key,
)
from register.ingest import derive_rows, stored_events, upsert_rows

log = logging.getLogger(__name__)

BATCH_SIZE = 5000
# Calls per Lua call or pipeline: Redis runs a script alone, so keep each one short (a few
# ms) for the webhooks that share the server.
LUA_CHUNK = 500

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
# another worker already trimmed past it, nothing is dropped. Then the claimed jobs that are
# done: out of the started registry (KEYS[1]), their hashes unlinked.
# KEYS: registry, the n lists, the jobs; ARGV: n, the n last entries, the registry members.
_TRIM = """
local n = tonumber(ARGV[1])
for i = 2, n + 1 do
  local last = redis.call('LPOS', KEYS[i], ARGV[i])
  if last then redis.call('LTRIM', KEYS[i], last + 1, -1) end
end
if #KEYS > n + 1 then
  redis.call('ZREM', KEYS[1], unpack(ARGV, n + 2))
  redis.call('UNLINK', unpack(KEYS, n + 2))
end
return n
"""


def _claim(connection: Redis, limit: int) -> list[tuple[str, str]]:
    """Claim up to ``limit`` queued register jobs; returns (job id, CallSid) pairs."""
    queue = redis_store.queue(REGISTER_QUEUE)
    registry = StartedJobRegistry(REGISTER_QUEUE, connection=connection)
    lease = current_timestamp() + JOB_TIMEOUT + 60
    flat: list[Any] = []
    while limit > 0:
        got = connection.eval(
            _CLAIM,
            2,
            queue.key,
            registry.key,
            min(limit, LUA_CHUNK),
            lease,
            JOB_PREFIX,
            Job.redis_job_namespace_prefix,
        )
        flat.extend(got)
        if len(got) < 2 * min(limit, LUA_CHUNK):
            break
        limit -= LUA_CHUNK
    pairs = []
    for i in range(0, len(flat), 2):
        job_id = flat[i].decode() if isinstance(flat[i], bytes) else str(flat[i])
        description = flat[i + 1].decode() if isinstance(flat[i + 1], bytes) else ""
        if description.startswith(DESCRIPTION_PREFIX):
            pairs.append((job_id, description[len(DESCRIPTION_PREFIX) :]))
        else:
            pairs.append((job_id, ""))  # no such job any more (done and deleted): nothing to do
    return pairs


def _fail(connection: Redis, failures: Sequence[tuple[str, Exception]]) -> None:
    """Claimed jobs whose call failed: retried with backoff as rq would, or failed for good."""
    if not failures:
        return
    queue = redis_store.queue(REGISTER_QUEUE)
    registry = StartedJobRegistry(REGISTER_QUEUE, connection=connection)
    with connection.pipeline() as pipe:
        for job_id, exc in failures:
            pipe.zrem(registry.key, f"{job_id}:batch")
            try:
                job = Job.fetch(job_id, connection=connection)
            except NoSuchJobError:
                continue
            if job.should_retry:
                job.retry(queue, pipe)
            else:
                job.set_status(JobStatus.FAILED, pipeline=pipe)
                text = "".join(traceback.format_exception(exc))
                queue.failed_job_registry.add(
                    job, ttl=job.failure_ttl, exc_string=text, pipeline=pipe
                )
        pipe.execute()


def read_journeys(connection: Redis, call_sids: Sequence[str]) -> list[tuple[bytes, bytes]]:
    """Clear the calls' pending flags, then read their journey lists (one pipeline per 500
    calls: one DEL, then an LRANGE per list; plain commands, no script).

    For each call: its events as one JSON array (the entries without their nonces, joined:
    one string to parse per call) and its last entry as read (for the trim); two empty
    strings when its list is empty.
    """
    out: list[tuple[bytes, bytes]] = []
    for i in range(0, len(call_sids), LUA_CHUNK):
        chunk = call_sids[i : i + LUA_CHUNK]
        with connection.pipeline(transaction=False) as pipe:
            pipe.delete(*[pending_key(sid) for sid in chunk])
            for sid in chunk:
                pipe.lrange(journey_key(sid), 0, -1)
            replies = pipe.execute()
        for entries in replies[1:]:
            if entries:
                body = b",".join([e[NONCE_LEN:] for e in entries])
                out.append((b"[" + body + b"]", entries[-1]))
            else:
                out.append((b"", b""))
    return out


def trim_journeys(connection: Redis, read: dict[str, bytes], done_jobs: Sequence[str] = ()) -> None:
    """Drop from each list the entries read up to ``read[call_sid]`` (the last one read); in
    the same scripts, release the claimed jobs ``done_jobs`` (out of the started registry,
    deleted)."""
    registry = StartedJobRegistry(REGISTER_QUEUE, connection=connection).key
    items = list(read.items())
    jobs = list(done_jobs)
    for i in range(0, max(len(items), len(jobs)), LUA_CHUNK):
        chunk = items[i : i + LUA_CHUNK]
        ids = jobs[i : i + LUA_CHUNK]
        connection.eval(
            _TRIM,
            1 + len(chunk) + len(ids),
            registry,
            *[journey_key(s) for s, _ in chunk],
            *[Job.key_for(j) for j in ids],
            len(chunk),
            *[e for _, e in chunk],
            *[f"{j}:batch" for j in ids],
        )


def ingest_calls(
    session: Session,
    connection: Redis,
    call_sids: Sequence[str],
    claimed: Sequence[tuple[str, str]] = (),
) -> tuple[int, dict[str, Exception]]:
    """Write the rows of these calls from their journey lists (see the module docstring).

    Returns the rows written and the calls that could not be derived (left untouched in
    Redis). Raises if the write fails (nothing is trimmed then). The ``claimed`` jobs (job
    id, CallSid) of the calls that did not fail are released with the trim.
    """
    sids = [s for s in dict.fromkeys(call_sids) if s]
    new_events: dict[str, list[dict[str, Any]]] = {}
    failed: dict[str, Exception] = {}
    last_read: dict[str, bytes] = {}
    for call_sid, (events, last) in zip(sids, read_journeys(connection, sids), strict=True):
        if not last:
            continue  # already written by an earlier job
        try:
            parsed = orjson.loads(events)
            if not all(isinstance(e, dict) for e in parsed):
                raise ValueError("a journey entry is not an event")
        except ValueError as exc:  # orjson.JSONDecodeError included
            log.warning("unreadable journey entry of %s: %r", call_sid, exc)
            failed[call_sid] = exc
            continue
        new_events[call_sid] = parsed
        last_read[call_sid] = last
    stored = stored_events(session, list(new_events))
    rows: list[dict[str, Any]] = []

    def derived() -> Iterator[dict[str, Any]]:
        for row in derive_rows(new_events, stored, failed):
            rows.append(row)  # kept for a row-by-row retry
            yield row

    written = _write(session, derived(), rows, failed)
    trim_journeys(
        connection,
        {s: e for s, e in last_read.items() if s not in failed},
        [job_id for job_id, sid in claimed if sid not in failed],
    )
    return written, failed


def _write(
    session: Session,
    derived: Iterator[dict[str, Any]],
    rows: list[dict[str, Any]],
    failed: dict[str, Exception],
) -> int:
    """Upsert the rows as ``derived`` yields them (it appends each to ``rows``) and commit; if
    that fails, one transaction per row so that only the rows the database refuses fail
    (added to ``failed``). Returns the rows written."""
    try:
        upsert_rows(session, derived)
        session.commit()
        return len(rows)
    except SQLAlchemyError:
        session.rollback()
        for _row in derived:  # derive the rest, if the error came before the end
            pass
        if len(rows) <= 1:
            raise
        log.warning("batch write of %d rows failed; writing them one by one", len(rows))
    written = 0
    for i, row in enumerate(rows):
        try:
            upsert_rows(session, [row])
            session.commit()
            written += 1
        except SQLAlchemyError as exc:
            session.rollback()
            failed[row["call_sid"]] = exc
            if isinstance(exc, OperationalError):  # the database itself: stop trying
                for rest in rows[i + 1 :]:
                    failed[rest["call_sid"]] = exc
                break
    return written


@contextmanager
def _no_gc() -> Iterator[None]:
    """The cyclic garbage collector off while a batch builds its many small objects (it would
    scan them all again and again; reference counting still frees everything)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


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
    sids = [call_sid, *(sid for _job, sid in claimed)]
    try:
        # The collector stays off until ingest_calls has returned and its batch is freed
        # (by reference counting): turned on earlier, it would scan the whole batch.
        with _no_gc():
            written, failed = ingest_calls(session, connection, sids, claimed)
    except Exception as exc:  # Redis or the database went away: the whole batch waits
        session.rollback()
        if not claimed:
            raise
        log.warning("batch of %d calls failed", len(sids), exc_info=True)
        written, failed = 0, dict.fromkeys(sids, exc)
    # A claimed call that failed fails its own job: retried with backoff, then listed by
    # ``flask register failed`` (never handed back to the queue, where the next batch would
    # claim it again).
    _fail(connection, [(job_id, failed[sid]) for job_id, sid in claimed if sid in failed])
    if call_sid in failed:
        raise ValueError(f"register row of {call_sid} not written") from failed[call_sid]
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
