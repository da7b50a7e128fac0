"""The status callback ends a wait: a caller who hangs up in the Plataforma line leaves it."""

from __future__ import annotations

import pytest
import redis
from flask import Flask
from twilio.twiml.voice_response import VoiceResponse

from routing import queue as line
from tests.conftest import TwilioSigner, call_params
from tests.routing.conftest import caller_state, send_to_plataforma, sid


@pytest.mark.parametrize("final", ["completed", "canceled", "failed"])
def test_status_callback_takes_a_waiting_caller_out_of_line(
    app: Flask, twilio: TwilioSigner, redis_client: redis.Redis, final: str
) -> None:
    with app.test_request_context():
        send_to_plataforma(VoiceResponse(), caller_state(sid(1)), "menu")
        send_to_plataforma(VoiceResponse(), caller_state(sid(2)), "menu")
    assert line.waiting_count(redis_client) == 2

    response = twilio.post("/voice/status", call_params(sid(1), CallStatus=final, CallDuration=40))

    assert response.status_code == 200
    assert line.waiting_count(redis_client) == 1
    assert line.position(redis_client, sid(2)) == 1


def test_an_in_progress_status_leaves_the_caller_waiting(
    app: Flask, twilio: TwilioSigner, redis_client: redis.Redis
) -> None:
    with app.test_request_context():
        send_to_plataforma(VoiceResponse(), caller_state(sid(1)), "menu")
    twilio.post("/voice/status", call_params(sid(1), CallStatus="in-progress"))
    assert line.waiting_count(redis_client) == 1
