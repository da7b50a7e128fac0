"""Fixtures of the register tests: an in-process rq worker on the test Redis."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from rq import SimpleWorker

from extensions import redis_store


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
