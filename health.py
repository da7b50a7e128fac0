"""`/health`: whether the database and Redis answer, an rq worker is alive, rq's scheduler runs
for the worker's queues (it starts the retries of failed jobs), the register keeps up (the oldest event not yet written) and nothing waits in the outbox. 503 when any is past its
limit, with what is wrong in the body, so a load balancer or a monitor can act on it."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import redis
from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue
from rq import Worker
from sqlalchemy import func, select, text

from clock import utcnow
from extensions import db, redis_store
from register.events import STREAM
from register.models import RegisterOutbox

bp = Blueprint("health", __name__)

WORKER_SILENCE = timedelta(seconds=90)  # rq's heartbeat comes every few seconds
REGISTER_LAG_LIMIT = timedelta(seconds=120)  # the oldest event on the stream, not yet written


def queue_names(config: Mapping[str, Any]) -> tuple[str, str, str]:
    """The worker's queues: the register's, the routing's and the mail's."""
    return (config["RQ_REGISTER_QUEUE"], config["RQ_DEFAULT_QUEUE"], config["RQ_MAIL_QUEUE"])


def register_lag_seconds(r: redis.Redis) -> float:
    """The age of the oldest event on the stream, not yet written (0 when there is none)."""
    oldest = r.xrange(STREAM, count=1)
    return time.time() - int(oldest[0][0].decode().split("-")[0]) / 1000 if oldest else 0.0


def outbox_events() -> int:
    """Events kept in the database while Redis was down, not yet moved to the stream."""
    return db.session.scalar(select(func.count()).select_from(RegisterOutbox)) or 0


def _check(checks: dict[str, Any], name: str, probe: Any) -> None:
    try:
        checks[name] = probe()
    except Exception as exc:  # noqa: BLE001 - any failure is the report
        checks[name] = f"error: {exc.__class__.__name__}"


def _worker() -> str:
    now = utcnow()
    alive = [
        w
        for w in Worker.all(connection=redis_store.client)
        if w.last_heartbeat and now - w.last_heartbeat.replace(tzinfo=now.tzinfo) < WORKER_SILENCE
    ]
    if alive or not current_app.config.get("HEALTH_WORKER_REQUIRED", True):
        return "ok" if alive else "ok (no worker required)"
    return "error: no rq worker has sent a heartbeat in 90 s"


def _scheduler() -> str:
    """A scheduler holds the lock of each of the worker's queues (rq's ``Queue.scheduler_pid``;
    a killed worker's lock lives 61 s, then a live worker takes it over within 10 s)."""
    config = current_app.config
    missing = [n for n in queue_names(config) if redis_store.queue(n).scheduler_pid is None]
    if not missing:
        return "ok"
    if not config.get("HEALTH_WORKER_REQUIRED", True):
        return "ok (no worker required)"
    return f"error: no rq scheduler runs for the queue(s) {', '.join(missing)}"


def _register_lag() -> str:
    lag = register_lag_seconds(redis_store.client)
    if lag > REGISTER_LAG_LIMIT.total_seconds():
        return f"error: the oldest event not yet written is {lag:.0f} s old"
    return "ok"


def _outbox() -> str:
    kept = outbox_events()
    return "ok" if not kept else f"error: {kept} events kept while Redis was down, not yet moved"


@bp.get("/health")
def health() -> ResponseReturnValue:
    checks: dict[str, Any] = {}
    _check(checks, "database", lambda: db.session.execute(text("SELECT 1")) and "ok")
    _check(checks, "redis", lambda: redis_store.client.ping() and "ok")
    _check(checks, "worker", _worker)
    _check(checks, "scheduler", _scheduler)
    _check(checks, "register_lag", _register_lag)
    _check(checks, "outbox", _outbox)
    healthy = all(str(v).startswith("ok") for v in checks.values())
    return jsonify(status="ok" if healthy else "degraded", **checks), 200 if healthy else 503
