"""`make run`'s embedded Redis is started again when it dies: the repeating sweep (the
Procfile's `sweep:` process) notices and restarts it (issue 15)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from flask import Flask

import config as settings
from app import create_app
from extensions import db, redis_store
from routing.cli import sweep_round


@pytest.fixture
def embedded_app(app: Flask, tmp_path: Path) -> Iterator[Flask]:
    cfg = settings.TestConfig()
    cfg.DATABASE_URL = app.config["DATABASE_URL"]
    cfg.REDIS_URL = None  # the embedded Redis, under this instance dir
    cfg.INSTANCE_DIR = str(tmp_path / "instance")
    engine = db.engine
    own = create_app(cfg)
    yield own
    with contextlib.suppress(redis.RedisError):
        redis.Redis.from_url(own.config["REDIS_URL"]).shutdown(nosave=True)
    if db.engine is not None and db.engine is not engine:
        db.engine.dispose()
    db.engine = engine
    db.session_factory.configure(bind=engine)
    redis_store.configure(app.config["REDIS_URL"])


def test_the_sweep_starts_the_embedded_redis_again(embedded_app: Flask) -> None:
    assert embedded_app.config["REDIS_EMBEDDED"] is True
    client = redis.Redis.from_url(embedded_app.config["REDIS_URL"])
    with contextlib.suppress(redis.ConnectionError):
        client.shutdown(nosave=True)  # it dies
    time.sleep(0.2)
    with embedded_app.app_context():
        assert sweep_round(quiet=True) is False  # this round fails, and starts it again
        assert client.ping()
        assert sweep_round(quiet=True) is True
