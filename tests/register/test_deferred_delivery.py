"""A webhook request hands its journey events to the register together, at its end
(register.events.deferred / emit_many), with the same guarantees as one emit."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from rq.job import Job
from sqlalchemy import select
from sqlalchemy.orm import Session

from extensions import redis_store
from register.events import (
    FAILURE_TTL,
    JOB_TIMEOUT,
    RETRY_INTERVALS,
    deferred,
    emit,
    enqueue_calls,
    event_of,
    journey_key,
    once,
    pending_key,
    stage,
)
from register.models import RegisterOutbox
from tests.register.journeys import plataforma_answered

SID = "CA" + "d" * 32


def test_events_emitted_in_a_deferred_block_reach_redis_only_at_its_end(app: Flask) -> None:
    events = plataforma_answered(SID)[:3]
    with deferred():
        for ev in events:
            emit(ev)
        assert not redis_store.client.exists(journey_key(SID))
    entries = redis_store.client.lrange(journey_key(SID), 0, -1)
    assert [event_of(e)["id"] for e in entries] == [e["id"] for e in events]
    assert redis_store.client.exists(pending_key(SID))
    assert redis_store.queue("register").count == 1  # one job for the call, not one per event


def test_events_of_a_failing_deferred_block_are_still_delivered(app: Flask) -> None:
    events = plataforma_answered(SID)[:2]
    with pytest.raises(RuntimeError), deferred():
        for ev in events:
            emit(ev)
        raise RuntimeError("the view failed")
    assert redis_store.client.llen(journey_key(SID)) == 2


def test_deferred_events_go_to_the_outbox_when_redis_is_down(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(*_args: object, **_kwargs: object) -> None:
        raise ConnectionError("redis is down")

    monkeypatch.setattr("register.events.push_events", down)
    events = plataforma_answered(SID)[:3]
    with deferred():
        for ev in events:
            emit(ev)  # never raises
    stored = session.scalars(select(RegisterOutbox.event_id).order_by(RegisterOutbox.id)).all()
    assert stored == [e["id"] for e in events]


def test_jobs_queued_together_keep_the_register_job_options(app: Flask) -> None:
    sids = [f"CA{i:032d}" for i in range(3)]
    enqueue_calls(sids)
    queue = redis_store.queue("register")
    assert queue.count == 3
    jobs = [Job.fetch(job_id, connection=redis_store.client) for job_id in queue.job_ids]
    assert sorted(job.args[0] for job in jobs) == sids
    for job in jobs:
        assert job.func_name == "register.jobs.ingest_call"
        assert job.meta == {"call_sid": job.args[0]}
        assert job.description == f"register {job.args[0]}"
        assert job.timeout == JOB_TIMEOUT
        assert job.failure_ttl == FAILURE_TTL
        assert job.result_ttl == 0
        assert job.retries_left == len(RETRY_INTERVALS)
        assert job.retry_intervals == RETRY_INTERVALS


def _request(event: dict[str, object], gated: bool) -> None:
    """One webhook request's end: the event (gated or not) pushed in the caller's pipeline."""
    with deferred():
        if gated:
            with once("call:" + SID + ":seen:events", "main_menu:1:3", 60):
                emit(event)
        else:
            emit(event)
        pipe = redis_store.client.pipeline(transaction=False)
        staged = stage(pipe)
        staged.settle(pipe.execute())


def test_a_gated_event_is_delivered_once_even_when_a_replay_races_it(app: Flask) -> None:
    first, replay = plataforma_answered(SID)[:2]
    _request(first, gated=True)
    _request(replay, gated=True)  # the same request again: its event is dropped in Redis
    entries = redis_store.client.lrange(journey_key(SID), 0, -1)
    assert [event_of(e)["id"] for e in entries] == [first["id"]]
    assert redis_store.queue("register").count == 1


def test_when_the_callers_pipeline_fails_only_ungated_events_are_handed_over(
    app: Flask,
) -> None:
    direct, gated = plataforma_answered(SID)[:2]
    with deferred():
        emit(direct)
        with once("call:" + SID + ":seen:events", "incoming:1", 60):
            emit(gated)
        pipe = redis_store.client.pipeline(transaction=False)
        stage(pipe).abandon()  # the pipeline failed (not run)
    entries = redis_store.client.lrange(journey_key(SID), 0, -1)
    assert [event_of(e)["id"] for e in entries] == [direct["id"]]


def test_events_whose_job_cannot_be_queued_go_to_the_outbox(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(*_args: object, **_kwargs: object) -> None:
        raise ConnectionError("redis went away")

    monkeypatch.setattr("register.events.enqueue_calls", down)
    event = plataforma_answered(SID)[0]
    _request(event, gated=True)
    assert not redis_store.client.exists(pending_key(SID))  # the next event queues the job
    stored = session.scalars(select(RegisterOutbox.event_id)).all()
    assert stored == [event["id"]]  # and the outbox flush always queues one


def test_a_call_seen_without_a_pending_job_gets_it_in_the_same_pipeline(
    app: Flask, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_second_round_trip(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the job should have gone with the request's pipeline")

    monkeypatch.setattr("register.events.enqueue_calls", no_second_round_trip)
    events = plataforma_answered(SID)[:2]
    with deferred():
        for ev in events:
            emit(ev)
        pipe = redis_store.client.pipeline(transaction=False)
        staged = stage(pipe, clear=[SID])
        staged.settle(pipe.execute())
    assert redis_store.client.llen(journey_key(SID)) == 2
    assert redis_store.client.exists(pending_key(SID))
    queue = redis_store.queue("register")
    assert queue.count == 1
    job = Job.fetch(queue.job_ids[0], connection=redis_store.client)
    assert job.args == (SID,) and job.retries_left == len(RETRY_INTERVALS)
    assert session.scalars(select(RegisterOutbox.event_id)).all() == []


def test_a_job_taken_between_the_read_and_the_write_is_queued_again(app: Flask) -> None:
    """The request saw the job pending (so none went with its pipeline), but the worker took
    it meanwhile and cleared the flag: ``settle`` queues the call's next job."""
    first, second = plataforma_answered(SID)[:2]
    _request(first, gated=False)
    assert redis_store.queue("register").count == 1
    redis_store.client.delete(pending_key(SID))  # the worker claimed the job
    redis_store.queue("register").empty()
    _request(second, gated=False)
    assert redis_store.queue("register").count == 1
    assert redis_store.client.exists(pending_key(SID))


def test_a_job_queued_twice_by_a_race_writes_the_row_once(
    app: Flask, session: Session, work: Callable[..., None]
) -> None:
    """The request saw the flag clear and queued a job with its events, but another request
    of the call had set it meanwhile: two jobs, one row, each event once."""
    from register.models import RegisterCall

    events = plataforma_answered(SID)
    with deferred():
        emit(events[0])
        pipe = redis_store.client.pipeline(transaction=False)
        stage(pipe).settle(pipe.execute())
    with deferred():
        for ev in events[1:]:
            emit(ev)
        pipe = redis_store.client.pipeline(transaction=False)
        stage(pipe, clear=[SID]).settle(pipe.execute())
    queue = redis_store.queue("register")
    assert queue.count == 2
    work()
    assert queue.count == 0 and redis_store.queue("register").failed_job_registry.count == 0
    rows = session.scalars(select(RegisterCall).where(RegisterCall.call_sid == SID)).all()
    assert len(rows) == 1
    assert sorted(e["id"] for e in rows[0].events) == sorted(e["id"] for e in events)
    assert rows[0].event_count == len(events)
