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


def test_a_status_callback_before_the_last_step_leaves_no_ghost_in_line(
    app: Flask, twilio: TwilioSigner, redis_client: redis.Redis
) -> None:
    """Issue 15: Twilio's final status overtook the menu step that sends the caller to the
    Plataforma; that late step must not put a caller who is gone at the head of the line."""
    sid_ = sid(3)
    twilio.post("/voice/incoming", call_params(sid_))
    twilio.post("/voice/status", call_params(sid_, CallStatus="completed", CallDuration="9"))
    late = twilio.post("/voice/menu?try=1", call_params(sid_, Digits="0"))
    assert late.status_code == 200 and b"<Enqueue" not in late.data
    assert line.waiting_count(redis_client) == 0


@pytest.mark.parametrize("query", ["agent=abc", "agent=", "agent=-1"])
def test_an_agent_leg_status_with_bad_parameters_is_a_400(twilio: TwilioSigner, query: str) -> None:
    """Issue 15: every view validates its query parameters (400, never 500)."""
    response = twilio.post(f"/voice/queue/agent-leg-status?{query}", call_params(CallStatus="busy"))
    assert response.status_code == 400
