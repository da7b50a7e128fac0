"""The live channel's server (aiohttp, redis.asyncio): ``GET /live/stream?ticket=...`` and
``GET /live/health``.

- One Redis pattern subscription (``live:*``) per process, whatever the number of pages: the
  ``Hub`` reads it and puts each message on the in-memory queue of every connection whose
  ticket grants that topic (a connection's subscription is its ticket's topics).
- Each message ``{"event", "data", "ts"}`` (livebus.message) goes out as one server-sent event:
  ``event: <event>``, ``id: <ts>``, ``data: <data as JSON>``. A comment line (``: ping``) every
  ``heartbeat_seconds`` keeps proxies from closing an idle stream (aiohttp-sse's ping).
- The last ``board`` message is retained and sent first to a page that connects.
- A connection whose ticket grants ``agent:<id>`` keeps the key ``livebus.here_key`` for that
  topic alive (SET EX, refreshed while the stream is open, deleted when the last stream of
  that agent closes): the engine treats an agent of channel ``client`` without it as gone.
- CORS: the web app's origins (``LIVE_ALLOWED_ORIGINS``, default PUBLIC_BASE_URL's origin).
- Shutdown (SIGTERM, SIGINT): every stream is ended, the subscription and Redis closed.

No database access here, and no Flask: the web process's workers never hold a stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import orjson
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp_sse import EventSourceResponse, sse_response

import livebus
from config import load_config
from extensions import ensure_embedded_redis

log = logging.getLogger("live")

RETAINED_TOPICS = ("board",)
QUEUE_SIZE = 500  # a page this far behind is dropped; it reconnects and reloads its state
CLOSED = b""  # put on a connection's queue to end its stream
REDIS_CONNECTIONS = 20  # the subscription holds one; presence keys and /live/health share the rest


@dataclass(frozen=True)
class LiveSettings:
    redis_url: str
    secret: str
    origins: tuple[str, ...] = ()
    heartbeat_seconds: float = 15.0
    presence_ttl_seconds: int = 15
    presence_refresh_seconds: float = 5.0
    liveness_check_seconds: float = 1.0  # how soon a closed page is noticed

    @classmethod
    def from_config(cls, config: Any, redis_url: str) -> LiveSettings:
        return cls(
            redis_url=redis_url,
            secret=str(config.SECRET_KEY),
            origins=allowed_origins(config.LIVE_ALLOWED_ORIGINS, config.PUBLIC_BASE_URL),
            heartbeat_seconds=float(config.LIVE_HEARTBEAT_SECONDS),
            presence_ttl_seconds=int(config.LIVE_PRESENCE_TTL_SECONDS),
        )


def allowed_origins(setting: str | None, public_base_url: str | None) -> tuple[str, ...]:
    """The origins whose pages may open a stream: the setting's comma-separated list, else
    the web app's own origin."""
    if setting:
        return tuple(o.strip().rstrip("/") for o in setting.split(",") if o.strip())
    own = livebus.origin_of(public_base_url or "")
    return (own,) if own else ()


@dataclass
class Hub:
    """The process's one subscription and who listens to which topic."""

    r: aioredis.Redis
    listeners: dict[str, set[asyncio.Queue[bytes]]] = field(
        default_factory=lambda: defaultdict(set)
    )
    retained: dict[str, bytes] = field(default_factory=dict)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    connections: int = 0

    def add(self, topics: list[str], queue: asyncio.Queue[bytes]) -> None:
        for topic in topics:
            self.listeners[topic].add(queue)
        self.connections += 1

    def remove(self, topics: list[str], queue: asyncio.Queue[bytes]) -> None:
        for topic in topics:
            self.listeners[topic].discard(queue)
            if not self.listeners[topic]:
                del self.listeners[topic]
        self.connections -= 1

    def deliver(self, topic: str, raw: bytes) -> None:
        if topic in RETAINED_TOPICS:
            self.retained[topic] = raw
        for queue in list(self.listeners.get(topic, ())):
            try:
                queue.put_nowait(raw)
            except asyncio.QueueFull:
                log.warning("a page on %s is too far behind: its stream is ended", topic)
                end_stream(queue)

    def close_all(self) -> None:
        for queues in self.listeners.values():
            for queue in queues:
                end_stream(queue)

    async def run(self) -> None:
        """Read ``live:*`` for ever, reconnecting after a Redis failure."""
        while True:
            pubsub = self.r.pubsub()
            try:
                await pubsub.psubscribe(livebus.PREFIX + "*")
                # the server's confirmation: from here on nothing published is missed
                await pubsub.get_message(timeout=5.0)
                self.ready.set()
                while True:
                    msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5.0)
                    if msg is None or msg.get("type") != "pmessage":
                        continue
                    channel = msg["channel"]
                    name = channel.decode() if isinstance(channel, bytes) else str(channel)
                    data = msg["data"]
                    raw = data if isinstance(data, bytes) else str(data).encode()
                    self.deliver(name.removeprefix(livebus.PREFIX), raw)
            except (aioredis.RedisError, OSError) as exc:
                self.ready.clear()
                log.error("live channel lost Redis (%s); retrying in 1 s", exc)
                await asyncio.sleep(1)
            finally:
                with contextlib.suppress(aioredis.RedisError, OSError):
                    await pubsub.aclose()  # type: ignore[attr-defined]  # redis-py 5+; old stubs


def end_stream(queue: asyncio.Queue[bytes]) -> None:
    """Drop what the connection has not sent yet and end its stream."""
    while not queue.empty():
        queue.get_nowait()
    queue.put_nowait(CLOSED)


async def send_message(resp: EventSourceResponse, raw: bytes) -> None:
    """One livebus message as a server-sent event (its event, its data as JSON, its ts)."""
    msg = orjson.loads(raw)
    ts = msg.get("ts")
    await resp.send(
        orjson.dumps(msg.get("data", {})).decode(),
        id=str(ts) if ts is not None else None,
        event=str(msg.get("event") or "message"),
    )


class Presence:
    """The ``here`` keys of the agents whose console is open in this process; each method
    takes a stream's ``agent:<id>`` topics."""

    def __init__(self, r: aioredis.Redis, settings: LiveSettings) -> None:
        self.r = r
        self.settings = settings
        self.count: dict[str, int] = defaultdict(int)

    async def opened(self, agents: list[str]) -> None:
        for topic in agents:
            self.count[topic] += 1
        await self.refresh(agents)

    async def refresh(self, agents: list[str]) -> None:
        if not agents:
            return
        async with self.r.pipeline(transaction=False) as pipe:
            for topic in agents:
                pipe.set(livebus.here_key(topic), 1, ex=self.settings.presence_ttl_seconds)
            await pipe.execute()

    async def closed(self, agents: list[str]) -> None:
        gone = []
        for topic in agents:
            self.count[topic] -= 1
            if self.count[topic] <= 0:
                del self.count[topic]
                gone.append(livebus.here_key(topic))
        if gone:
            await self.r.delete(*gone)


def cors_headers(request: web.Request, settings: LiveSettings) -> dict[str, str]:
    origin = request.headers.get("Origin", "")
    if origin and origin.rstrip("/") in settings.origins:
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
    return {}


def refuse(request: web.Request, settings: LiveSettings, status: int, text: str) -> web.Response:
    return web.json_response(
        {"error": text}, status=status, headers=cors_headers(request, settings)
    )


def closing(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


async def stream(request: web.Request) -> web.StreamResponse:
    app = request.app
    settings: LiveSettings = app[SETTINGS]
    hub: Hub = app[HUB]
    presence: Presence = app[PRESENCE]
    grant = livebus.topics_of(settings.secret, request.query.get("ticket", ""))
    if grant is None:
        return refuse(
            request,
            settings,
            403,
            "El pase del canal en vivo no es válido o venció; recargue la página.",
        )
    if app[STOPPING].is_set():
        return refuse(request, settings, 503, "El canal en vivo se está reiniciando.")
    try:
        await asyncio.wait_for(hub.ready.wait(), 5)
    except TimeoutError:
        return refuse(request, settings, 503, "El canal en vivo no alcanza a Redis; reintente.")
    user_id, topics = grant
    agents = [topic for topic in topics if topic.startswith("agent:")]
    queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=QUEUE_SIZE)
    hub.add(topics, queue)
    await presence.opened(agents)
    try:
        async with sse_response(
            request,
            headers=cors_headers(request, settings),
            ping_interval=settings.heartbeat_seconds,
        ) as resp:
            await resp.send(
                orjson.dumps({"user": user_id, "topics": topics}).decode(), event="hello"
            )
            for topic in RETAINED_TOPICS:
                if topic in topics and topic in hub.retained:
                    await send_message(resp, hub.retained[topic])
            loop = asyncio.get_running_loop()
            next_refresh = loop.time() + settings.presence_refresh_seconds
            while resp.is_connected() and not closing(request):
                try:
                    raw = await asyncio.wait_for(queue.get(), settings.liveness_check_seconds)
                except TimeoutError:
                    raw = None
                if raw == CLOSED:
                    break
                if raw is not None:
                    await send_message(resp, raw)
                if loop.time() >= next_refresh:
                    await presence.refresh(agents)
                    next_refresh = loop.time() + settings.presence_refresh_seconds
            return resp
    except (ConnectionResetError, TimeoutError):
        return web.Response(status=204)
    finally:
        hub.remove(topics, queue)
        with contextlib.suppress(aioredis.RedisError, OSError):
            await presence.closed(agents)


async def health(request: web.Request) -> web.Response:
    hub: Hub = request.app[HUB]
    try:
        await hub.r.ping()
        redis_status = "ok"
    except (aioredis.RedisError, OSError) as exc:
        redis_status = f"error: {exc}"
    ok = redis_status == "ok" and hub.ready.is_set()
    body = {
        "status": "ok" if ok else "degraded",
        "redis": redis_status,
        "subscribed": hub.ready.is_set(),
        "connections": hub.connections,
    }
    return web.json_response(body, status=200 if ok else 503)


SETTINGS = web.AppKey("settings", LiveSettings)
HUB = web.AppKey("hub", Hub)
PRESENCE = web.AppKey("presence", Presence)
STOPPING = web.AppKey("stopping", asyncio.Event)
TASK = web.AppKey("task", asyncio.Task)


def make_app(settings: LiveSettings) -> web.Application:
    app = web.Application()
    app[SETTINGS] = settings
    app.router.add_get("/live/stream", stream)
    app.router.add_get("/live/health", health)

    async def start(app: web.Application) -> None:
        # A bounded pool that waits for a free connection: hundreds of pages connecting at
        # once (after a restart) share a few connections instead of opening one each.
        pool: aioredis.BlockingConnectionPool = aioredis.BlockingConnectionPool.from_url(
            settings.redis_url, max_connections=REDIS_CONNECTIONS, timeout=10
        )
        r = aioredis.Redis(connection_pool=pool)
        app[HUB] = Hub(r)
        app[PRESENCE] = Presence(r, settings)
        app[STOPPING] = asyncio.Event()
        app[TASK] = asyncio.create_task(app[HUB].run())

    async def stop_streams(app: web.Application) -> None:
        app[STOPPING].set()
        app[HUB].close_all()

    async def stop(app: web.Application) -> None:
        app[TASK].cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await app[TASK]
        await app[HUB].r.aclose()  # type: ignore[attr-defined]  # redis-py 5+; old stubs

    app.on_startup.append(start)
    app.on_shutdown.append(stop_streams)
    app.on_cleanup.append(stop)
    return app


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s live %(levelname)s %(message)s")
    config = load_config()
    config.validate()
    redis_url = config.REDIS_URL or ensure_embedded_redis(config.INSTANCE_DIR)
    settings = LiveSettings.from_config(config, redis_url)
    log.info("live channel on port %s for %s", config.LIVE_PORT, ", ".join(settings.origins))
    web.run_app(
        make_app(settings),
        host=config.LIVE_HOST,
        port=int(config.LIVE_PORT),
        shutdown_timeout=5,
        access_log=None,
        print=None,
    )
