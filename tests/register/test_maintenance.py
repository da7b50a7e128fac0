"""The worker's periodic work and the real worker process (register/maintenance.py,
worker.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from extensions import redis_store
from register import sink_of
from register.events import STREAM, send, write_outbox
from register.maintenance import start_maintenance_thread
from register.models import RegisterCall
from tests.register.journeys import plataforma_answered, technical_alterno

ROOT = Path(__file__).resolve().parents[2]


def test_the_maintenance_thread_moves_the_outbox_into_redis(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("register.maintenance.FLUSH_SECONDS", 0.05)
    monkeypatch.setattr("register.maintenance.PURGE_SECONDS", 3600.0)
    sid = "CA" + "1" * 32
    with sink_of(app).new_session() as session:
        write_outbox(session, plataforma_answered(sid))
        session.commit()
    stop = start_maintenance_thread(app)
    try:
        deadline = time.monotonic() + 10
        while redis_store.queue("register").count < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
    assert redis_store.queue("register").count == 1  # the drain
    [(_stream, entries)] = redis_store.client.xread({STREAM: "0"})
    assert len(entries) == 1 and entries[0][1][b"events"].count(sid.encode()) == 10


def test_worker_py_burst_writes_the_register_in_its_own_process(
    app: Flask, session: Session
) -> None:
    for i in range(20):
        send(sink_of(app), technical_alterno(f"CA{i:032d}"))
    write_outbox(session, plataforma_answered("CA" + "e" * 32))  # flushed before the burst
    session.commit()
    env = {
        **os.environ,
        "RED_ENV": "testing",
        "DATABASE_URL": app.config["DATABASE_URL"],
        "REDIS_URL": app.config["REDIS_URL"],
    }
    done = subprocess.run(
        [sys.executable, "worker.py", "--burst"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(RegisterCall)) == 21
    assert redis_store.queue("register").count == 0
