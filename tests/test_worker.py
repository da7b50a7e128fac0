"""worker.py: the worker outlives a Redis outage (it starts again, backing off) and runs rq's
maintenance often enough that a killed worker's scheduler is taken over within minutes."""

from __future__ import annotations

import os
from typing import Any

import pytest
import redis
from flask import Flask

import worker


def test_the_worker_waits_for_redis_and_starts_again(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    outcomes: list[BaseException | None] = [
        redis.ConnectionError("Redis went away"),
        redis.TimeoutError("Redis froze"),
        redis.ConnectionError("still away"),
        None,  # a clean stop (SIGTERM)
    ]
    built: list[Any] = []
    bursts: list[bool] = []

    class Stub:
        def work(self, **kwargs: Any) -> None:
            bursts.append(kwargs["burst"])
            outcome = outcomes.pop(0)
            if outcome is not None:
                raise outcome

    def build(_app: Flask, _queues: tuple[str, ...] = worker.QUEUES) -> Stub:
        built.append(Stub())
        return built[-1]

    monkeypatch.setattr(worker, "build_worker", build)
    pauses: list[float] = []
    # `python worker.py --burst` goes the same way (and a Sentinel failover's demoted master
    # raises redis-py's ConnectionError too).
    worker.work_until_stopped(app, sleep=pauses.append, burst=True)
    assert pauses == [1, 2, 4] and len(built) == 4 and outcomes == []
    assert bursts == [True] * 4


def test_a_worker_for_the_routing_jobs_alone_leaves_the_register_to_the_other(
    app: Flask,
) -> None:
    """The Procfile's `routing` worker takes only the default queue (a caller handed to a
    free agent never waits behind the register's drain jobs)."""
    queues = worker.build_worker(app, ("default",)).queues
    assert [q.name for q in queues] == ["default"]
    with pytest.raises(SystemExit):
        worker.main(["--queues", "default,nada"])


def test_jobs_run_in_the_workers_own_process_with_the_apps_pool(app: Flask) -> None:
    """No work horse forked per job (bench.line: a fork and a new PostgreSQL backend per
    drain or dispatch job cost more than the jobs): the job runs in the worker's process,
    inside the app's context."""
    from extensions import redis_store

    job = redis_store.queue("default").enqueue("os.getpid")
    in_context = redis_store.queue("default").enqueue("flask.has_app_context")
    worker.build_worker(app, ("default",)).work(burst=True)
    assert job.return_value() == os.getpid()
    assert in_context.return_value() is True


def test_rq_maintenance_runs_every_few_seconds(app: Flask) -> None:
    assert worker.build_worker(app).maintenance_interval == worker.MAINTENANCE_SECONDS <= 15


def test_production_refuses_a_redis_without_an_append_only_file(redis_client: redis.Redis) -> None:
    """Issue 15: a Redis that keeps nothing across a restart is refused unless the operator
    says they accept it (REDIS_ALLOW_NO_AOF), and the message says which setting."""
    from extensions import PersistenceError, check_redis_persistence

    before = redis_client.config_get("appendonly")["appendonly"]
    try:
        redis_client.config_set("appendonly", "no")
        with pytest.raises(PersistenceError, match="REDIS_ALLOW_NO_AOF"):
            check_redis_persistence(redis_client, allow_no_aof=False)
        check_redis_persistence(redis_client, allow_no_aof=True)  # accepted, with a warning
        redis_client.config_set("appendonly", "yes")
        check_redis_persistence(redis_client, allow_no_aof=False)
    finally:
        redis_client.config_set("appendonly", before)
