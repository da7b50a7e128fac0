"""The seam between the call flow and the Plataforma.

The call flow calls ``send_to_plataforma`` wherever a caller must reach an agent; the routing
engine owns what happens next. Until the routing issue lands this is a plain <Enqueue>.
"""

from __future__ import annotations

from twilio.twiml.voice_response import VoiceResponse

from ivr.state import CallState

PLATAFORMA_QUEUE = "plataforma"


def send_to_plataforma(
    response: VoiceResponse, state: CallState | None, reason: str
) -> VoiceResponse:
    """Append to ``response`` the TwiML that puts the caller in line for an agent.

    ``state`` is None when Redis is down (the fallback path); ``reason`` says why the call
    goes there (menu choice, route failed, too many wrong keys, fallback...).
    """
    response.enqueue(PLATAFORMA_QUEUE)
    return response
