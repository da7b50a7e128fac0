"""The board's publisher: the snapshot goes out on the live channel (topic ``board``) and is
kept for the page's first load; it recomputes when the ``line`` topic says something changed
(at most once per interval); alerts are e-mailed once a day each."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import orjson
import pytest
import redis
from flask import Flask
from sqlalchemy.orm import Session

import livebus
from board import publisher
from board.settings import BoardSettings
from extensions import redis_store
from routing import queue as line
from routing.settings import RoutingSettings
from tests.board.conftest import queue_caller
from tests.conftest import TwilioSigner
from tests.routing.conftest import caller_state, sid
from tests.smtp_server import SmtpServer

R = RoutingSettings()


def _board_messages(r: redis.Redis) -> redis.client.PubSub:
    pubsub = r.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(livebus.channel("board"))
    return pubsub


def _next(pubsub: redis.client.PubSub, timeout: float = 2.0) -> dict | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = pubsub.get_message(timeout=0.1)
        if message is not None:
            return dict(orjson.loads(message["data"]))
    return None


def test_a_queued_caller_is_published_on_the_board_topic_and_kept_for_the_page(
    app: Flask, twilio: TwilioSigner, session: Session, redis_client: redis.Redis
) -> None:
    pubsub = _board_messages(redis_client)
    caller_state(sid(1))
    queue_caller(twilio, sid(1))
    jobs = redis_store.queue("mail")

    board = publisher.publish_once(
        session, redis_client, BoardSettings(), jobs, now_ms=line.now_ms()
    )

    message = _next(pubsub)
    assert message is not None and message["event"] == "board"
    assert message["data"]["cola"]["total"] == 1
    assert message["data"]["cola"]["llamantes"][0]["call_sid"] == sid(1)
    assert message["data"]["alertas"][0]["kind"] == "sin_agentes"
    assert "<svg" in message["data"]["graficos"]["llamadas"]
    assert publisher.last(redis_client) == board == message["data"]
    pubsub.close()


def test_the_loop_recomputes_when_the_line_topic_speaks_and_not_more_often_than_allowed(
    app: Flask, redis_client: redis.Redis
) -> None:
    runs: list[float] = []
    stop = threading.Event()
    settings = BoardSettings(min_interval_ms=300, refresh_ms=60_000)
    loop = threading.Thread(
        target=publisher.run,
        args=(lambda: runs.append(time.monotonic()), redis_client, settings),
        kwargs={"stop": stop},
    )
    loop.start()
    try:
        _wait_for(lambda: len(runs) == 1)  # the first round at start
        time.sleep(0.5)
        assert len(runs) == 1  # nothing said: no recomputation before refresh_ms
        line.announce(redis_client)
        _wait_for(lambda: len(runs) == 2)
        assert runs[1] - runs[0] >= 0.3
        for _ in range(5):  # a burst: one more round, not five
            line.announce(redis_client)
        _wait_for(lambda: len(runs) == 3)
        time.sleep(0.5)
        assert len(runs) == 3
        assert runs[2] - runs[1] >= 0.29
    finally:
        stop.set()
        loop.join(timeout=5)
    assert not loop.is_alive()


def _wait_for(condition: Callable[[], bool], timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail("the condition did not come true in time")
        time.sleep(0.02)


def test_an_alert_is_mailed_once_a_day_however_often_the_board_is_published(
    app: Flask,
    session: Session,
    redis_client: redis.Redis,
    smtp_server: SmtpServer,
    work: Callable[..., None],
) -> None:
    app.config.update(smtp_server.config())
    settings = BoardSettings(alert_to=("supervision@mef.gob.pe",))
    now = line.now_ms()
    line.enqueue(redis_client, sid(1), language="es", priority="normal", now=now, settings=R)
    jobs = redis_store.queue("mail")
    for _ in range(3):
        publisher.publish_once(session, redis_client, settings, jobs, now_ms=now)
    work()
    [got] = smtp_server.received
    assert got.envelope_to == ["supervision@mef.gob.pe"]
    assert "No hay agentes disponibles" in got.message["Subject"]

    for _ in range(2):
        publisher.publish_once(session, redis_client, settings, jobs, now_ms=now + 1000)
    work()
    assert len(smtp_server.received) == 1


def test_no_mail_without_an_alert_address(
    app: Flask, session: Session, redis_client: redis.Redis
) -> None:
    line.enqueue(
        redis_client, sid(1), language="es", priority="normal", now=line.now_ms(), settings=R
    )
    jobs = redis_store.queue("mail")
    board = publisher.publish_once(
        session, redis_client, BoardSettings(), jobs, now_ms=line.now_ms()
    )
    assert board["alertas"]
    assert jobs.count == 0
