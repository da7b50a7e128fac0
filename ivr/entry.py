"""The start of a call: greeting, open or closed, and the language menu."""

from __future__ import annotations

from functools import partial

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType, geocoder, number_type
from twilio.twiml.voice_response import VoiceResponse

from ivr import closed
from ivr.flow import (
    Turn,
    ask_main_menu,
    gather,
    retry_or_plataforma,
)
from ivr.hours import closed_reason
from ivr.state import CallState

LANGUAGE_KEYS = {"": "es", "1": "es", "2": "qu", "3": "ay"}


def region_of_number(number: str) -> str | None:
    """The department of a Peruvian landline (Spanish geocoder); None for mobiles and others."""
    try:
        parsed = phonenumbers.parse(number, "PE")
    except NumberParseException:
        return None
    if parsed.country_code != 51 or number_type(parsed) != PhoneNumberType.FIXED_LINE:
        return None
    description = geocoder.description_for_number(parsed, "es")
    if not description or description == "Perú":
        return None
    return description.split("/")[0]  # "Lima/Callao" is dialed as Lima


def incoming(turn: Turn, from_number: str, to_number: str) -> VoiceResponse:
    """Greet (the call is registered, §5.3.1); then closed options or the language menu."""
    call = turn.call
    if call is None:
        call = CallState(
            call_sid=turn.call_sid,
            from_number=from_number,
            to_number=to_number,
            started_at=turn.now.isoformat(),
            region=region_of_number(from_number),
        )
        turn.save(call)
    turn.record("incoming", **{"from": from_number, "to": to_number, "region": call.region})
    response = VoiceResponse()
    turn.speak(response, "greeting")
    hours = turn.hours()
    reason = closed_reason(turn.now, hours)
    if reason is not None:
        turn.record("closed", reason=reason)
        closed.offer(turn, response, call, hours, reason)
        return response
    ask_language(turn, response, 1)
    return response


def ask_language(turn: Turn, response: VoiceResponse, tries: int) -> None:
    menu = gather(turn, response, "voice.language", tries, timeout=5)
    for code in ("es", "qu", "ay"):
        turn.speak(menu, f"language_menu_{code}", code)


def choose_language(turn: Turn, digits: str, tries: int) -> VoiceResponse:
    """``1`` or no key: Spanish; ``2`` quechua; ``3`` aymara; ``*`` repeats."""
    call = turn.load()
    response = VoiceResponse()
    ask_again = partial(ask_language, turn, response)
    if digits == "*":
        ask_again(tries)
        return response
    language = LANGUAGE_KEYS.get(digits)
    if language is None:
        return retry_or_plataforma(turn, response, call, tries, digits, ask_again)
    call.language = language
    turn.save(call)
    turn.record("language", language, once=f"{tries}:{digits}")
    ask_main_menu(turn, response, call, 1)
    return response
