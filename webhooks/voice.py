"""The call flow's webhooks: /voice/incoming, /voice/status, /voice/fallback and each step's
action URL. Each view reads the form, builds the request's ``Turn`` and calls the domain in
ivr/; ``twilio_step`` checks the signature first and writes what the step saved and recorded
at the end. Any failure behind a view still gives Twilio a safe route."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import Blueprint, current_app, request, url_for
from twilio.twiml.voice_response import VoiceResponse

import mailer
from clock import utcnow
from extensions import db, redis_store
from ivr import closed, conectamef, entry, menus, survey, technical
from ivr import state as call_state
from ivr.flow import MAX_TRIES, FlowSettings, Turn
from ivr.prompts import speak
from ivr.state import CallState
from register.events import FINAL_CALL_STATUSES
from routing import flows
from routing.context import from_app
from routing.queue import caller_hung_up, now_ms
from webhooks.steps import Step, arg_int, form, form_int, hang_up, nothing, twilio_step

bp = Blueprint("voice", __name__, url_prefix="/voice")
KeyStep = Callable[[Turn, str, int], VoiceResponse]  # a menu's step: (turn, digits, try)
SafeRoute = Callable[[Step], VoiceResponse]


def _settings() -> FlowSettings:
    return FlowSettings.from_config(current_app.config)


def _now(step: Step) -> datetime:
    """The moment of the call: a simulated request's own, else IVR_NOW (tests fix it), else
    now."""
    if step.journal.clock is not None:
        return step.journal.clock
    fixed = current_app.config.get("IVR_NOW")
    if isinstance(fixed, datetime):
        return fixed
    return datetime.fromisoformat(fixed) if fixed else utcnow()


def _turn(step: Step, *, read_state: bool = True) -> Turn:
    """The request's Turn; the call's state is read from Redis here (after the signature)."""
    call_sid = form("CallSid")
    r = redis_store.client

    def plataforma(response: VoiceResponse, call: CallState | None, reason: str) -> VoiceResponse:
        ctx = from_app(journal=step.journal)
        return flows.send_to_plataforma(response, call, reason, ctx, now=now_ms())

    return Turn(
        session=db.session(),
        settings=_settings(),
        url_for=url_for,
        now=_now(step),
        call_sid=call_sid,
        r=r,
        call=call_state.load(r, call_sid) if read_state and call_sid else None,
        plataforma=plataforma,
        journal=step.journal,
        saved=step.states,
    )


def _tries() -> int:
    return min(max(arg_int("try", 1), 1), MAX_TRIES)


# --- What a caller gets when something behind the view fails ------------------------------


def _to_plataforma(step: Step) -> VoiceResponse:
    """Redis or the database failed: straight to an agent, with no catalogue and no state."""
    response = VoiceResponse()
    speak(response, None, _settings().voice, "to_plataforma_error")  # the default text
    if call_sid := form("CallSid"):
        step.journal.record(call_sid, "plataforma", once="fallback", reason="fallback")
    return flows.enqueue_verb(response, from_app(journal=step.journal))


def _incoming_failed(step: Step) -> VoiceResponse:
    """The call's first request failed: the incoming event is recorded all the same."""
    if call_sid := form("CallSid"):
        number = form("From")
        region = entry.region_of_number(number)
        data: dict[str, Any] = {"from": number, "to": form("To"), "region": region}
        step.journal.record(call_sid, "incoming", once=1, **data)
    return _to_plataforma(step)


def _thanks(_step: Step) -> VoiceResponse:
    response = VoiceResponse()
    speak(response, None, _settings().voice, "survey_skipped")  # the default text
    response.hangup()
    return response


# --- Views ----------------------------------------------------------------------------------


@bp.post("/incoming")
@twilio_step(_incoming_failed)
def incoming(step: Step) -> VoiceResponse:
    return entry.incoming(_turn(step), form("From"), form("To"))


@bp.post("/fallback")
@twilio_step(_to_plataforma)
def fallback(step: Step) -> VoiceResponse:
    """Twilio's fallback URL: straight to the Plataforma, with the call's state if Redis has it."""
    turn = _turn(step)
    response = VoiceResponse()
    speak(response, None, turn.settings.voice, "to_plataforma_error")  # the default text
    turn.record("plataforma", once="fallback", reason="fallback")
    return turn.plataforma(response, turn.call, "fallback")


@bp.post("/status")
@twilio_step(nothing)
def status(step: Step) -> VoiceResponse:
    """The call's final status; a caller who hung up while waiting leaves the line at once."""
    survey.status(_turn(step, read_state=False), form("CallStatus"), form("CallDuration"))
    if form("CallStatus") in FINAL_CALL_STATUSES:
        caller_hung_up(redis_store.client, step.journal, form("CallSid"), now=now_ms())
    return VoiceResponse()


@bp.post("/voicemail/done")
@twilio_step(hang_up)
def voicemail_done(step: Step) -> VoiceResponse:
    return closed.voicemail_done(_turn(step), form("RecordingUrl"), form_int("RecordingDuration"))


@bp.post("/voicemail/recording")
@twilio_step(nothing)
def voicemail_recording(step: Step) -> VoiceResponse:
    closed.voicemail_recording(
        _turn(step),
        form("RecordingSid"),
        form("RecordingUrl"),
        form_int("RecordingDuration"),
        form("RecordingStatus"),
    )
    return VoiceResponse()


@bp.post("/organos")
@twilio_step(_to_plataforma)
def organos(step: Step) -> VoiceResponse:
    return technical.choose_organo(_turn(step), form("Digits"), arg_int("page"), _tries())


@bp.post("/technical/summary")
@twilio_step(_to_plataforma)
def summary(step: Step) -> VoiceResponse:
    skipped = request.args.get("skipped") == "1"
    return technical.summary(
        _turn(step), form("RecordingUrl"), form_int("RecordingDuration"), skipped
    )


@bp.post("/technical/whisper")
@twilio_step(hang_up)
def whisper(step: Step) -> VoiceResponse:
    args = request.args
    return technical.whisper(_turn(step), args.get("call", ""), args.get("leg", ""))


@bp.post("/technical/whisper/accept")
@twilio_step(hang_up)
def whisper_accept(step: Step) -> VoiceResponse:
    args = request.args
    return technical.whisper_accept(
        redis_store.client, args.get("call", ""), args.get("leg", ""), form("Digits")
    )


@bp.post("/technical/dial-result")
@twilio_step(_to_plataforma)
def dial_result(step: Step) -> VoiceResponse:
    leg = request.args.get("leg", "alterno")
    response = technical.dial_result(
        _turn(step), leg, form("DialCallStatus"), form_int("DialCallDuration"), form("CallStatus")
    )
    _mail_red_members(step)
    return response


def _mail_red_members(step: Step) -> None:
    """A technical call the Red members missed (the flow's red_missed event): the worker
    e-mails them (register.jobs.mail_red_missed, by dotted path). A simulated call
    (`flask simulate`) mails no one."""
    for event in step.journal.events:
        if event["step"] == "red_missed" and event["choice"] and not event.get("simulated"):
            data = {**event["data"], "at": event["at"]}
            from_app(journal=step.journal).mail.enqueue(
                "register.jobs.mail_red_missed",
                event["call_sid"],
                event["choice"],
                data,
                job_timeout=60,
                retry=mailer.MAIL_RETRY,
                meta={"call_sid": event["call_sid"]},
            )


@bp.post("/conectamef/departments")
@twilio_step(_to_plataforma)
def departments(step: Step) -> VoiceResponse:
    return conectamef.choose_department(_turn(step), form("Digits"), arg_int("page"), _tries())


@bp.post("/conectamef/result")
@twilio_step(_to_plataforma)
def conectamef_result(step: Step) -> VoiceResponse:
    return conectamef.transfer_result(_turn(step), form("DialCallStatus"))


@bp.post("/survey", endpoint="survey")
@twilio_step(_thanks)
def survey_start(step: Step) -> VoiceResponse:
    return survey.start(_turn(step))


# The menus that read one answer (Digits) at their try: rule -> (endpoint, step, safe route).
KEY_MENUS: dict[str, tuple[str, KeyStep, SafeRoute]] = {
    "/closed": ("closed_menu", closed.closed_menu, hang_up),
    "/callback/confirm": ("callback_confirm", closed.callback_confirm, hang_up),
    "/callback/number": ("callback_number", closed.callback_number, hang_up),
    "/language": ("language", entry.choose_language, _to_plataforma),
    "/menu": ("main_menu", menus.main_menu, _to_plataforma),
    "/expediente": ("expediente", menus.expediente, _to_plataforma),
    "/expediente/confirm": ("expediente_confirm", menus.expediente_confirm, _to_plataforma),
    "/preferential": ("preferential", menus.preferential, _to_plataforma),
    "/survey/answer": ("survey_answer", survey.answer, _thanks),
}


def _key_menu(handle: KeyStep) -> Callable[[Step], VoiceResponse]:
    def view(step: Step) -> VoiceResponse:
        return handle(_turn(step), form("Digits"), _tries())

    return view


for rule, (endpoint, handle, on_error) in KEY_MENUS.items():
    bp.add_url_rule(rule, endpoint, twilio_step(on_error)(_key_menu(handle)), methods=["POST"])
