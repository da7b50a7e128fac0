"""The agent console's live channel and pages under load, beside baselines measured in the
same run.

Run: ``python -m bench.console [--agents 200] [--callers 1000] [--rounds 2] [--requests 400]``.

1. The live process (``python -m live``, its own process as in the Procfile) with ``--agents``
   consoles connected (one server-sent-events stream each, its ticket for ``agent:<id>``) and
   ``--callers`` callers waiting in the line. The engine's own functions change the agents'
   states: available, matched to the longest-waiting caller by ``routing.dispatch`` (ringing),
   the offer missed (``agents.missed``: the caller back in their place), paused; each change is
   published by the engine and must reach that agent's stream. Latency: from the event's
   ``ts`` (the engine's clock when it published) to the stream's receipt. Baseline, in
   alternating rounds at the same pace: the same number of raw Redis pub/sub subscribers
   (redis.asyncio), publish to receipt.
2. ``GET /agente`` and ``GET /agente/token`` of the app under gunicorn (the Procfile's sync
   workers), signed-in agents, ``--concurrency`` at a time (default 1: 200 agents load the page
   once a shift and a token once an hour, one every few seconds); baseline: a bare Flask GET
   handler
   under the same gunicorn.

Targets: event p99 < 1 s; both pages p99 < 50 ms. The last line is
``RESULT console value=<event p99 ms> unit=ms ratio=<ours/raw Redis p99>``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import aiohttp
import orjson
import redis
import redis.asyncio as aioredis
import requests
from rq import Queue

import livebus
from admin.models import User
from bench.common import (
    HOST,
    ROOT,
    dev_app,
    embedded_redis,
    free_port,
    gunicorn,
    percentile,
    prepare_database,
    stop,
)
from directory.models import Agent
from extensions import db
from live.sse_client import events
from routing import agents, dispatch
from routing import queue as line
from routing.settings import RoutingSettings

SECRET = "bench-console-secret"
TARGET_EVENT_P99_MS = 1000.0
TARGET_PAGE_P99_MS = 50.0
PAUSE_S = 0.004  # between two engine steps: ~1,000 state events a second, 200 agents
SETTINGS = RoutingSettings(wrap_up_seconds=5)


# --- 1. Live events -------------------------------------------------------------------------


@contextlib.contextmanager
def live_process(redis_url: str, port: int):
    env = os.environ | {
        "RED_ENV": "development",
        "REDIS_URL": redis_url,
        "SECRET_KEY": SECRET,
        "LIVE_HOST": HOST,
        "LIVE_PORT": str(port),
        "PUBLIC_BASE_URL": f"http://{HOST}:5000",
    }
    process = subprocess.Popen([sys.executable, "-m", "live"], cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"http://{HOST}:{port}/live/health", timeout=1).status_code == 200:
                    break
            if process.poll() is not None:
                raise RuntimeError(f"python -m live exited with {process.returncode}")
            time.sleep(0.1)
        else:
            raise RuntimeError("the live process did not start")
        yield
    finally:
        stop(process)


def fill_the_line(r: redis.Redis, callers: int) -> None:
    now = line.now_ms()
    classes = ("normal",) * 8 + ("authority", "preferential")
    for n in range(callers):
        line.enqueue(
            r,
            f"CA{n:032x}",
            language="es",
            priority=classes[n % len(classes)],
            now=now + n,
            settings=SETTINGS,
        )


def engine_steps(r: redis.Redis, agent_ids: list[int], rounds: int, stop: threading.Event) -> int:
    """The engine changing every agent's state, ``rounds`` times over; returns the events
    published on the agents' topics."""
    jobs = Queue("bench-console", connection=r)
    published = 0
    for _ in range(rounds):
        for agent_id in agent_ids:
            if stop.is_set():
                return published
            now = line.now_ms()
            agents.set_state(r, agent_id, "available", languages=[], now=now, settings=SETTINGS)
            published += 1
            time.sleep(PAUSE_S)
            matches = dispatch.dispatch(r, jobs, now=line.now_ms(), settings=SETTINGS)
            published += len(matches)
            time.sleep(PAUSE_S)
            for m in matches:
                agents.missed(r, m.call_sid, m.agent_id, now=line.now_ms(), settings=SETTINGS)
                published += 1
            time.sleep(PAUSE_S)
            agents.set_state(
                r,
                agent_id,
                "paused",
                languages=[],
                now=line.now_ms(),
                settings=SETTINGS,
                reason="refrigerio",
            )
            published += 1
            time.sleep(PAUSE_S)
    jobs.empty()
    return published


async def _ours(base: str, r: redis.Redis, agent_ids: list[int], rounds: int) -> list[float]:
    latencies: list[float] = []
    expected = 0
    hello = asyncio.Event()
    connected = 0
    done = asyncio.Event()

    async def console(http: aiohttp.ClientSession, agent_id: int) -> None:
        nonlocal connected
        ticket = livebus.ticket(SECRET, agent_id, [f"agent:{agent_id}"])
        async with http.get(f"{base}/stream?ticket={ticket}") as resp:
            async for ev in events(resp):
                if ev.event == "hello":
                    connected += 1
                    if connected == len(agent_ids):
                        hello.set()
                    continue
                if ev.event == "state" and ev.id is not None:
                    latencies.append(time.time() * 1000 - int(ev.id))
                    if expected and len(latencies) >= expected:
                        done.set()

    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        tasks = [asyncio.create_task(console(http, a)) for a in agent_ids]
        await asyncio.wait_for(hello.wait(), 60)
        stop = threading.Event()
        expected = await asyncio.to_thread(engine_steps, r, agent_ids, rounds, stop)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), 10)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    if len(latencies) < expected:
        print(f"warning: {expected - len(latencies)} of {expected} events never arrived")
    return latencies


def raw_steps(r: redis.Redis, agent_ids: list[int], rounds: int) -> int:
    published = 0
    for _ in range(rounds):
        for agent_id in agent_ids:
            for _step in range(4):
                r.publish(f"bench:{agent_id}", orjson.dumps({"ts": time.time() * 1000}))
                published += 1
                time.sleep(PAUSE_S)
    return published


async def _raw(redis_url: str, r: redis.Redis, agent_ids: list[int], rounds: int) -> list[float]:
    """The baseline: one raw redis.asyncio subscriber per agent, publish to receipt."""
    latencies: list[float] = []
    clients = [aioredis.Redis.from_url(redis_url) for _ in agent_ids]
    subs = [c.pubsub(ignore_subscribe_messages=True) for c in clients]
    for agent_id, sub in zip(agent_ids, subs, strict=True):
        await sub.subscribe(f"bench:{agent_id}")
        await sub.get_message(timeout=1)

    async def listen(sub: aioredis.client.PubSub) -> None:
        async for msg in sub.listen():
            if msg["type"] == "message":
                latencies.append(time.time() * 1000 - orjson.loads(msg["data"])["ts"])

    tasks = [asyncio.create_task(listen(s)) for s in subs]
    expected = await asyncio.to_thread(raw_steps, r, agent_ids, rounds)
    deadline = time.monotonic() + 10
    while len(latencies) < expected and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for sub, client in zip(subs, clients, strict=True):
        await sub.aclose()  # type: ignore[attr-defined]  # redis-py 5+; old stubs
        await client.aclose()  # type: ignore[attr-defined]  # redis-py 5+; old stubs
    return latencies


# --- 2. Pages -------------------------------------------------------------------------------


def prepare_agents(database_url: str, redis_url: str, instance: str, count: int) -> list[str]:
    """Agents on the softphone, each with a signed-in-able user; returns the user names."""
    names = []
    with dev_app(database_url, redis_url, instance).app_context():
        session = db.session()
        for n in range(count):
            agent = Agent(nombre=f"Agente {n}", canal="client", destino=f"bench_{n}", activo=True)
            session.add(agent)
            session.flush()
            user = User(username=f"bench{n}", nombre=f"Agente {n}", role="agente", activo=True)
            user.agent_id = agent.id
            user.set_password("clave de la prueba")
            session.add(user)
            names.append(user.username)
        session.commit()
    return names


def signed_in(port: int, username: str) -> requests.Session:
    http = requests.Session()
    page = http.get(f"http://{HOST}:{port}/admin/login", timeout=10).text
    found = re.search(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"', page)
    data = {"username": username, "password": "clave de la prueba"}
    if found:
        data["csrf_token"] = found.group(1)
    reply = http.post(
        f"http://{HOST}:{port}/admin/login", data=data, allow_redirects=False, timeout=10
    )
    if reply.status_code != 302:
        raise RuntimeError(f"sign-in of {username} answered {reply.status_code}")
    return http


def timed_gets(sessions: list[requests.Session], url: str, count: int) -> tuple[list[float], int]:
    """``count`` GETs of ``url``, one session per worker thread; (latencies ms, errors)."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()

    def work(http: requests.Session, n: int) -> None:
        nonlocal errors
        for _ in range(n):
            start = time.perf_counter()
            reply = http.get(url, timeout=10)
            elapsed = (time.perf_counter() - start) * 1000
            with lock:
                latencies.append(elapsed)
                if reply.status_code != 200:
                    errors += 1

    per = max(1, count // len(sessions))
    with ThreadPoolExecutor(len(sessions)) as pool:
        list(pool.map(lambda s: work(s, per), sessions))
    return latencies, errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--callers", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2, help="alternations raw / ours")
    parser.add_argument("--requests", type=int, default=400, help="GETs of each page")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=1,
        help="page loads at a time (200 agents starting a shift: one every few seconds)",
    )
    parser.add_argument("--workers", type=int, default=3)
    args = parser.parse_args(argv)

    agent_ids = list(range(1, args.agents + 1))
    ours: list[float] = []
    raw: list[float] = []
    with (
        tempfile.TemporaryDirectory(prefix="bench-console-") as tmp,
        embedded_redis(str(Path(tmp) / "instance")) as redis_url,
    ):
        instance = str(Path(tmp) / "instance")
        r = redis.Redis.from_url(redis_url)
        fill_the_line(r, args.callers)
        print(
            f"{args.agents} consoles on the live process, {line.waiting_count(r)} callers "
            f"waiting; {args.rounds} alternating rounds raw Redis / ours"
        )
        live_port = free_port()
        with live_process(redis_url, live_port):
            base = f"http://{HOST}:{live_port}/live"
            for n in range(args.rounds):
                b = asyncio.run(_raw(redis_url, r, agent_ids, 1))
                o = asyncio.run(_ours(base, r, agent_ids, 1))
                raw += b
                ours += o
                print(
                    f"round {n + 1}: raw {len(b)} events p99 {percentile(b, 0.99):.1f} ms, "
                    f"ours {len(o)} events p99 {percentile(o, 0.99):.1f} ms "
                    f"(waiting still {line.waiting_count(r)})"
                )

        database_url = f"sqlite:///{tmp}/bench.db"
        prepare_database(database_url, redis_url, instance, actor="bench")
        names = prepare_agents(database_url, redis_url, instance, args.concurrency)
        port, bare_port = free_port(), free_port()
        env = os.environ | {
            "RED_ENV": "development",
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "SECRET_KEY": SECRET,
            "PUBLIC_BASE_URL": f"http://{HOST}:{port}",
            "RATELIMIT_ENABLED": "false",
            "TWILIO_API_KEY_SID": "SK" + "0" * 32,
            "TWILIO_API_KEY_SECRET": "bench-api-key-secret-of-32-bytes!",
            "TWILIO_TWIML_APP_SID": "AP" + "0" * 32,
            "INSTANCE_DIR": instance,
        }
        server = ("sync", args.workers, 1)
        with (
            gunicorn("bench.bare_app:app", bare_port, env, *server),
            gunicorn("app:create_app()", port, env, *server),
        ):
            sessions = [signed_in(port, name) for name in names]
            bare_sessions = [requests.Session() for _ in names]
            bare_url = f"http://{HOST}:{bare_port}/bare"
            timed_gets(bare_sessions, bare_url, 50)  # warm-up
            timed_gets(sessions, f"http://{HOST}:{port}/agente", 50)
            pages: dict[str, list[float]] = {"bare": [], "/agente": [], "/agente/token": []}
            failed = 0
            for _ in range(args.rounds):
                got, _e = timed_gets(bare_sessions, bare_url, args.requests // args.rounds)
                pages["bare"] += got
                for path in ("/agente", "/agente/token"):
                    url = f"http://{HOST}:{port}{path}"
                    got, errors = timed_gets(sessions, url, args.requests // args.rounds)
                    pages[path] += got
                    failed += errors

    event_p99 = percentile(ours, 0.99)
    raw_p99 = percentile(raw, 0.99)
    print(
        f"engine event -> console: {len(ours)} events, p50 {percentile(ours, 0.5):.1f} ms, "
        f"p99 {event_p99:.1f} ms; raw Redis pub/sub: {len(raw)}, p50 "
        f"{percentile(raw, 0.5):.1f} ms, p99 {raw_p99:.1f} ms"
    )
    for name, values in pages.items():
        print(
            f"GET {name:<14} {len(values):>5} requests, p50 {percentile(values, 0.5):6.1f} ms, "
            f"p99 {percentile(values, 0.99):6.1f} ms"
        )
    if failed:
        print(f"warning: {failed} page requests were not 200")
    page_p99 = max(percentile(pages["/agente"], 0.99), percentile(pages["/agente/token"], 0.99))
    verdict = (
        "met" if event_p99 < TARGET_EVENT_P99_MS and page_p99 < TARGET_PAGE_P99_MS else "MISSED"
    )
    print(
        f"targets event p99 < {TARGET_EVENT_P99_MS:.0f} ms and pages p99 < "
        f"{TARGET_PAGE_P99_MS:.0f} ms: {verdict}"
    )
    ratio = event_p99 / raw_p99 if raw_p99 > 0 else float("nan")
    print(f"RESULT console value={event_p99:.1f} unit=ms ratio={ratio:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
