"""worker.py: the worker outlives a Redis outage (it starts again, backing off) and runs rq's
maintenance often enough that a killed worker's scheduler is taken over within minutes."""

from __future__ import annotations

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

    class Stub:
        def work(self, **_kwargs: Any) -> None:
            outcome = outcomes.pop(0)
            if outcome is not None:
                raise outcome

    def build(_app: Flask) -> Stub:
        built.append(Stub())
        return built[-1]

    monkeypatch.setattr(worker, "build_worker", build)
    pauses: list[float] = []
    worker.work_until_stopped(app, sleep=pauses.append)
    assert pauses == [1, 2, 4] and len(built) == 4 and outcomes == []


def test_rq_maintenance_runs_every_few_seconds(app: Flask) -> None:
    assert worker.build_worker(app).maintenance_interval == worker.MAINTENANCE_SECONDS <= 15
