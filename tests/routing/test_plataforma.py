"""send_to_plataforma: the seam the call flow calls wherever a caller goes to an agent."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
import redis
from flask import Flask
from twilio.twiml.voice_response import VoiceResponse

from extensions import redis_store
from ivr.prompts import DEFAULT_PROMPTS
from routing import queue as line
from routing.settings import RoutingSettings
from tests.conftest import TwilioSigner, call_params
from tests.routing.conftest import caller_state, dead_redis, send_to_plataforma, sid, steps
from tests.twilio_fake import FakeTwilio

S = RoutingSettings()


def test_without_state_it_is_a_plain_enqueue_that_does_not_touch_redis(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(redis_store, "_client", dead_redis())
    with app.test_request_context():
        root = ET.fromstring(str(send_to_plataforma(VoiceResponse(), None, "fallback")))
    [enqueue] = list(root)
    assert enqueue.tag == "Enqueue" and enqueue.text == "plataforma"
    assert enqueue.attrib["waitUrl"] == "https://ivr.example.test/voice/queue/wait"


def test_a_redis_failure_still_gives_a_plain_enqueue(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = caller_state(sid(1))
    monkeypatch.setattr(redis_store, "_client", dead_redis())
    with app.test_request_context():
        root = ET.fromstring(str(send_to_plataforma(VoiceResponse(), state, "menu")))
    assert [child.tag for child in root] == ["Enqueue"]


def test_the_caller_joins_our_line_and_twilios_queue_with_our_wait_url(
    app: Flask, redis_client: redis.Redis, journey: list, fake_twilio: FakeTwilio
) -> None:
    state = caller_state(sid(1), tipo_usuario="autoridad", region="Cusco")
    with app.test_request_context():
        root = ET.fromstring(str(send_to_plataforma(VoiceResponse(), state, "authority")))
    say, enqueue = list(root)
    assert say.text == DEFAULT_PROMPTS["queue_authority"]
    assert enqueue.text == "plataforma"
    assert enqueue.attrib["waitUrl"] == "https://ivr.example.test/voice/queue/wait"
    assert enqueue.attrib["action"] == "https://ivr.example.test/voice/queue/left"
    assert line.position(redis_client, sid(1)) == 1
    assert steps(journey, sid(1)) == [("queued", None)]
    assert journey[0]["data"] == {"priority": "authority", "language": "es"}
    assert fake_twilio.sent == []  # no agent is free: no REST call


def test_sending_the_same_caller_twice_records_the_events_once(app: Flask, journey: list) -> None:
    state = caller_state(sid(1), preferencial="gestante")
    with app.test_request_context():
        send_to_plataforma(VoiceResponse(), state, "preferential")
        send_to_plataforma(VoiceResponse(), state, "preferential")
    assert steps(journey, sid(1)) == [("queued", None)]
    assert journey[0]["data"]["priority"] == "preferential"


def test_a_caller_queued_while_redis_was_down_is_adopted_by_the_wait_url(
    app: Flask, twilio: TwilioSigner, redis_client: redis.Redis, journey: list
) -> None:
    caller_state(sid(1), preferencial="discapacidad")
    caller_state(sid(2))
    line.enqueue(
        redis_client, sid(2), language="es", priority="normal", now=line.now_ms(), settings=S
    )
    reply = twilio.post("/voice/queue/wait", call_params(sid(1)))
    assert reply.status_code == 200
    assert line.position(redis_client, sid(1)) == 1  # preferential, ahead of sid(2)
    assert steps(journey, sid(1)) == [("queued", None)]
