"""Beyond one machine: web nodes as separate gunicorn processes on loopback, on the test's own
database and Redis, and a call walked through them the way Twilio walks it."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from directory.demo import seed_demo
from faults.servers import free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "deploy-auth-token"


@pytest.fixture
def demo_directory(app: Flask, session: Session) -> None:
    """The demo directory in the test's database (the nodes route calls by it)."""
    seed_demo(session, actor="test")
    session.commit()


def node_env(app: Flask, public_base_url: str, **extra: str) -> dict[str, str]:
    """A production node's environment on the test's database and Redis."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RED_", "TWILIO_"))}
    return env | {
        "RED_ENV": "production",
        "DATABASE_URL": app.config["DATABASE_URL"],
        "REDIS_URL": app.config["REDIS_URL"],
        "REDIS_ALLOW_NO_AOF": "true",  # the tests' Redis keeps nothing across a restart
        "SECRET_KEY": "deploy-secret-key",
        "TWILIO_AUTH_TOKEN": TOKEN,
        "TWILIO_DRY_RUN": "true",
        "PUBLIC_BASE_URL": public_base_url,
        "SERVICE_HOURS": "mon-sun 00:00-24:00",
        "SERVICE_CLOSE_ON_HOLIDAYS": "false",
        **extra,
    }


@contextlib.contextmanager
def gunicorn_node(env: dict[str, str], access_log: Path) -> Iterator[int]:
    """One web node (gunicorn, one sync worker, as the Procfile's web line) on a free port."""
    port = free_port()
    command = [
        str(Path(sys.executable).parent / "gunicorn"),
        "--bind", f"127.0.0.1:{port}",
        "--workers", "1",
        "--timeout", "10",
        "--access-logfile", str(access_log),
        "app:create_app()",
    ]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, 30)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture
def nodes(
    app: Flask, demo_directory: None, tmp_path: Path
) -> Callable[[str, int], contextlib.AbstractContextManager[list[int]]]:
    """``nodes(public_base_url, n)``: n web nodes; yields their ports."""

    @contextlib.contextmanager
    def start(public_base_url: str, count: int, **extra: str) -> Iterator[list[int]]:
        env = node_env(app, public_base_url, **extra)
        with contextlib.ExitStack() as stack:
            yield [
                stack.enter_context(gunicorn_node(env, tmp_path / f"node{i}-access.log"))
                for i in range(count)
            ]

    return start
