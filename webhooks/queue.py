"""The Plataforma queue's webhooks (waitUrl, Enqueue action, agent whisper and bridge).

Thin views: ``twilio_step`` checks the signature and writes what the view recorded at the end;
each view reads the form and calls routing.flows with a Context that records on the request's
journal. Whatever fails behind a view (Redis, the database), the caller still gets a sensible
route: back in Twilio's queue with our wait URL; out of it when the wait URL cannot read the
line, to the Plataforma's hunt group (PLATAFORMA_FALLBACK_DIAL) or a callback request; or the
survey after a finished conversation.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, Response, abort, request
from twilio.twiml.voice_response import VoiceResponse

from extensions import db
from ivr.flow import ANSWERED
from routing import flows
from routing.context import Context, from_app
from routing.queue import now_ms
from webhooks.steps import Step, arg_int, form, form_int, twilio_step
from webhooks.twilio_auth import twilio_signed

bp = Blueprint("queue", __name__, url_prefix="/voice/queue")


def _call() -> str:
    """The caller's CallSid: from the query (agent legs) or the form."""
    return request.args.get("call") or form("CallSid")


def _agent() -> int:
    """The agent of an agent's leg (``?agent=N``); 0, which no agent has, when it is not a
    number (the views then treat the offer as stale)."""
    return arg_int("agent")


def _speaker() -> int | None:
    """The registry's speaker an interpreter leg was placed to (``speaker`` in the query)."""
    value = request.args.get("speaker", "")
    return int(value) if value.isdigit() else None


def _ctx(step: Step) -> Context:
    return from_app(journal=step.journal)


def _safe_ctx(step: Step) -> Context:
    """For the safe routes: the catalogue's default texts, no database read."""
    return from_app(journal=step.journal, catalogue=False)


# --- What a caller gets when something behind the view fails -----------------------------


def _back_in_line(step: Step) -> VoiceResponse:
    ctx = _safe_ctx(step)
    if form("DialCallStatus") in ANSWERED:
        return flows.to_survey(VoiceResponse(), ctx)
    return flows.enqueue_verb(VoiceResponse(), ctx)


def _out_of_the_queue(step: Step) -> VoiceResponse:
    """The wait URL that cannot read the line: <Leave>, and the Enqueue action routes."""
    return flows.line_unreadable_wait()


def _left_without_the_line(step: Step) -> VoiceResponse:
    """The Enqueue action when the line cannot be read: the hunt group, or a callback."""
    result = form("QueueResult")
    ctx = _safe_ctx(step)
    if result == "hangup" or result in flows.ELSEWHERE:
        return VoiceResponse()
    if result == "bridged":
        return flows.to_survey(VoiceResponse(), ctx)
    return flows.line_unavailable(db.session(), ctx, form("CallSid"), form("From"))


def _fallback_over(step: Step) -> VoiceResponse:
    return _fallback_done(_safe_ctx(step))


def _fallback_done(ctx: Context) -> VoiceResponse:
    return flows.fallback_done(
        db.session(),
        ctx,
        form("CallSid"),
        form("DialCallStatus"),
        form("CallStatus"),
        form_int("DialCallDuration"),
        form("From"),
    )


def _back_to_wait(step: Step) -> VoiceResponse:
    response = VoiceResponse()
    response.redirect(_safe_ctx(step).links("queue.wait"), method="POST")
    return response


def _goodbye(step: Step) -> VoiceResponse:
    response = VoiceResponse()
    _safe_ctx(step).speak(response, "thanks")
    response.hangup()
    return response


def _plain_whisper(step: Step) -> VoiceResponse:
    return flows.plain_whisper(_safe_ctx(step))


def _accepted_anyway(step: Step) -> VoiceResponse:
    """The agent pressed a key but the line cannot be told: an agent who pressed 1 is
    connected rather than lose the caller."""
    response = VoiceResponse()
    if form("Digits") != "1":
        response.hangup()
    return response


def _presencial_only(step: Step) -> VoiceResponse:
    return flows.presencial_twiml(_safe_ctx(step), _call())


# --- Views ---------------------------------------------------------------------------------


@bp.post("/wait")
@twilio_step(_out_of_the_queue)
def wait(step: Step) -> VoiceResponse:
    return flows.wait(_ctx(step), form("CallSid"), form("QueueSid") or None, now=now_ms())


@bp.post("/wait-key")
@twilio_step(_back_to_wait)
def wait_key(step: Step) -> VoiceResponse:
    return flows.wait_key(_ctx(step), form("CallSid"), form("Digits"), now=now_ms())


@bp.post("/left")
@twilio_step(_left_without_the_line)
def left(step: Step) -> VoiceResponse:
    return flows.left(
        db.session(), _ctx(step), form("CallSid"), form("QueueResult"), form("From"), now=now_ms()
    )


@bp.post("/fallback-done")
@twilio_step(_fallback_over)
def fallback_done(step: Step) -> VoiceResponse:
    return _fallback_done(_ctx(step))


@bp.post("/timeout")
@twilio_step(_back_in_line)
def timeout(step: Step) -> VoiceResponse:
    return flows.timeout_goodbye(db.session(), _ctx(step), _call(), form("From"), now=now_ms())


@bp.post("/callback-goodbye")
@twilio_step(_goodbye)
def callback_goodbye(step: Step) -> VoiceResponse:
    """A supervisor took the caller out of the line into a callback (routing.jobs
    callback_caller): what the callback request says, and goodbye."""
    return flows.callback_goodbye(db.session(), _ctx(step), _call(), form("From"), "cola")


@bp.post("/bridge")
@twilio_step(_back_in_line)
def bridge(step: Step) -> VoiceResponse:
    return flows.bridge(db.session(), _ctx(step), _call(), _agent())


@bp.post("/whisper")
@twilio_step(_plain_whisper)
def whisper(step: Step) -> VoiceResponse:
    accept = request.args.get("accept") == "1"
    return flows.whisper(_ctx(step), _call(), _agent(), now=now_ms(), accept=accept)


@bp.post("/whisper-accept")
@twilio_step(_accepted_anyway)
def whisper_accept(step: Step) -> VoiceResponse:
    return flows.whisper_accept(_ctx(step), _call(), _agent(), form("Digits"), now=now_ms())


@bp.post("/dial-done")
@twilio_step(_back_in_line)
def dial_done(step: Step) -> VoiceResponse:
    return flows.dial_done(
        _ctx(step),
        _call(),
        _agent(),
        form("DialCallStatus"),
        form("CallStatus"),
        form_int("DialCallDuration"),
        now=now_ms(),
    )


@bp.post("/requeue")
@twilio_step(_back_in_line)
def requeue(step: Step) -> VoiceResponse:
    return flows.requeue_twiml(_ctx(step), _call(), now=now_ms())


@bp.post("/conference-join")
@twilio_step(_plain_whisper)
def conference_join(step: Step) -> VoiceResponse:
    role = request.args.get("role", "agent")
    return flows.conference_join(
        _ctx(step),
        _call(),
        _agent(),
        role,
        now=now_ms(),
        session=db.session(),
        speaker_id=_speaker(),
        accept=request.args.get("accept") == "1",
    )


def _agent_leg_status(handle: Callable[..., None]) -> Response:
    """An agent's leg's status callback (``?call=...&agent=N``, the leg's CallSid in the form)
    given to ``handle``: 400 without the caller or the agent."""
    if not request.args.get("agent", "").isdigit() or not _call():
        abort(400)
    ctx = from_app()
    handle(ctx, _call(), _agent(), form("CallStatus"), now=now_ms(), leg=form("CallSid"))
    ctx.hand_over()
    return Response(status=204)


@bp.post("/agent-leg-status")
@twilio_signed
def agent_leg_status() -> Response:
    return _agent_leg_status(flows.agent_leg_status)


@bp.post("/agent-participant-status")
@twilio_signed
def agent_participant_status() -> Response:
    """A softphone agent's leg, a participant of the caller's conference (statusCallback of
    the Participants API request routing.jobs.place_agent_leg makes)."""
    if not form("CallSid"):
        abort(400)
    return _agent_leg_status(flows.agent_participant_status)


@bp.post("/interpreter-leg-status")
@twilio_signed
def interpreter_leg_status() -> Response:
    """The interpreter's leg (statusCallback of the REST call routing.jobs places)."""
    ctx = from_app()
    flows.interpreter_leg_status(
        ctx, db.session(), _call(), _agent(), _speaker(), form("CallStatus")
    )
    ctx.hand_over()
    return Response(status=204)


@bp.post("/transfer")
@twilio_step(_back_in_line)
def transfer(step: Step) -> VoiceResponse:
    return flows.transfer_twiml(_ctx(step), _call(), request.args.get("anexo", ""))


@bp.post("/transfer-done")
@twilio_step(_back_in_line)
def transfer_done(step: Step) -> VoiceResponse:
    return flows.transfer_done(_ctx(step), _call(), form("DialCallStatus"), now=now_ms())


@bp.post("/presencial")
@twilio_step(_presencial_only)
def presencial(step: Step) -> VoiceResponse:
    return flows.presencial_twiml(_ctx(step), _call())
