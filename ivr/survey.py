"""After the conversation: the satisfaction survey (§5.3.4 b, c), 1 to 5, skippable; and the
call's final status from Twilio's status callback."""

from __future__ import annotations

from twilio.twiml.voice_response import VoiceResponse

from ivr import state
from ivr.flow import MAX_TRIES, Turn, gather, record_once
from routing.queue import caller_hung_up

SCORES = ("1", "2", "3", "4", "5")
# Twilio's final CallStatus values: the call is over, whatever step it was at.
FINAL_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})


def _language(call_sid: str) -> str:
    call = state.load(call_sid)
    return call.language if call else "es"


def ask(turn: Turn, response: VoiceResponse, language: str, tries: int) -> None:
    menu = gather(turn, response, "voice.survey_answer", tries, timeout=6)
    turn.speak(menu, "survey_ask", language)


def start(turn: Turn) -> VoiceResponse:
    response = VoiceResponse()
    ask(turn, response, _language(turn.call_sid), 1)
    return response


def answer(turn: Turn, digits: str, tries: int) -> VoiceResponse:
    """A score 1–5 is stored as the ``survey`` event; no key (or three wrong ones) skips it."""
    language = _language(turn.call_sid)
    response = VoiceResponse()
    if digits == "*":
        ask(turn, response, language, tries)
        return response
    if digits in SCORES:
        record_once(turn.call_sid, "survey", "answered", digits)
        turn.speak(response, "survey_thanks", language)
    elif digits and tries < MAX_TRIES:
        turn.speak(response, "wrong_key", language)
        ask(turn, response, language, tries + 1)
        return response
    else:
        record_once(turn.call_sid, "survey", "answered", None)
        turn.speak(response, "survey_skipped", language)
    response.hangup()
    return response


def status(call_sid: str, call_status: str, duration: str) -> None:
    """Twilio's status callback: a ``status`` event (once per CallStatus); a caller who hung up
    while waiting for an agent leaves the Plataforma line at once (registered abandoned)."""
    if call_status in FINAL_STATUSES:
        caller_hung_up(call_sid)
    seconds = int(duration) if duration.isdigit() else None
    record_once(call_sid, "status", call_status or "-", call_status or None, duration=seconds)
