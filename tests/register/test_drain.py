"""One register job drains batch after batch, the Redis side of each overlapping the write of
the one before (register.jobs.ingest_call): nothing is lost when a batch fails midway."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import register.jobs
from extensions import redis_store
from register.events import journey_key, push_events
from register.models import RegisterCall
from tests.register.journeys import plataforma_answered

CALLS = 35  # with batches of 10: the job's own call and 10 claimed, then 10, 10 and 4


@pytest.fixture(autouse=True)
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(register.jobs, "BATCH_SIZE", 10)


def _queue_calls(n: int = CALLS) -> list[str]:
    sids = [f"CA{i:032d}" for i in range(n)]
    for sid in sids:
        push_events(plataforma_answered(sid))
    return sids


def _rows(session: Session) -> int:
    session.expire_all()
    return int(session.scalar(select(func.count()).select_from(RegisterCall)) or 0)


def _fail_once_on_call(monkeypatch: pytest.MonkeyPatch, name: str, nth: int) -> None:
    """``register.jobs.<name>`` raises ConnectionError on its ``nth`` call only."""
    real = getattr(register.jobs, name)
    calls = {"n": 0}

    def flaky(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == nth:
            raise ConnectionError(f"{name} failed (test)")
        return real(*args, **kwargs)

    monkeypatch.setattr(register.jobs, name, flaky)


def test_one_job_drains_every_batch_queued(session: Session, work: Callable[..., None]) -> None:
    sids = _queue_calls()
    queue = redis_store.queue("register")
    work(max_jobs=1)
    assert _rows(session) == CALLS
    assert queue.count == 0 and queue.started_job_registry.count == 0
    assert redis_store.client.exists(*[journey_key(s) for s in sids]) == 0
    assert queue.scheduled_job_registry.count == 0 and queue.failed_job_registry.count == 0


def test_the_drain_stops_at_its_time_limit(
    session: Session, work: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(register.jobs, "DRAIN_SECONDS", 0.0)
    _queue_calls()
    queue = redis_store.queue("register")
    work(max_jobs=1)
    assert _rows(session) == 11  # its own call and one batch of 10
    assert queue.count == CALLS - 11  # the rest waits for the next jobs
    work()
    assert _rows(session) == CALLS


def test_a_database_failure_midway_retries_that_batch_and_stops_the_drain(
    session: Session, work: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    _fail_once_on_call(monkeypatch, "store_calls", 2)
    sids = _queue_calls()
    queue = redis_store.queue("register")
    work(max_jobs=1)
    # Batch 1 (11 calls) written; batch 2 (10) failed and is retried with backoff; batch 3,
    # already claimed while batch 2 was written, written too; batch 4 waits in the queue.
    assert _rows(session) == 21
    scheduled = queue.scheduled_job_registry
    assert scheduled.count == 10
    assert queue.count == 4
    assert queue.started_job_registry.count == 0
    for job_id in scheduled.get_job_ids():
        scheduled.requeue(job_id)  # as rq's scheduler does when the backoff is over
    work()
    assert _rows(session) == CALLS
    assert redis_store.client.exists(*[journey_key(s) for s in sids]) == 0


def test_a_redis_failure_reading_a_later_batch_retries_its_jobs(
    session: Session, work: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    _fail_once_on_call(monkeypatch, "read_journeys", 2)
    sids = _queue_calls()
    queue = redis_store.queue("register")
    work(max_jobs=1)
    assert _rows(session) == 11  # batch 1; batch 2 could not be read: the drain stops there
    scheduled = queue.scheduled_job_registry
    assert scheduled.count == 10
    assert queue.count == CALLS - 21
    for job_id in scheduled.get_job_ids():
        scheduled.requeue(job_id)
    work()
    assert _rows(session) == CALLS
    assert redis_store.client.exists(*[journey_key(s) for s in sids]) == 0


def test_a_failed_trim_retries_the_batch_and_writes_each_row_once(
    session: Session, work: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    _fail_once_on_call(monkeypatch, "trim_journeys", 1)
    sids = _queue_calls()
    queue = redis_store.queue("register")
    work(max_jobs=1)
    assert _rows(session) == CALLS  # every batch was committed
    scheduled = queue.scheduled_job_registry
    # Batch 1's jobs are retried with backoff: the 10 claimed, and the job itself (it raised,
    # its own call being in the batch).
    assert scheduled.count == 11
    assert queue.failed_job_registry.count == 0
    for job_id in scheduled.get_job_ids():
        scheduled.requeue(job_id)
    work()
    session.expire_all()
    rows = list(session.scalars(select(RegisterCall)))
    assert len(rows) == CALLS
    assert {(r.event_count, len(r.events)) for r in rows} == {(10, 10)}
    assert redis_store.client.exists(*[journey_key(s) for s in sids]) == 0


def test_the_claim_reads_the_call_from_the_job_id_or_its_description(app: object) -> None:
    from register.jobs import _claim

    plain = "CA" + "e" * 32
    odd = "CA-legacy-1"  # not letters and digits only: the id carries no CallSid
    push_events(plataforma_answered(plain))
    push_events(plataforma_answered(odd))
    queue = redis_store.queue("register")
    ids = queue.job_ids
    assert ids[0].endswith("-" + plain) and odd not in ids[1]
    push_events(plataforma_answered("CA" + "f" * 32))
    gone = queue.job_ids[-1]
    redis_store.client.delete(f"rq:job:{gone}")  # its hash is gone (done and deleted)
    # An id of the old form (no CallSid in it) whose hash is gone too.
    redis_store.client.rpush(queue.key, "reg-" + "0" * 20)
    claimed = _claim(redis_store.client, 10)
    assert claimed == [
        (ids[0], plain),
        (ids[1], odd),
        (gone, "CA" + "f" * 32),
        ("reg-" + "0" * 20, ""),
    ]
    assert queue.count == 0
    assert queue.started_job_registry.count == 4


def test_a_failed_first_claim_still_writes_the_jobs_own_call(
    session: Session, work: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    _fail_once_on_call(monkeypatch, "_claim", 1)
    _queue_calls()
    queue = redis_store.queue("register")
    work(max_jobs=1)
    # The first batch is the job's own call alone; the next claims work again and drain the rest.
    assert _rows(session) == CALLS
    assert queue.count == 0
    assert queue.scheduled_job_registry.count == 0 and queue.failed_job_registry.count == 0
