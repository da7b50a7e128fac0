"""Fixtures of the register tests: an in-process rq worker on the test Redis, and a way to
hand events to the register as the webhooks and jobs do."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest
from flask import Flask
from rq import SimpleWorker

from extensions import redis_store
from register import sink_of
from register.events import Sink, send


@pytest.fixture
def work(app: Flask) -> Callable[..., None]:
    """Run the register and default queues in-process until empty (rq SimpleWorker, burst)."""

    def run(max_jobs: int | None = None) -> None:
        worker = SimpleWorker(
            [redis_store.queue("register"), redis_store.queue("default")],
            connection=redis_store.client,
        )
        worker.work(burst=True, max_jobs=max_jobs)

    return run


@pytest.fixture
def sink(app: Flask) -> Sink:
    return sink_of(app)


@pytest.fixture
def deliver(sink: Sink) -> Callable[[Sequence[dict[str, Any]]], None]:
    """Hand events to the register (register.events.send), as a job or a command does."""

    def run(events: Sequence[dict[str, Any]]) -> None:
        send(sink, events)

    return run
