"""Delivery of journey events to the register worker.

Placeholder until the register issue lands: events are appended to a Redis list per call.
The register package replaces this with rq jobs, an outbox table for Redis outages, etc.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import redis

from extensions import redis_store

log = logging.getLogger(__name__)


def emit(event: dict[str, Any]) -> None:
    try:
        redis_store.client.rpush(f"call:{event['call_sid']}:events", json.dumps(event))
    except redis.RedisError:
        log.exception("could not record event %s of %s", event["step"], event["call_sid"])
