"""After the conversation: the satisfaction survey (§5.3.4 b, c), 1 to 5, skippable; and the
call's final status from Twilio's status callback."""

from __future__ import annotations

from twilio.twiml.voice_response import VoiceResponse

from ivr.flow import MAX_TRIES, Turn, gather

SCORES = ("1", "2", "3", "4", "5")


def _language(turn: Turn) -> str:
    return turn.call.language if turn.call else "es"


def ask(turn: Turn, response: VoiceResponse, language: str, tries: int) -> None:
    menu = gather(turn, response, "voice.survey_answer", tries, timeout=6)
    turn.speak(menu, "survey_ask", language)


def start(turn: Turn) -> VoiceResponse:
    response = VoiceResponse()
    ask(turn, response, _language(turn), 1)
    return response


def answer(turn: Turn, digits: str, tries: int) -> VoiceResponse:
    """A score 1–5 is stored as the ``survey`` event; no key (or three wrong ones) skips it."""
    language = _language(turn)
    response = VoiceResponse()
    if digits == "*":
        ask(turn, response, language, tries)
        return response
    if digits in SCORES:
        turn.record("survey", digits, once="answered")
        turn.speak(response, "survey_thanks", language)
    elif digits and tries < MAX_TRIES:
        turn.speak(response, "wrong_key", language)
        ask(turn, response, language, tries + 1)
        return response
    else:
        turn.record("survey", None, once="answered")
        turn.speak(response, "survey_skipped", language)
    response.hangup()
    return response


def status(turn: Turn, call_status: str, duration: str) -> None:
    """Twilio's status callback: a ``status`` event (once per CallStatus)."""
    seconds = int(duration) if duration.isdigit() else None
    turn.record("status", call_status or None, once=call_status or "-", duration=seconds)
