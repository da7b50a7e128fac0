"""The whole service on one machine, as in production: its own Redis (append-only), its own
PostgreSQL database behind the fault proxy, the schema and the demo directory, and the
Procfile's web (gunicorn), worker and sweep processes, in production mode."""

from __future__ import annotations

import contextlib
import os
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import redis
from rq import Queue, Worker
from sqlalchemy.engine import make_url

from bench.common import HOST, free_port, prepare_database
from faults.processes import Process
from faults.servers import PostgresProxy, RedisServer, own_database, wait_for_port

TOKEN = "faults-auth-token"
WEB_WORKERS = 3  # the Procfile's default WEB_CONCURRENCY


class Stack:
    def __init__(self, tmp: Path, database_url: str) -> None:
        self.tmp = tmp
        self.database_url = database_url  # the real one (checks read it directly)
        target = make_url(database_url)
        self.redis = RedisServer(tmp / "redis")
        self.proxy = PostgresProxy(target.port or 5432)
        self.port = free_port()
        app_db = target.set(host=HOST, port=self.proxy.port)
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("RED_", "TWILIO_"))},
            "RED_ENV": "production",
            "PORT": str(self.port),
            "WEB_CONCURRENCY": str(WEB_WORKERS),
            "DATABASE_URL": app_db.render_as_string(hide_password=False),
            "REDIS_URL": self.redis.url,
            "SECRET_KEY": "faults-secret-key",
            "TWILIO_AUTH_TOKEN": TOKEN,
            "TWILIO_DRY_RUN": "true",  # REST calls logged, never sent
            "PUBLIC_BASE_URL": f"http://{HOST}:{self.port}",
            "SERVICE_HOURS": "mon-sun 00:00-24:00",
            "SERVICE_CLOSE_ON_HOLIDAYS": "false",
            "PROMETHEUS_MULTIPROC_DIR": str(tmp / "metrics"),
            "HEALTH_WORKER_REQUIRED": "true",
        }
        self.web = Process("web", self.env, self.logs)
        self.worker = Process("worker", self.env, self.logs)
        self.sweep = Process("sweep", self.env, self.logs)

    @property
    def logs(self) -> Path:
        return self.tmp / "logs"

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.redis.url, socket_timeout=2)

    def register_queue(self) -> Queue:
        return Queue("register", connection=self.client())

    def start(self) -> None:
        (self.tmp / "metrics").mkdir(parents=True, exist_ok=True)
        self.redis.start()
        self.proxy.start()
        prepare_database(
            self.database_url, self.redis.url, str(self.tmp / "instance"), actor="faults"
        )
        for process in (self.web, self.worker, self.sweep):
            process.start()
        wait_for_port(self.port, 60)
        self.wait_for_worker(60)
        self.warm_up()

    def warm_up(self) -> None:
        """Every web worker booted and answering (gunicorn listens before its workers have
        loaded the app): a round of /health per worker, twice."""
        for _ in range(2 * WEB_WORKERS):
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"http://{HOST}:{self.port}/health", timeout=30).close()

    def wait_for_worker(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with contextlib.suppress(redis.RedisError):
                if Worker.all(connection=self.client()):
                    return
            time.sleep(0.2)
        raise RuntimeError(f"the rq worker did not start; see {self.logs / 'worker.log'}")

    def stop(self) -> None:
        for process in (self.sweep, self.worker, self.web):
            process.stop()
        self.proxy.stop()
        self.redis.stop()


@contextlib.contextmanager
def running(tmp: Path, server_url: str) -> Iterator[Stack]:
    with own_database(server_url, f"faults_{os.getpid()}_{uuid.uuid4().hex[:6]}") as database_url:
        stack = Stack(tmp, database_url)
        try:
            stack.start()
            yield stack
        finally:
            stack.stop()
