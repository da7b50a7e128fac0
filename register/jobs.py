"""rq jobs of the register: module-level functions over plain values.

``ingest_event(event)`` is the job of every journey event. To keep up with hundreds of calls a
second, the job also drains the events queued behind it: it claims up to ``BATCH_SIZE`` more
``ingest_event`` jobs from the head of the ``register`` queue (atomically, into the queue's
StartedJobRegistry, so a worker killed mid-batch loses nothing: rq's maintenance retries
abandoned jobs), writes all their events and rows in one go, then deletes the claimed jobs.
If the batch fails, the claimed jobs go back to the head of the queue and this job's own event
is written alone, so a bad event fails only its own job (and rq retries it with backoff).
"""

from __future__ import annotations

import logging
import zlib
from typing import Any

from redis import Redis
from rq import get_current_job
from rq.job import Job
from rq.registry import StartedJobRegistry
from rq.serializers import DefaultSerializer
from rq.utils import current_timestamp

from extensions import db, redis_store
from register.events import JOB_PREFIX, JOB_TIMEOUT, REGISTER_QUEUE, flush_outbox
from register.ingest import ingest_events

log = logging.getLogger(__name__)

BATCH_SIZE = 2000

# Pop ids from the head of the queue while they are register event jobs; record each in the
# started registry with a lease (score = expiry) so rq's cleanup retries them if we die.
_CLAIM = """
local out = {}
for i = 1, tonumber(ARGV[1]) do
  local id = redis.call('LINDEX', KEYS[1], 0)
  if not id or string.sub(id, 1, string.len(ARGV[3])) ~= ARGV[3] then break end
  redis.call('LPOP', KEYS[1])
  redis.call('ZADD', KEYS[2], ARGV[2], id .. ':batch')
  out[#out + 1] = id
  out[#out + 1] = redis.call('HGET', ARGV[4] .. id, 'data') or ''
end
return out
"""


def _claim_with_data(connection: Redis, limit: int) -> list[tuple[str, bytes]]:
    """Claim up to ``limit`` queued event jobs; returns (job id, the job's stored data)."""
    queue = redis_store.queue(REGISTER_QUEUE)
    registry = StartedJobRegistry(REGISTER_QUEUE, connection=connection)
    lease = current_timestamp() + JOB_TIMEOUT + 60
    flat = connection.eval(
        _CLAIM, 2, queue.key, registry.key, limit, lease, JOB_PREFIX, Job.redis_job_namespace_prefix
    )
    pairs = []
    for i in range(0, len(flat), 2):
        job_id = flat[i].decode() if isinstance(flat[i], bytes) else str(flat[i])
        pairs.append((job_id, flat[i + 1] if isinstance(flat[i + 1], bytes) else b""))
    return pairs


def _claim(connection: Redis, limit: int) -> list[str]:
    return [job_id for job_id, _data in _claim_with_data(connection, limit)]


def _release(connection: Redis, ids: list[str], *, requeue: bool) -> None:
    queue = redis_store.queue(REGISTER_QUEUE)
    registry = StartedJobRegistry(REGISTER_QUEUE, connection=connection)
    with connection.pipeline() as pipe:
        if ids:
            pipe.zrem(registry.key, *[f"{i}:batch" for i in ids])
            if requeue:
                pipe.lpush(queue.key, *reversed(ids))
            else:
                pipe.delete(*[Job.key_for(i) for i in ids])
        pipe.execute()


def _decode_event(data: bytes) -> dict[str, Any] | None:
    """The event argument of a stored ``ingest_event`` job (rq: zlib-compressed pickle)."""
    if not data:
        return None  # queued twice and already done: nothing to write
    try:
        raw = zlib.decompress(data)
    except zlib.error:
        raw = data
    _func, _instance, args, _kwargs = DefaultSerializer.loads(raw)
    return args[0] if args else None


def _claimed_events(pairs: list[tuple[str, bytes]]) -> tuple[list[str], list[dict[str, Any]]]:
    ids = [job_id for job_id, _data in pairs]
    events = [e for e in (_decode_event(data) for _id, data in pairs) if e is not None]
    return ids, events


def ingest_event(event: dict[str, Any], batch_size: int | None = None) -> int:
    """Write a journey event (and the events queued behind it) into the register."""
    session = db.session()
    job = get_current_job()
    limit = BATCH_SIZE if batch_size is None else batch_size
    claimed: list[str] = []
    extra: list[dict[str, Any]] = []
    if job is not None and limit > 0:
        try:
            claimed, extra = _claimed_events(_claim_with_data(job.connection, limit))
        except Exception:
            log.warning("could not claim more register jobs", exc_info=True)
            claimed, extra = [], []
    if claimed:
        try:
            written = ingest_events(session, [event, *extra])
        except Exception:
            session.rollback()
            log.warning(
                "batch of %d events failed; writing %s alone",
                len(extra) + 1,
                event.get("id"),
                exc_info=True,
            )
            _release(job.connection, claimed, requeue=True)  # type: ignore[union-attr]
        else:
            _release(job.connection, claimed, requeue=False)  # type: ignore[union-attr]
            return written
    return ingest_events(session, [event])


def flush_outbox_job() -> int:
    """Periodic: move the spool and the outbox into the queue."""
    return flush_outbox(db.session())


def purge_job(months: int | None = None) -> dict[str, int]:
    """Periodic: apply the retention setting (recordings and unmasked numbers)."""
    from flask import current_app

    from register.retention import purge

    keep = months if months is not None else int(current_app.config["REGISTER_RETENTION_MONTHS"])
    return purge(db.session(), keep)
