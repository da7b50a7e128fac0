"""The call flow's webhooks: /voice/incoming, /voice/status, /voice/fallback and each step's
action URL. Each view checks the signature, reads the form, calls the domain in ivr/ and returns
its TwiML; any failure behind it (Redis, the database) still gives Twilio a safe route."""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar, cast

from flask import Blueprint, Response, current_app, request, url_for
from sqlalchemy.orm import Session
from twilio.twiml.voice_response import VoiceResponse

from clock import utcnow
from extensions import db
from ivr import closed, conectamef, entry, menus, survey, technical
from ivr.flow import (
    MAX_TRIES,
    FlowSettings,
    Turn,
    batched,
    fallback_route,
    safe_plataforma,
    start,
)
from ivr.prompts import DEFAULT_PROMPTS
from webhooks.twilio_auth import reject, signature_is_valid, twilio_fields, twiml

log = logging.getLogger(__name__)
bp = Blueprint("voice", __name__, url_prefix="/voice")
F = TypeVar("F", bound=Callable[..., Any])


def _settings() -> FlowSettings:
    return FlowSettings.from_config(current_app.config)


def _now() -> datetime:
    """The moment of the call; the simulator and tests may fix it with IVR_NOW."""
    fixed = current_app.config.get("IVR_NOW")
    if isinstance(fixed, datetime):
        return fixed
    return datetime.fromisoformat(fixed) if fixed else utcnow()


@functools.lru_cache(maxsize=4096)
def _built_path(script_root: str, endpoint: str, values: tuple[tuple[str, Any], ...]) -> str:
    return url_for(endpoint, **dict(values))


def _path(endpoint: str, **values: Any) -> str:
    """``url_for`` of the flow's action URLs (a handful of endpoints and values, asked for on
    every step), remembered per script root."""
    try:
        return _built_path(request.script_root, endpoint, tuple(sorted(values.items())))
    except TypeError:  # a value that cannot be a cache key
        return url_for(endpoint, **values)


def _turn() -> Turn:
    # The scoped session itself, not ``db.session()``: it opens a session only when a step
    # reads the database (most read the per-process caches), and acts as one in every way.
    session = cast(Session, db.session)
    return Turn(session, _settings(), _path, _now(), _form("CallSid"))


def _form(name: str) -> str:
    return twilio_fields().get(name, "")


def _int(value: str | None, default: int = 0) -> int:
    return int(value) if value and value.isdigit() else default


def _tries() -> int:
    return min(max(_int(request.args.get("try"), 1), 1), MAX_TRIES)


def _to_plataforma() -> VoiceResponse:
    return safe_plataforma("fallback", _form("CallSid") or None, _settings().voice)


def _hang_up() -> VoiceResponse:
    response = VoiceResponse()
    response.hangup()
    return response


def _thanks() -> VoiceResponse:
    response = VoiceResponse()
    voice = _settings().voice
    response.say(DEFAULT_PROMPTS["survey_skipped"], voice=voice.name, language=voice.language)
    response.hangup()
    return response


def step(on_error: Callable[[], VoiceResponse]) -> Callable[[F], F]:
    """A step of the call flow: 403 unless Twilio signed the request (the call's state is
    read from Redis meanwhile); else the view's TwiML, or ``on_error()`` (logged) on any
    failure behind it."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Response:
            call_sid = _form("CallSid")
            started = start(call_sid)  # Redis reads while the signature is checked
            if not signature_is_valid():
                started.close()
                reject()
            try:
                with batched(call_sid, started) as writes:
                    response = view(*args, **kwargs)
                document = twiml(response)  # while Redis runs the request's writes
                writes.settle()
                return document
            except Exception:  # a caller on the line must never get an error page
                log.exception("%s failed for call %s", request.path, call_sid or "-")
                with contextlib.suppress(Exception):
                    db.session.rollback()
                return twiml(on_error())

        return wrapper  # type: ignore[return-value]

    return decorate


@bp.post("/incoming")
@step(_to_plataforma)
def incoming() -> VoiceResponse:
    return entry.incoming(_turn(), _form("From"), _form("To"))


@bp.post("/fallback")
@step(_to_plataforma)
def fallback() -> VoiceResponse:
    return fallback_route(_form("CallSid") or None, _settings().voice)


@bp.post("/status")
@step(VoiceResponse)
def status() -> VoiceResponse:
    survey.status(_form("CallSid"), _form("CallStatus"), _form("CallDuration"))
    return VoiceResponse()


@bp.post("/closed")
@step(_hang_up)
def closed_menu() -> VoiceResponse:
    return closed.closed_menu(_turn(), _form("Digits"), _tries())


@bp.post("/callback/confirm")
@step(_hang_up)
def callback_confirm() -> VoiceResponse:
    return closed.callback_confirm(_turn(), _form("Digits"), _tries())


@bp.post("/callback/number")
@step(_hang_up)
def callback_number() -> VoiceResponse:
    return closed.callback_number(_turn(), _form("Digits"), _tries())


@bp.post("/voicemail/done")
@step(_hang_up)
def voicemail_done() -> VoiceResponse:
    return closed.voicemail_done(_turn(), _form("RecordingUrl"), _int(_form("RecordingDuration")))


@bp.post("/voicemail/recording")
@step(VoiceResponse)
def voicemail_recording() -> VoiceResponse:
    closed.voicemail_recording(
        _turn(),
        _form("RecordingSid"),
        _form("RecordingUrl"),
        _int(_form("RecordingDuration")),
        _form("RecordingStatus"),
    )
    return VoiceResponse()


@bp.post("/language")
@step(_to_plataforma)
def language() -> VoiceResponse:
    return entry.choose_language(_turn(), _form("Digits"), _tries())


@bp.post("/menu")
@step(_to_plataforma)
def main_menu() -> VoiceResponse:
    return menus.main_menu(_turn(), _form("Digits"), _tries())


@bp.post("/expediente")
@step(_to_plataforma)
def expediente() -> VoiceResponse:
    return menus.expediente(_turn(), _form("Digits"), _tries())


@bp.post("/expediente/confirm")
@step(_to_plataforma)
def expediente_confirm() -> VoiceResponse:
    return menus.expediente_confirm(_turn(), _form("Digits"), _tries())


@bp.post("/preferential")
@step(_to_plataforma)
def preferential() -> VoiceResponse:
    return menus.preferential(_turn(), _form("Digits"), _tries())


@bp.post("/organos")
@step(_to_plataforma)
def organos() -> VoiceResponse:
    page = _int(request.args.get("page"))
    return technical.choose_organo(_turn(), _form("Digits"), page, _tries())


@bp.post("/technical/summary")
@step(_to_plataforma)
def summary() -> VoiceResponse:
    skipped = request.args.get("skipped") == "1"
    recording = _form("RecordingUrl")
    return technical.summary(_turn(), recording, _int(_form("RecordingDuration")), skipped)


@bp.post("/technical/whisper")
@step(_hang_up)
def whisper() -> VoiceResponse:
    return technical.whisper(_turn(), request.args.get("call", ""), request.args.get("leg", ""))


@bp.post("/technical/whisper/accept")
@step(_hang_up)
def whisper_accept() -> VoiceResponse:
    args = request.args
    return technical.whisper_accept(args.get("call", ""), args.get("leg", ""), _form("Digits"))


@bp.post("/technical/dial-result")
@step(_to_plataforma)
def dial_result() -> VoiceResponse:
    leg = request.args.get("leg", "alterno")
    duration = _int(_form("DialCallDuration"))
    status = _form("DialCallStatus")
    return technical.dial_result(_turn(), leg, status, duration, _form("CallStatus"))


@bp.post("/conectamef/departments")
@step(_to_plataforma)
def departments() -> VoiceResponse:
    page = _int(request.args.get("page"))
    return conectamef.choose_department(_turn(), _form("Digits"), page, _tries())


@bp.post("/conectamef/result")
@step(_to_plataforma)
def conectamef_result() -> VoiceResponse:
    return conectamef.transfer_result(_turn(), _form("DialCallStatus"))


@bp.post("/survey", endpoint="survey")
@step(_thanks)
def survey_start() -> VoiceResponse:
    return survey.start(_turn())


@bp.post("/survey/answer")
@step(_thanks)
def survey_answer() -> VoiceResponse:
    return survey.answer(_turn(), _form("Digits"), _tries())
