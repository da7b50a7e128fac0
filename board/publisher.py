"""The board's publisher: recomputes the snapshot outside the web workers and publishes it on
the live channel (topic ``board``, retained by the live process), keeping the last one in
Redis for the page's first load (``GET /supervision/datos``).

``run`` is the loop of ``flask board publish`` (the Procfile's ``board`` line): it listens to
the ``line`` topic (something changed in the line or the agents' presence) and recomputes at
most once every BOARD_MIN_INTERVAL_MS when it hears something, and at least every
BOARD_REFRESH_MS anyway (waits grow, the register catches up, and a change nobody announced
still shows).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
import redis
from rq import Queue
from sqlalchemy.orm import Session

import livebus
from board import alerts
from board.charts import board_charts
from board.data import STAFFED_KEY, slot_label, slot_of, snapshot
from board.settings import BoardSettings
from clock import LIMA

log = logging.getLogger(__name__)

LAST_KEY = "board:last"
LAST_TTL_SECONDS = 60


def compute(
    session: Session, r: redis.Redis, settings: BoardSettings, *, now_ms: int
) -> tuple[dict[str, Any], list[alerts.Alert]]:
    """The board as the page draws it (the snapshot, its alerts and charts), and its alerts."""
    board = snapshot(session, r, settings, now_ms=now_ms)
    found = alerts.evaluate(board, settings)
    board["alertas"] = alerts.as_data(found)
    board["graficos"] = board_charts(board)
    return board, found


def publish_once(
    session: Session, r: redis.Redis, settings: BoardSettings, jobs: Queue, *, now_ms: int
) -> dict[str, Any]:
    """Compute, raise the alerts (e-mailing the new ones), publish; returns the snapshot."""
    board, found = compute(session, r, settings, now_ms=now_ms)
    session.rollback()  # a read-only pass: end its transaction, the next one sees new rows
    alerts.mail_new(r, jobs, found, settings, day=board["fecha"])
    moment = datetime.fromtimestamp(now_ms / 1000, UTC).astimezone(LIMA)
    staffed_key = STAFFED_KEY.format(day=board["fecha"])
    label = slot_label(slot_of(moment.time()))
    payload = orjson.dumps(board)
    seen = r.hget(staffed_key, label)  # the most agents staffing the line this half hour
    with r.pipeline(transaction=False) as pipe:
        if seen is None or int(seen) < board["conectados"]:
            pipe.hset(staffed_key, label, board["conectados"])
            pipe.expire(staffed_key, 2 * 24 * 3600)
        pipe.set(LAST_KEY, payload, ex=LAST_TTL_SECONDS)
        livebus.publish_in(pipe, "board", "board", board)
        pipe.execute()
    return board


def last(r: redis.Redis) -> dict[str, Any] | None:
    """The last snapshot published (None when the publisher has not run lately)."""
    raw = r.get(LAST_KEY)
    return None if raw is None else orjson.loads(raw)


def run(
    step: Callable[[], object],
    r: redis.Redis,
    settings: BoardSettings,
    *,
    stop: threading.Event,
) -> int:
    """Call ``step`` (one publish_once) as the module's docstring says until ``stop`` is set.
    Returns how many times it ran."""
    pubsub = r.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(livebus.channel("line"))
    runs = 0
    last_run = 0.0
    dirty = True
    min_interval = settings.min_interval_ms / 1000
    refresh = settings.refresh_ms / 1000
    try:
        while not stop.is_set():
            now = time.monotonic()
            due = last_run + (min_interval if dirty else refresh)
            wait = max(0.0, due - now)
            if wait > 0:
                message = pubsub.get_message(timeout=min(wait, 0.25))
                if message is not None:
                    dirty = True
                continue
            try:
                step()
                runs += 1
            except Exception:  # the loop outlives a bad round (Redis or the database away)
                log.exception("the board could not be published")
            last_run = time.monotonic()
            dirty = False
            while pubsub.get_message(timeout=0) is not None:
                dirty = True  # it may have come after the computation read the line
    finally:
        pubsub.close()
    return runs
