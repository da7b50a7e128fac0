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

It goes on with the next batch while register jobs are queued, for at most ``DRAIN_SECONDS``
(``_Drain``): one thread beside the job claims batch N+1 and does its Redis steps (1, and
the lists of 2), then step 5 of batch N, while the job writes batch N+1 (the stored rows of
2, then 3 and 4), so that the waits on Redis and on the database overlap.

A worker killed before the commit loses nothing: the lists are intact and rq retries the
jobs. A call whose events cannot be derived, or whose row the database refuses (the batch is
then written again one row per transaction), fails alone: the others are written, and its
job fails as rq would fail it (retried with backoff, then listed by ``flask register
failed``; when it is this job's own call, this job raises). Its journey list stays intact.
"""

from __future__ import annotations

import gc
import logging
import time
import traceback
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
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

from extensions import InFlight, db, redis_store
from register.events import (
    DESCRIPTION_PREFIX,
    JOB_NONCE_LEN,
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

BATCH_SIZE = 2000
# One job drains batch after batch while register jobs are queued, for at most this long (well
# within JOB_TIMEOUT): the next job starts a new work horse.
DRAIN_SECONDS = 60.0
# Calls per Lua call or pipeline: Redis runs a script alone, so keep each one short (a few
# ms) for the webhooks that share the server.
LUA_CHUNK = 500

# Take ids from the head of the queue while they are register jobs (ARGV[3], the id prefix),
# up to ARGV[1] of them, and record them in the started registry with a lease (score ARGV[2]
# = expiry) so rq's cleanup retries them if we die: one LRANGE, one LTRIM and one ZADD, not
# commands per job. Returns each id with its CallSid, read from the id itself (see
# register.events.new_job_id) or, for an id without one, from the job's description
# (ARGV[5] + CallSid, in the hash under ARGV[4] + id; '' when the job is gone).
_CLAIM = """
local ids = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
local prefix, described = ARGV[3], ARGV[5]
local sid_at = #prefix + 1 + tonumber(ARGV[6])
local out, scored = {}, {}
for _, id in ipairs(ids) do
  if string.sub(id, 1, #prefix) ~= prefix then break end
  local sid = ''
  if string.sub(id, sid_at, sid_at) == '-' then
    sid = string.sub(id, sid_at + 1)
  else
    local description = redis.call('HGET', ARGV[4] .. id, 'description')
    if description and string.sub(description, 1, #described) == described then
      sid = string.sub(description, #described + 1)
    end
  end
  out[#out + 1] = id
  out[#out + 1] = sid
  scored[#scored + 1] = ARGV[2]
  scored[#scored + 1] = id .. ':batch'
end
if #out > 0 then
  redis.call('LTRIM', KEYS[1], #out / 2, -1)
  redis.call('ZADD', KEYS[2], unpack(scored))
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
            DESCRIPTION_PREFIX,
            JOB_NONCE_LEN,
        )
        flat.extend(got)
        if len(got) < 2 * min(limit, LUA_CHUNK):
            break
        limit -= LUA_CHUNK
    # A CallSid of '' (the job is gone: done and deleted) leaves nothing to do.
    return [(flat[i].decode(), flat[i + 1].decode()) for i in range(0, len(flat), 2)]


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
    """Clear the calls' pending flags, then read their journey lists (one round trip per 500
    calls: one DEL, then an LRANGE per list; plain commands, no script; ``InFlight``, so no
    per-command work in redis-py).

    For each call: its events as one JSON array (the entries without their nonces, joined:
    one string to parse per call) and its last entry as read (for the trim); two empty
    strings when its list is empty.
    """
    out: list[tuple[bytes, bytes]] = []
    for i in range(0, len(call_sids), LUA_CHUNK):
        chunk = call_sids[i : i + LUA_CHUNK]
        commands: list[tuple[Any, ...]] = [("DEL", *[pending_key(sid) for sid in chunk])]
        commands += [("LRANGE", journey_key(sid), 0, -1) for sid in chunk]
        replies = InFlight(connection, commands).replies()  # raw replies: no per-command work
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


class Fetched:
    """A batch as read from Redis: its calls' new events (parsed), the last entry read of each
    (for the trim) and the calls whose entries could not be parsed (with the error)."""

    def __init__(self, connection: Redis, call_sids: Sequence[str]) -> None:
        sids = [s for s in dict.fromkeys(call_sids) if s]
        self.new_events: dict[str, list[dict[str, Any]]] = {}
        self.failed: dict[str, Exception] = {}
        self.last_read: dict[str, bytes] = {}
        for call_sid, (events, last) in zip(sids, read_journeys(connection, sids), strict=True):
            if not last:
                continue  # already written by an earlier job
            try:
                parsed = orjson.loads(events)
                if not all(isinstance(e, dict) for e in parsed):
                    raise ValueError("a journey entry is not an event")
            except ValueError as exc:  # orjson.JSONDecodeError included
                log.warning("unreadable journey entry of %s: %r", call_sid, exc)
                self.failed[call_sid] = exc
                continue
            self.new_events[call_sid] = parsed
            self.last_read[call_sid] = last


def store_calls(session: Session, fetched: Fetched) -> tuple[int, dict[str, Exception]]:
    """Derive the rows of a fetched batch, upsert them and commit. Returns the rows written
    and the calls that failed (those ``fetched`` could not parse included). Raises if the
    write fails."""
    failed = dict(fetched.failed)
    stored = stored_events(session, list(fetched.new_events))
    rows: list[dict[str, Any]] = []

    def derived() -> Iterator[dict[str, Any]]:
        for row in derive_rows(fetched.new_events, stored, failed):
            rows.append(row)  # kept for a row-by-row retry
            yield row

    written = _write(session, derived(), rows, failed)
    return written, failed


def _trim_done(
    connection: Redis,
    last_read: Mapping[str, bytes],
    claimed: Sequence[tuple[str, str]],
    failed: Mapping[str, Exception],
) -> None:
    """After the commit: trim what was read and release the claimed jobs, but those of the
    calls that failed (their lists stay intact, their jobs are failed or retried)."""
    trim_journeys(
        connection,
        {s: e for s, e in last_read.items() if s not in failed},
        [job_id for job_id, sid in claimed if sid not in failed],
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
    fetched = Fetched(connection, call_sids)
    written, failed = store_calls(session, fetched)
    _trim_done(connection, fetched.last_read, claimed, failed)
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
    """Write the register row of a call, and of the calls queued behind it: batch after
    batch (each of up to ``batch_size`` claimed jobs) while register jobs are queued, for at
    most ``DRAIN_SECONDS``. One thread beside the job does the Redis side (claim and read the
    next batch, trim the last one) while the job derives and writes the current batch: the
    waits on Redis and on the database overlap. Returns the rows written."""
    session = db.session()
    job = get_current_job()
    connection: Redis = job.connection if job is not None else redis_store.client
    limit = BATCH_SIZE if batch_size is None else batch_size
    if job is None or limit <= 0:
        with _no_gc():
            written, failed = ingest_calls(session, connection, [call_sid])
        if call_sid in failed:
            raise ValueError(f"register row of {call_sid} not written") from failed[call_sid]
        return written
    # The collector stays off until the batches are freed (by reference counting): turned on
    # earlier, it would scan each whole batch again and again.
    with _no_gc(), ThreadPoolExecutor(1, thread_name_prefix="register-redis") as redis_io:
        drain = _Drain(session, connection, redis_io, call_sid)
        drain.run(limit)
    if drain.own_failure is not None:
        raise ValueError(f"register row of {call_sid} not written") from drain.own_failure
    return drain.written


class _Batch:
    """Claimed jobs (job id, CallSid) and their calls' journeys as read from Redis (or the
    error that kept them from being read)."""

    def __init__(
        self,
        claimed: list[tuple[str, str]],
        sids: list[str],
        fetched: Fetched | None = None,
        error: Exception | None = None,
    ) -> None:
        self.claimed = claimed
        self.sids = sids
        self.fetched = fetched
        self.error = error


def _next_batch(connection: Redis, limit: int, own_call: str | None = None) -> _Batch:
    """Claim up to ``limit`` queued register jobs (after the job's own call, for the first
    batch) and read their calls' journeys. Raises when the claim fails (what a failed
    claim took stays leased: rq's maintenance queues it again), but for the first batch,
    which then holds the job's own call alone."""
    try:
        claimed = _claim(connection, limit)
    except Exception:
        if not own_call:
            raise
        log.warning("could not claim more register jobs", exc_info=True)
        claimed = []
    sids = list(dict.fromkeys([*([own_call] if own_call else []), *(s for _j, s in claimed if s)]))
    if not sids:
        return _Batch(claimed, sids)
    try:
        return _Batch(claimed, sids, Fetched(connection, sids))
    except Exception as exc:  # Redis went away: the batch's jobs are retried
        log.warning("could not read the journeys of %d calls", len(sids), exc_info=True)
        return _Batch(claimed, sids, error=exc)


class _Drain:
    """Batch after batch, the Redis side of each on ``redis_io`` (one thread, in order):
    claim and read batch N+1, then trim batch N, while this thread writes batch N+1."""

    def __init__(
        self, session: Session, connection: Redis, redis_io: ThreadPoolExecutor, own_call: str
    ) -> None:
        self.session = session
        self.connection = connection
        self.redis_io = redis_io
        self.own_call = own_call
        self.written = 0
        self.own_failure: Exception | None = None
        self._trim: tuple[Future[None], _Batch, dict[str, Exception]] | None = None

    def run(self, limit: int) -> None:
        deadline = time.monotonic() + DRAIN_SECONDS
        upcoming: Future[_Batch] | None = self.redis_io.submit(
            _next_batch, self.connection, limit, self.own_call
        )
        while upcoming is not None:
            try:
                batch = upcoming.result()
            except Exception as exc:
                log.warning("could not claim the next register batch", exc_info=True)
                if self.written == 0 and self._trim is None:
                    self.own_failure = exc  # not even the job's own call was read
                break
            if not batch.sids:
                break
            upcoming = None
            if batch.error is None and time.monotonic() < deadline:
                upcoming = self.redis_io.submit(_next_batch, self.connection, limit)
            failed = self._store(batch)
            if failed is None:  # the database went away: no more batches
                self._settle_last(upcoming)
                upcoming = None
        self._settle_trim()

    def _store(self, batch: _Batch) -> dict[str, Exception] | None:
        """Write the batch and queue its trim; None when the database failed."""
        fetched = batch.fetched
        if fetched is None:
            assert batch.error is not None
            self._finish(batch, dict.fromkeys(batch.sids, batch.error))
            return {}
        try:
            written, failed = store_calls(self.session, fetched)
        except Exception as exc:  # the database went away: the whole batch waits
            self.session.rollback()
            log.warning("batch of %d calls failed", len(batch.sids), exc_info=True)
            self._finish(batch, dict.fromkeys(batch.sids, exc))
            return None
        self.written += written
        batch.fetched = None  # the events are written: free them
        trim = self.redis_io.submit(
            _trim_done, self.connection, fetched.last_read, batch.claimed, failed
        )
        self._settle_trim()  # the one before this (done by now: the thread runs in order)
        self._trim = (trim, batch, failed)
        return failed

    def _settle_last(self, upcoming: Future[_Batch] | None) -> None:
        """After a failed write: the batch already being claimed is written if it can be
        (the database may be back), and no more are claimed."""
        if upcoming is not None:
            try:
                batch = upcoming.result()
            except Exception:
                log.warning("could not claim the next register batch", exc_info=True)
                return
            if batch.sids:
                self._store(batch)

    def _settle_trim(self) -> None:
        if self._trim is None:
            return
        trim, batch, failed = self._trim
        self._trim = None
        try:
            trim.result()
        except Exception as exc:  # committed but not trimmed: the jobs are retried and the
            # rows written again (idempotent)
            log.warning("could not trim a register batch", exc_info=True)
            failed = dict.fromkeys(batch.sids, exc)
        self._finish(batch, failed)

    def _finish(self, batch: _Batch, failed: Mapping[str, Exception]) -> None:
        """A claimed call that failed fails its own job: retried with backoff, then listed by
        ``flask register failed`` (never handed back to the queue, where the next batch would
        claim it again). The job's own call fails the job itself."""
        if self.own_call in failed and self.own_call in batch.sids:
            self.own_failure = failed[self.own_call]
        _fail(self.connection, [(j, failed[sid]) for j, sid in batch.claimed if sid in failed])


def flush_outbox_job() -> int:
    """Periodic: move the spool and the outbox into Redis."""
    return flush_outbox(db.session())


def purge_job(months: int | None = None) -> dict[str, int]:
    """Periodic: apply the retention setting (recordings and unmasked numbers)."""
    from flask import current_app

    from register.retention import purge

    keep = months if months is not None else int(current_app.config["REGISTER_RETENTION_MONTHS"])
    return purge(db.session(), keep)
