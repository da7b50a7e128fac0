"""The Plataforma queue's webhooks (waitUrl, Enqueue action, agent whisper and bridge).

Thin views: check the signature, read the form (``twilio_fields``: parsed once, by the
check), call routing.flows, return TwiML. Whatever fails behind a view (Redis, the database),
the caller still gets a sensible route: back in Twilio's queue with our wait URL, the hold
music, or a goodbye after a finished conversation.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, Response, request
from twilio.twiml.voice_response import VoiceResponse

from extensions import db
from routing import flows
from routing.context import from_app
from routing.queue import now_ms
from webhooks.twilio_auth import twilio_fields, twilio_signed, twiml

bp = Blueprint("queue", __name__, url_prefix="/voice/queue")
log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])


def _call() -> str:
    """The caller's CallSid: from the query (agent legs) or the form."""
    return request.args.get("call") or twilio_fields().get("CallSid", "")


def _agent() -> int:
    return int(request.args.get("agent", "0"))


# --- What a caller gets when something behind the view fails -----------------------------


def _back_in_line() -> VoiceResponse:
    ctx = from_app()
    if twilio_fields().get("DialCallStatus") in ("completed", "answered"):
        return flows.survey_or_goodbye(VoiceResponse(), ctx)
    return flows.enqueue_verb(VoiceResponse(), ctx)


def _hold_music() -> VoiceResponse:
    response = VoiceResponse()
    response.play(from_app().hold_music_url)
    return response


def _back_to_wait() -> VoiceResponse:
    response = VoiceResponse()
    response.redirect(from_app().links("queue.wait"), method="POST")
    return response


def _plain_whisper() -> VoiceResponse:
    response = VoiceResponse()
    response.say(flows.whisper_text(None), **from_app().say())
    return response


def _presencial_only() -> VoiceResponse:
    return flows.presencial_twiml(from_app())


def guarded(on_error: Callable[[], VoiceResponse]) -> Callable[[F], F]:
    """Return the view's TwiML; on any failure behind it, log and return ``on_error()``."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Response:
            try:
                result = view(*args, **kwargs)
            except Exception:  # a caller on the line must never get an error page
                log.exception("%s failed for %s", request.path, _call() or "-")
                with contextlib.suppress(Exception):
                    db.session.rollback()
                result = on_error()
            return result if isinstance(result, Response) else twiml(result)

        return wrapper  # type: ignore[return-value]

    return decorate


# --- Views ---------------------------------------------------------------------------------


@bp.post("/wait")
@twilio_signed
@guarded(_hold_music)
def wait() -> VoiceResponse:
    form = twilio_fields()
    return flows.wait(from_app(), form.get("CallSid", ""), form.get("QueueSid"), now=now_ms())


@bp.post("/wait-key")
@twilio_signed
@guarded(_back_to_wait)
def wait_key() -> VoiceResponse:
    form = twilio_fields()
    sid, digits = form.get("CallSid", ""), form.get("Digits", "")
    return flows.wait_key(from_app(), sid, digits, now=now_ms())


@bp.post("/left")
@twilio_signed
@guarded(_back_in_line)
def left() -> VoiceResponse:
    form = twilio_fields()
    return flows.left(
        db.session(),
        from_app(),
        form.get("CallSid", ""),
        form.get("QueueResult", ""),
        form.get("From", ""),
        now=now_ms(),
    )


@bp.post("/timeout")
@twilio_signed
@guarded(_back_in_line)
def timeout() -> VoiceResponse:
    telefono = twilio_fields().get("From", "")
    return flows.timeout_goodbye(db.session(), from_app(), _call(), telefono, now=now_ms())


@bp.post("/bridge")
@twilio_signed
@guarded(_back_in_line)
def bridge() -> VoiceResponse:
    return flows.bridge(db.session(), from_app(), _call(), _agent())


@bp.post("/whisper")
@twilio_signed
@guarded(_plain_whisper)
def whisper() -> VoiceResponse:
    return flows.whisper(from_app(), _call(), _agent(), now=now_ms())


@bp.post("/dial-done")
@twilio_signed
@guarded(_back_in_line)
def dial_done() -> VoiceResponse:
    form = twilio_fields()
    return flows.dial_done(
        from_app(),
        _call(),
        _agent(),
        form.get("DialCallStatus", ""),
        form.get("CallStatus", ""),
        int(form.get("DialCallDuration") or 0),
        now=now_ms(),
    )


@bp.post("/requeue")
@twilio_signed
@guarded(_back_in_line)
def requeue() -> VoiceResponse:
    return flows.requeue_twiml(from_app(), _call(), now=now_ms())


@bp.post("/conference-join")
@twilio_signed
@guarded(_plain_whisper)
def conference_join() -> VoiceResponse:
    role = request.args.get("role", "agent")
    return flows.conference_join(from_app(), _call(), _agent(), role, now=now_ms())


@bp.post("/agent-leg-status")
@twilio_signed
def agent_leg_status() -> Response:
    status = twilio_fields().get("CallStatus", "")
    flows.agent_leg_status(from_app(), _call(), _agent(), status, now=now_ms())
    return Response(status=204)


@bp.post("/transfer")
@twilio_signed
@guarded(_back_in_line)
def transfer() -> VoiceResponse:
    return flows.transfer_twiml(from_app(), _call(), request.args.get("anexo", ""))


@bp.post("/transfer-done")
@twilio_signed
@guarded(_back_in_line)
def transfer_done() -> VoiceResponse:
    status = twilio_fields().get("DialCallStatus", "")
    return flows.transfer_done(from_app(), _call(), status, now=now_ms())


@bp.post("/presencial")
@twilio_signed
@guarded(_presencial_only)
def presencial() -> VoiceResponse:
    return flows.presencial_twiml(from_app())
