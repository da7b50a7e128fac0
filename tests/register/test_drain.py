"""The register's drain (register/jobs.py): the events stream read through a consumer group,
one upsert per batch, entries acknowledged only once their rows are committed."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from register import jobs
from register.events import GROUP, STREAM, WAKE_KEY, Sink, wake_if_waiting
from register.jobs import drain_stream, ensure_group, read_batches
from register.models import RegisterCall
from tests.register.journeys import plataforma_answered, technical_alterno

Deliver = Callable[[list[dict[str, Any]]], None]


def sid(i: int) -> str:
    return f"CA{i:032d}"


def rows(session: Session) -> list[RegisterCall]:
    session.expire_all()
    return list(session.scalars(select(RegisterCall).order_by(RegisterCall.call_sid)))


def test_many_requests_queue_one_drain_that_writes_every_row(
    sink: Sink, deliver: Deliver, work: Callable[..., None], session: Session
) -> None:
    for i in range(5):
        for event in plataforma_answered(sid(i)):
            deliver([event])  # one request per event
    assert sink.queue.count == 1  # the wake flag: one drain for all of them
    work()
    assert [(r.call_sid, r.event_count, r.resultado) for r in rows(session)] == [
        (sid(i), 10, "atendida") for i in range(5)
    ]
    assert sink.r.xlen(STREAM) == 0  # entries deleted once written
    assert not sink.r.exists(WAKE_KEY)  # the next event queues a new drain
    deliver(plataforma_answered(sid(9)))
    assert sink.queue.count == 1


def test_a_call_split_across_drains_makes_one_complete_row(
    deliver: Deliver, work: Callable[..., None], session: Session
) -> None:
    events = technical_alterno(sid(1))
    deliver(events[:4])
    work()
    assert rows(session)[0].event_count == 4
    deliver(events[4:])
    deliver(events[2:6])  # and a duplicate delivery
    work()
    [row] = rows(session)
    assert (row.event_count, row.derivacion, row.resultado) == (len(events), "alterno", "atendida")


def test_events_arriving_while_a_drain_writes_are_written_by_it(
    sink: Sink, deliver: Deliver, work: Callable[..., None], session: Session, monkeypatch: Any
) -> None:
    deliver(plataforma_answered(sid(1)))
    real = jobs.write_batch
    late = plataforma_answered(sid(2))
    queued_meanwhile = []

    def write_batch(*args: Any) -> int:
        written = real(*args)
        if late:
            deliver(list(late))  # a webhook meanwhile: the flag is set, it queues no drain
            late.clear()
            queued_meanwhile.append(sink.queue.count)
        return written

    monkeypatch.setattr(jobs, "write_batch", write_batch)
    work(max_jobs=1)
    assert queued_meanwhile == [0]
    assert [r.call_sid for r in rows(session)] == [sid(1), sid(2)]  # the same drain
    assert sink.queue.count == 0 and sink.r.xlen(STREAM) == 0


def test_a_drain_killed_before_its_commit_loses_nothing(
    sink: Sink, deliver: Deliver, session: Session
) -> None:
    for i in range(5):
        deliver(plataforma_answered(sid(i)))
    ensure_group(sink.r)
    taken = next(read_batches(sink.r, "worker-that-dies", count=100, claim_idle_ms=60_000))
    assert len(taken) == 5 and sink.r.xpending(STREAM, GROUP)["pending"] == 5
    # The next drain claims what the dead one left once it is idle long enough.
    assert drain_stream(session, sink, "next-drain", claim_idle_ms=0) == 5
    assert [r.event_count for r in rows(session)] == [10] * 5
    assert sink.r.xlen(STREAM) == 0 and sink.r.xpending(STREAM, GROUP)["pending"] == 0


def test_a_database_failure_keeps_the_batch_for_the_retried_drain(
    sink: Sink, deliver: Deliver, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(3):
        deliver(plataforma_answered(sid(i)))

    def down(*_args: Any) -> None:
        raise OperationalError("INSERT", {}, Exception("the database went away (test)"))

    monkeypatch.setattr(jobs, "upsert_rows", down)
    with pytest.raises(OperationalError):
        drain_stream(session, sink, "job-1")
    assert rows(session) == [] and sink.r.xpending(STREAM, GROUP)["pending"] == 3
    monkeypatch.undo()
    assert drain_stream(session, sink, "job-1") == 3  # rq retries the same job
    assert sink.r.xlen(STREAM) == 0


def test_a_drain_that_died_is_replaced_by_the_periodic_wake(
    sink: Sink, deliver: Deliver, work: Callable[..., None], session: Session
) -> None:
    sink.r.set(WAKE_KEY, 1)  # left by a drain that died: no drain is queued
    deliver(plataforma_answered(sid(1)))
    assert sink.queue.count == 0
    assert wake_if_waiting(sink)
    assert not wake_if_waiting(sink)  # one is queued now
    work()
    assert len(rows(session)) == 1
    assert not wake_if_waiting(sink)  # nothing left to write


def test_a_stream_entry_that_is_not_events_is_kept_as_a_failed_job(
    sink: Sink, work: Callable[..., None], session: Session
) -> None:
    sink.r.xadd(STREAM, {"events": "not json"})
    sink.r.set(WAKE_KEY, 1)
    assert drain_stream(session, sink, "drain") == 0
    work()
    failed = sink.queue.failed_job_registry
    assert session.scalar(select(func.count()).select_from(RegisterCall)) == 0
    assert len(failed.get_job_ids()) + len(sink.queue.scheduled_job_registry.get_job_ids()) == 1


def test_a_drain_past_its_time_hands_over_to_a_new_job(
    sink: Sink, deliver: Deliver, work: Callable[..., None], session: Session
) -> None:
    for i in range(3):
        deliver(plataforma_answered(sid(i)))
    ensure_group(sink.r)
    assert drain_stream(session, sink, "short", count=1, seconds=0) == 1  # one batch, then...
    assert sink.queue.count == 2  # ...a new drain (beside the one the first delivery queued)
    assert sink.r.xinfo_consumers(STREAM, GROUP) == []  # it leaves no consumer behind
    work()
    assert len(rows(session)) == 3


def test_a_lingering_drain_writes_what_comes_while_it_waits_and_no_other_job_is_queued(
    sink: Sink, deliver: Deliver, session: Session
) -> None:
    """Production's drain stays on the empty stream for a while (REGISTER_DRAIN_LINGER_SECONDS):
    under load one job serves the line instead of several a second."""
    deliver(plataforma_answered(sid(1)))  # queues the drain
    assert sink.queue.count == 1
    late = threading.Timer(0.3, lambda: deliver(plataforma_answered(sid(2))))
    late.start()
    started = time.monotonic()
    written = drain_stream(session, sink, "lingering", linger=1.0, pace=0.05)
    late.join()
    assert written == 2
    assert time.monotonic() - started >= 1.3  # a second after the late call's entries
    assert sink.queue.count == 1  # the late call found the flag set: no drain of its own
    assert [r.call_sid for r in rows(session)] == [sid(1), sid(2)]
    assert not sink.r.exists(WAKE_KEY)  # and the next event queues a new one


def test_a_paced_drain_writes_what_came_during_its_pause_in_one_batch(
    sink: Sink, deliver: Deliver, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches: list[list[str]] = []
    write_batch = jobs.write_batch

    def spy(session: Session, queue: Any, batch: jobs.Batch) -> int:
        batches.append(sorted(batch.by_call))
        if len(batches) == 1:  # one call hangs up now, one a moment later
            deliver(plataforma_answered(sid(2)))
            threading.Timer(0.05, lambda: deliver(plataforma_answered(sid(3)))).start()
        return write_batch(session, queue, batch)

    monkeypatch.setattr(jobs, "write_batch", spy)
    deliver(plataforma_answered(sid(1)))
    assert drain_stream(session, sink, "paced", pace=0.6) == 3
    assert batches == [[sid(1)], [sid(2), sid(3)]]


def test_the_cyclic_collector_is_paused_for_a_batch_and_back_on_after_it(
    sink: Sink, deliver: Deliver, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[bool] = []
    write_batch = jobs.write_batch

    def spy(session: Session, queue: Any, batch: jobs.Batch) -> int:
        seen.append(gc.isenabled())
        if len(seen) == 2:
            raise OperationalError("INSERT", {}, Exception("the database went away"))
        return write_batch(session, queue, batch)

    monkeypatch.setattr(jobs, "write_batch", spy)
    deliver(plataforma_answered(sid(1)))
    assert drain_stream(session, sink, "gc") == 1
    assert seen == [False] and gc.isenabled()
    deliver(plataforma_answered(sid(2)))
    with pytest.raises(OperationalError):
        drain_stream(session, sink, "gc")
    assert seen == [False, False] and gc.isenabled()  # back on when a batch fails too
