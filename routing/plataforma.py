"""The seam between the call flow and the Plataforma.

The call flow calls ``send_to_plataforma`` wherever a caller must reach an agent; the routing
engine owns what happens next (routing/flows.py): the caller joins OUR priority line in Redis
and Twilio's queue with our waitUrl and action; with no state or no Redis, a plain <Enqueue>.
"""

from __future__ import annotations

import logging

import redis
from twilio.twiml.voice_response import VoiceResponse

from ivr.state import CallState

PLATAFORMA_QUEUE = "plataforma"
log = logging.getLogger(__name__)


def send_to_plataforma(
    response: VoiceResponse, state: CallState | None, reason: str
) -> VoiceResponse:
    """Append to ``response`` the TwiML that puts the caller in line for an agent.

    ``state`` is None when Redis is down (the fallback path); ``reason`` says why the call
    goes there (menu choice, route failed, too many wrong keys, fallback...).
    """
    if state is not None:
        from routing import flows
        from routing.context import from_app
        from routing.queue import now_ms

        try:
            return flows.send_to_plataforma(response, state, reason, from_app(), now=now_ms())
        except redis.RedisError:
            log.exception("Redis failed while queueing %s; plain <Enqueue>", state.call_sid)
    # No Redis at hand: Twilio's queue, with our wait URL (which adopts the caller into our
    # line once Redis answers) when the URLs can be built; else a bare <Enqueue>.
    try:
        from routing.context import external_url

        wait_url, action = external_url("queue.wait"), external_url("queue.left")
    except Exception:  # whatever fails here, the caller still gets in line
        log.exception("plain <Enqueue> without our wait URL")
        response.enqueue(PLATAFORMA_QUEUE)
        return response
    response.enqueue(
        PLATAFORMA_QUEUE, action=action, method="POST", wait_url=wait_url, wait_url_method="POST"
    )
    return response
