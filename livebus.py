"""The live channel's bus: what the engine publishes for the staff pages, and who may listen.

Every package may publish (``publish`` is one Redis PUBLISH, never awaited by anyone); the
live process (``live/``) subscribes and relays each message to the browsers as server-sent
events. Topics, each a Redis channel ``live:<topic>``:

- ``agent:<agent_id>``: one agent's console (their state, an offered caller, their call's legs);
- ``line``: something changed in the line or the agents' presence (for the board to recompute);
- ``board``: the supervisor's board, a whole snapshot (the live process keeps the last one and
  gives it to a page as soon as it connects);
- ``red:<representative_id>``: a Red member's page.

A message is JSON: ``{"event": <name>, "data": {...}, "ts": <ms since the epoch>}``; the live
process sends it as an SSE event of that name with the data as its payload.

A browser proves who it is with a ticket: the Flask page signs the user's id and the topics
their role may hear (``ticket``), the live process checks the signature and age (``topics_of``).
Nothing else crosses from the web app to the live process.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

import orjson
import redis
from itsdangerous import BadSignature, URLSafeTimedSerializer

PREFIX = "live:"
HERE_PREFIX = "livehere:"  # not under PREFIX: the live process subscribes to live:*
TICKET_SALT = "live-channel"
TICKET_MAX_AGE_SECONDS = 12 * 3600  # a shift; the page asks for a new one when refused


def channel(topic: str) -> str:
    return PREFIX + topic


def message(event: str, data: dict[str, Any], *, ts: int | None = None) -> bytes:
    ts = int(time.time() * 1000) if ts is None else ts
    return orjson.dumps({"event": event, "data": data, "ts": ts})


def publish(r: redis.Redis, topic: str, event: str, data: dict[str, Any]) -> None:
    """Tell the pages listening to ``topic``; a page that is not there misses nothing it
    cannot fetch again, so this is fire-and-forget."""
    r.publish(channel(topic), message(event, data))


def publish_in(pipe: redis.client.Pipeline, topic: str, event: str, data: dict[str, Any]) -> None:
    """The same, inside a caller's pipeline (delivered when it executes)."""
    pipe.publish(channel(topic), message(event, data))


def here_key(topic: str) -> str:
    """The key the live process keeps alive while a page listens to ``topic`` (its TTL is a
    few seconds, refreshed while the stream is open, deleted when it closes)."""
    return HERE_PREFIX + topic


def is_listening(r: redis.Redis, topic: str) -> bool:
    """Whether a page listens to ``topic`` now (an agent's console is open)."""
    return bool(r.exists(here_key(topic)))


def stream_base(configured: str | None, host_url: str, port: int) -> str:
    """The stream's base URL as a page sees it: LIVE_URL when set, else the page's own host
    (``host_url``, e.g. ``request.host_url``) on port LIVE_PORT, path /live."""
    if configured:
        return configured.rstrip("/")
    parts = urlsplit(host_url)
    return f"{parts.scheme or 'http'}://{parts.hostname or 'localhost'}:{port}/live"


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of a URL (what a Content-Security-Policy names); empty for a
    URL without both."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=TICKET_SALT)


def ticket(secret: str, user_id: int, topics: list[str]) -> str:
    return _serializer(secret).dumps({"u": user_id, "t": sorted(set(topics))})


def topics_of(
    secret: str, token: str, *, max_age: int = TICKET_MAX_AGE_SECONDS
) -> tuple[int, list[str]] | None:
    """The user and topics a ticket grants, or None for a forged, altered or stale one."""
    try:
        data = _serializer(secret).loads(token, max_age=max_age)
    except BadSignature:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("t"), list):
        return None
    return int(data["u"]), [str(t) for t in data["t"]]
