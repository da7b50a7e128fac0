"""Fixtures of the webhook tests: a loopback tarpit (a dependency that accepts connections and
never answers), and an app whose database or Redis is such a dependency."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

import config as settings
from app import create_app
from extensions import db, redis_store


@pytest.fixture
def tarpit() -> Iterator[int]:
    """A loopback port that accepts connections and never answers (a hung PostgreSQL, or a
    Redis frozen by SIGSTOP: the kernel still completes the handshake)."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                accepted.append(listener.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    listener.close()


@contextlib.contextmanager
def app_on(
    tmp_path: Path,
    app: Flask,
    *,
    database_url: str | None = None,
    redis_url: str | None = None,
    **overrides: Any,
) -> Iterator[Flask]:
    """An app like the test app but on another database or Redis, or other settings (inside
    its app context); the shared extensions point back at the test app's afterwards."""
    cfg = settings.TestConfig()
    cfg.DATABASE_URL = database_url or app.config["DATABASE_URL"]
    cfg.REDIS_URL = redis_url or app.config["REDIS_URL"]
    cfg.INSTANCE_DIR = str(tmp_path / "instance")
    for name, value in overrides.items():
        setattr(cfg, name, value)
    engine = db.engine
    other = create_app(cfg)
    other.config.update({k: v for k, v in app.config.items() if k == "IVR_NOW"})
    try:
        with other.app_context():
            yield other
    finally:
        db.session.remove()
        if db.engine is not None and db.engine is not engine:
            db.engine.dispose()
        db.engine = engine
        db.session_factory.configure(bind=engine)
        redis_store.configure(app.config["REDIS_URL"])
