"""The line is closed (outside hours, a holiday, a closure day): say the hours, then ``1`` a
callback request (the caller ID read back, or another number keyed) or ``2`` a voice message.
Both are stored, idempotently, for the Plataforma's next working day."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial

import phonenumbers
from phonenumbers import NumberParseException
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from twilio.twiml.voice_response import VoiceResponse

from ivr.flow import MAX_TRIES, Turn, gather, spoken_digits
from ivr.hours import Hours, callback_due_date, describe_hours
from ivr.state import CallState
from register.callbacks import request_callback
from register.models import VoiceMessage

log = logging.getLogger(__name__)

SOURCE = "fuera_de_horario"
CLOSED_PROMPTS = {"fuera_de_horario": "closed", "feriado": "closed_holiday", "cierre": "closed_day"}
VOICEMAIL_MAX_SECONDS = 120


def peruvian_number(text: str) -> str | None:
    """A valid phone number (Peru by default) in E.164, else None."""
    try:
        parsed = phonenumbers.parse(text, "PE")
    except NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _national_digits(e164: str) -> str:
    return phonenumbers.national_significant_number(phonenumbers.parse(e164))


def offer(turn: Turn, response: VoiceResponse, call: CallState, hours: Hours, reason: str) -> None:
    turn.speak(response, CLOSED_PROMPTS[reason])
    turn.speak(response, "hours", hours=describe_hours(hours.windows))
    ask_closed_menu(turn, response, 1)


def ask_closed_menu(turn: Turn, response: VoiceResponse, tries: int) -> None:
    menu = gather(turn, response, "voice.closed_menu", tries)
    turn.speak(menu, "closed_menu")


def _goodbye(turn: Turn, response: VoiceResponse) -> VoiceResponse:
    turn.speak(response, "goodbye")
    response.hangup()
    return response


def _retry_or_goodbye(
    turn: Turn,
    response: VoiceResponse,
    tries: int,
    digits: str,
    ask_again: Callable[[int], None],
    *,
    closed_option: bool = False,
) -> VoiceResponse:
    """Closed: no Plataforma to send the caller to; after three tries, say goodbye."""
    turn.speak(response, "wrong_key" if digits else "no_input")
    if tries >= MAX_TRIES:
        if closed_option:
            turn.record("closed_option", once="exhausted")
        return _goodbye(turn, response)
    ask_again(tries + 1)
    return response


def closed_menu(turn: Turn, digits: str, tries: int) -> VoiceResponse:
    response = VoiceResponse()
    ask_again = partial(ask_closed_menu, turn, response)
    if digits == "*":
        ask_again(tries)
        return response
    if digits not in ("1", "2"):
        return _retry_or_goodbye(turn, response, tries, digits, ask_again, closed_option=True)
    turn.record("closed_option", digits, once=f"{tries}:{digits}")
    call = turn.load()
    if digits == "1":
        number = peruvian_number(call.from_number)
        if number is None:
            ask_number(turn, response, 1)
        else:
            _read_back(turn, response, call, number)
        return response
    turn.speak(response, "voicemail_notice")
    response.record(
        action=turn.path("voice.voicemail_done"),
        method="POST",
        max_length=VOICEMAIL_MAX_SECONDS,
        finish_on_key="#",
        timeout=10,
        play_beep=True,
        recording_status_callback=turn.absolute("voice.voicemail_recording"),
        recording_status_callback_method="POST",
        recording_status_callback_event="completed",
    )
    turn.speak(response, "voicemail_empty")
    response.hangup()
    return response


# --- Callback request -------------------------------------------------------------------


def _read_back(turn: Turn, response: VoiceResponse, call: CallState, number: str) -> None:
    """Keep the number the callback would go to and read it back for ``1`` or ``2``."""
    call.extra["callback_number"] = number
    turn.save(call)
    ask_confirm(turn, response, number, 1)


def ask_confirm(turn: Turn, response: VoiceResponse, number: str, tries: int) -> None:
    menu = gather(turn, response, "voice.callback_confirm", tries)
    turn.speak(menu, "callback_readback", digits=spoken_digits(_national_digits(number)))


def ask_number(turn: Turn, response: VoiceResponse, tries: int) -> None:
    menu = gather(
        turn,
        response,
        "voice.callback_number",
        tries,
        num_digits=None,
        timeout=10,
        finish_on_key="#",
    )
    turn.speak(menu, "callback_ask_number")


def callback_confirm(turn: Turn, digits: str, tries: int) -> VoiceResponse:
    """``1`` stores the request for the number read back; ``2`` keys another number."""
    call = turn.load()
    response = VoiceResponse()
    number = str(call.extra.get("callback_number") or "")
    if not number or digits == "2":
        ask_number(turn, response, 1)
        return response
    ask_again = partial(ask_confirm, turn, response, number)
    if digits == "*":
        ask_again(tries)
        return response
    if digits != "1":
        return _retry_or_goodbye(turn, response, tries, digits, ask_again)
    request_callback(
        turn.session,
        call_sid=call.call_sid,
        source=SOURCE,
        telefono=number,
        due=callback_due_date(turn.now, turn.hours()),
        now=turn.now,
        language=call.language,
    )
    turn.record("callback_requested", once=SOURCE, source=SOURCE, telefono=number)
    turn.speak(response, "callback_saved")
    response.hangup()
    return response


def callback_number(turn: Turn, digits: str, tries: int) -> VoiceResponse:
    """Another number keyed (``#`` to end), checked as a Peruvian number, then read back."""
    response = VoiceResponse()
    number = peruvian_number(digits.rstrip("#")) if digits.strip("#") else None
    if number is None:
        if digits:
            turn.speak(response, "callback_invalid_number")
        return _retry_or_goodbye(turn, response, tries, digits, partial(ask_number, turn, response))
    _read_back(turn, response, turn.load(), number)
    return response


# --- Voice message ----------------------------------------------------------------------


def save_voicemail(
    turn: Turn,
    *,
    recording_url: str | None,
    recording_sid: str | None = None,
    duration: int | None = None,
) -> VoiceMessage:
    """Create or complete the call's one voice message (Record action and status callback),
    due the day the Plataforma must hear it."""
    session, call = turn.session, turn.load()
    query = select(VoiceMessage).where(VoiceMessage.call_sid == call.call_sid)
    row = session.scalars(query).first()
    if row is None:
        due = callback_due_date(turn.now, turn.hours())
        row = VoiceMessage(call_sid=call.call_sid, telefono=call.from_number[:20], due_date=due)
        session.add(row)
    row.recording_url = recording_url or row.recording_url
    row.recording_sid = recording_sid or row.recording_sid
    row.duration_seconds = duration if duration is not None else row.duration_seconds
    try:
        session.commit()
    except IntegrityError:  # created by the other callback at the same moment: complete it
        session.rollback()
        return save_voicemail(
            turn, recording_url=recording_url, recording_sid=recording_sid, duration=duration
        )
    return row


def voicemail_done(turn: Turn, recording_url: str, duration: int) -> VoiceResponse:
    """The Record action: keep what Twilio says about the message and thank the caller."""
    response = VoiceResponse()
    if recording_url:
        save_voicemail(turn, recording_url=recording_url, duration=duration)
        turn.speak(response, "voicemail_saved")
    else:
        turn.speak(response, "voicemail_empty")
    response.hangup()
    return response


def voicemail_recording(
    turn: Turn, recording_sid: str, recording_url: str, duration: int, status: str
) -> None:
    """recordingStatusCallback: store the recording's sid, url and duration."""
    if status and status != "completed":
        log.warning("recording %s of %s ended %s", recording_sid, turn.call_sid, status)
        return
    save_voicemail(
        turn, recording_url=recording_url, recording_sid=recording_sid, duration=duration
    )
    turn.record(
        "voicemail",
        once=recording_sid or "-",
        recording_sid=recording_sid,
        recording_url=recording_url,
        duration=duration,
    )
