"""`GET /metrics` in Prometheus' text format (prometheus-client), behind the bearer token
``METRICS_TOKEN`` (without one, the page does not exist).

Counted as they happen (in gunicorn's multiprocess mode when ``PROMETHEUS_MULTIPROC_DIR`` is
set, so every web worker's counts add up): webhook latency by route, Twilio REST errors. Read
from Redis and the database at each scrape: callers waiting by class, agents by state, the
register's lag, the outbox, failed jobs.
"""

from __future__ import annotations

import hmac
import os
from collections import Counter
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, abort, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from rq.registry import FailedJobRegistry
from sqlalchemy import select

import twilio_rest
from directory.models import Agent
from extensions import db, redis_store
from health import outbox_events, queue_names, register_lag_seconds
from routing import agents
from routing import queue as line
from webhooks.steps import WEBHOOK_SECONDS

bp = Blueprint("metrics", __name__)


class LineCollector:
    """The line as it is at the scrape."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        r = redis_store.client
        waiting = GaugeMetricFamily("red_callers_waiting", "Callers waiting", labels=["clase"])
        for priority, count in line.waiting_by_priority(r).items():
            waiting.add_metric([priority], count)
        yield waiting
        states = GaugeMetricFamily("red_agents", "Plataforma agents by state", labels=["estado"])
        ids = list(db.session.scalars(select(Agent.id).where(Agent.activo.is_(True))))
        counts = Counter(presence.state for presence in agents.presences(r, ids))
        for state in agents.AGENT_STATES:
            states.add_metric([state], counts[state])
        yield states
        lag = register_lag_seconds(r)
        yield GaugeMetricFamily(
            "red_register_lag_seconds", "Age of the oldest event not yet written", value=lag
        )
        kept = outbox_events()
        yield GaugeMetricFamily("red_outbox_events", "Events kept while Redis was down", value=kept)
        failed = GaugeMetricFamily("red_failed_jobs", "Failed rq jobs", labels=["cola"])
        for name in queue_names(current_app.config):
            failed.add_metric([name], FailedJobRegistry(name, connection=r).count)
        yield failed


def _registry() -> Any:
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)
    else:
        registry.register(WEBHOOK_SECONDS)
        registry.register(twilio_rest.REST_ERRORS)
    registry.register(LineCollector())
    return registry


@bp.get("/metrics")
def metrics() -> Response:
    token = current_app.config.get("METRICS_TOKEN")
    if not token:
        abort(404)
    given = request.headers.get("Authorization", "").removeprefix("Bearer ")
    if not hmac.compare_digest(given.encode(), token.encode()):
        abort(401)
    return Response(generate_latest(_registry()), mimetype=CONTENT_TYPE_LATEST)
