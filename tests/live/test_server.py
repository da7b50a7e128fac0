"""The live process for real: the aiohttp server on a free port against the test Redis, an
HTTP client reading its event stream, messages published with livebus."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import aiohttp
import pytest
import redis

import livebus
from live.server import LiveSettings, allowed_origins
from live.sse_client import Event, events
from live.thread import LiveThread
from livebus import origin_of

SECRET = "test-secret-key"
ORIGIN = "http://web.example.test"


@pytest.fixture
def r(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture
def live(redis_url: str, r: redis.Redis) -> Iterator[LiveThread]:
    settings = LiveSettings(
        redis_url=redis_url,
        secret=SECRET,
        origins=(ORIGIN,),
        heartbeat_seconds=0.3,
        presence_ttl_seconds=3,
        presence_refresh_seconds=0.5,
        liveness_check_seconds=0.1,
    )
    with LiveThread(settings) as thread:
        yield thread


def stream_url(live: LiveThread, user: int, topics: list[str]) -> str:
    return f"{live.url}/stream?ticket={livebus.ticket(SECRET, user, topics)}"


async def first_events(
    url: str, count: int, *, after_hello=None, timeout: float = 5
) -> list[Event]:
    """Open the stream, run ``after_hello`` once the server said hello, collect ``count``
    events after the hello."""
    out: list[Event] = []
    async with aiohttp.ClientSession() as http, http.get(url, headers={"Origin": ORIGIN}) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        assert resp.headers["Access-Control-Allow-Origin"] == ORIGIN
        async with asyncio.timeout(timeout):
            async for ev in events(resp):
                if ev.event == "hello":
                    if after_hello is not None:
                        await asyncio.to_thread(after_hello)
                    continue
                out.append(ev)
                if len(out) >= count:
                    break
    return out


def test_a_published_event_reaches_the_page_within_a_second(live, r):
    sent: dict[str, float] = {}

    def publish() -> None:
        sent["at"] = time.monotonic()
        livebus.publish(r, "agent:7", "state", {"estado": "available"})

    got = asyncio.run(first_events(stream_url(live, 1, ["agent:7"]), 1, after_hello=publish))
    elapsed = time.monotonic() - sent["at"]
    assert got[0].event == "state"
    assert got[0].data == {"estado": "available"}
    assert got[0].id is not None and got[0].id.isdigit()
    assert elapsed < 1.0


def test_a_page_hears_only_the_topics_of_its_ticket(live, r):
    def publish() -> None:
        livebus.publish(r, "agent:8", "offer", {"call_sid": "CAother"})
        livebus.publish(r, "line", "changed", {})
        livebus.publish(r, "agent:7", "offer", {"call_sid": "CAmine"})

    got = asyncio.run(first_events(stream_url(live, 1, ["agent:7"]), 1, after_hello=publish))
    assert [(e.event, e.data) for e in got] == [("offer", {"call_sid": "CAmine"})]


def test_the_last_board_is_sent_on_connect(live, r):
    # a first page makes sure the hub is subscribed, then the board is published
    def publish() -> None:
        livebus.publish(r, "board", "board", {"n": 1})
        livebus.publish(r, "board", "board", {"n": 2})

    asyncio.run(first_events(stream_url(live, 1, ["board"]), 2, after_hello=publish))
    got = asyncio.run(first_events(stream_url(live, 2, ["board"]), 1))
    assert got[0].data == {"n": 2}


def test_heartbeats_are_comment_lines(live):
    async def read_raw() -> list[bytes]:
        lines = []
        async with aiohttp.ClientSession() as http, http.get(stream_url(live, 1, ["line"])) as resp:
            async with asyncio.timeout(3):
                async for raw in resp.content:
                    lines.append(raw)
                    if raw.startswith(b": ping"):
                        break
        return lines

    lines = asyncio.run(read_raw())
    assert lines[-1].startswith(b": ping")


def test_a_forged_ticket_is_refused(live):
    async def get(url: str) -> tuple[int, dict]:
        async with (
            aiohttp.ClientSession() as http,
            http.get(url, headers={"Origin": ORIGIN}) as resp,
        ):
            return resp.status, await resp.json()

    forged = livebus.ticket("another-secret", 1, ["agent:7"])
    status, body = asyncio.run(get(f"{live.url}/stream?ticket={forged}"))
    assert status == 403
    assert "recargue" in body["error"]
    status, _ = asyncio.run(get(f"{live.url}/stream"))
    assert status == 403


def test_an_other_origin_gets_no_cors_header(live):
    async def headers() -> dict:
        url = stream_url(live, 1, ["line"])
        async with (
            aiohttp.ClientSession() as http,
            http.get(url, headers={"Origin": "http://evil.example"}) as resp,
        ):
            return dict(resp.headers)

    assert "Access-Control-Allow-Origin" not in asyncio.run(headers())


def test_an_open_console_keeps_the_agent_here_and_closing_it_ends_that(live, r):
    async def scenario() -> tuple[bool, bool, bool]:
        async with aiohttp.ClientSession() as http:
            resp = await http.get(stream_url(live, 1, ["agent:7", "line"]))
            async with asyncio.timeout(3):
                async for ev in events(resp):
                    if ev.event == "hello":
                        break
            here_open = livebus.is_listening(r, "agent:7")
            await asyncio.sleep(3.5)  # longer than the key's TTL: refreshed while open
            still = livebus.is_listening(r, "agent:7")
            resp.close()
        for _ in range(30):
            await asyncio.sleep(0.1)
            if not livebus.is_listening(r, "agent:7"):
                break
        return here_open, still, livebus.is_listening(r, "agent:7")

    here_open, still, after = asyncio.run(scenario())
    assert here_open and still
    assert not after
    assert not livebus.is_listening(r, "line")


def test_health_answers_with_the_connections(live):
    async def get() -> tuple[int, dict]:
        async with aiohttp.ClientSession() as http, http.get(f"{live.url}/health") as resp:
            return resp.status, await resp.json()

    for _ in range(50):
        status, body = asyncio.run(get())
        if status == 200:
            break
        time.sleep(0.05)
    assert status == 200
    assert body["redis"] == "ok" and body["subscribed"] is True


def test_shutdown_ends_the_open_streams(redis_url, r):
    settings = LiveSettings(redis_url=redis_url, secret=SECRET, heartbeat_seconds=5)
    thread = LiveThread(settings).start()

    async def read_until_end() -> float:
        url = stream_url(thread, 1, ["line"])
        async with aiohttp.ClientSession() as http, http.get(url) as resp:
            stopper = None
            async with asyncio.timeout(8):
                async for ev in events(resp):
                    if ev.event == "hello":
                        started = time.monotonic()
                        stopper = asyncio.ensure_future(asyncio.to_thread(thread.stop))
            assert stopper is not None
            await stopper
            return time.monotonic() - started

    assert asyncio.run(read_until_end()) < 5


def test_allowed_origins_default_to_the_web_apps_own():
    assert origin_of("https://ivr.mef.gob.pe/x") == "https://ivr.mef.gob.pe"
    assert allowed_origins(None, "http://localhost:5000") == ("http://localhost:5000",)
    assert allowed_origins("https://a.pe, https://b.pe/", None) == ("https://a.pe", "https://b.pe")
