"""The Plataforma queue's webhooks (waitUrl, Enqueue action, agent whisper and bridge).

Thin views: check the signature, read the form, call routing.flows, return TwiML.
"""

from __future__ import annotations

from flask import Blueprint, Response, request

from extensions import db
from routing import flows
from routing.context import from_app
from routing.queue import now_ms
from webhooks.twilio_auth import twilio_signed, twiml

bp = Blueprint("queue", __name__, url_prefix="/voice/queue")


def _call() -> str:
    """The caller's CallSid: from the query (agent legs) or the form."""
    return request.args.get("call") or request.form.get("CallSid", "")


def _agent() -> int:
    return int(request.args.get("agent", "0"))


@bp.post("/wait")
@twilio_signed
def wait() -> Response:
    sid = request.form.get("CallSid", "")
    return twiml(flows.wait(from_app(), sid, request.form.get("QueueSid"), now=now_ms()))


@bp.post("/wait-key")
@twilio_signed
def wait_key() -> Response:
    sid, digits = request.form.get("CallSid", ""), request.form.get("Digits", "")
    return twiml(flows.wait_key(from_app(), sid, digits, now=now_ms()))


@bp.post("/left")
@twilio_signed
def left() -> Response:
    form = request.form
    return twiml(
        flows.left(
            db.session(),
            from_app(),
            form.get("CallSid", ""),
            form.get("QueueResult", ""),
            form.get("From", ""),
            now=now_ms(),
        )
    )


@bp.post("/timeout")
@twilio_signed
def timeout() -> Response:
    return twiml(
        flows.timeout_goodbye(
            db.session(), from_app(), _call(), request.form.get("From", ""), now=now_ms()
        )
    )


@bp.post("/bridge")
@twilio_signed
def bridge() -> Response:
    return twiml(flows.bridge(db.session(), from_app(), _call(), _agent()))


@bp.post("/whisper")
@twilio_signed
def whisper() -> Response:
    return twiml(flows.whisper(from_app(), _call(), _agent(), now=now_ms()))


@bp.post("/dial-done")
@twilio_signed
def dial_done() -> Response:
    form = request.form
    return twiml(
        flows.dial_done(
            from_app(),
            _call(),
            _agent(),
            form.get("DialCallStatus", ""),
            form.get("CallStatus", ""),
            int(form.get("DialCallDuration") or 0),
            now=now_ms(),
        )
    )


@bp.post("/requeue")
@twilio_signed
def requeue() -> Response:
    return twiml(flows.requeue_twiml(from_app(), _call(), now=now_ms()))


@bp.post("/conference-join")
@twilio_signed
def conference_join() -> Response:
    role = request.args.get("role", "agent")
    return twiml(flows.conference_join(from_app(), _call(), _agent(), role, now=now_ms()))


@bp.post("/agent-leg-status")
@twilio_signed
def agent_leg_status() -> Response:
    status = request.form.get("CallStatus", "")
    flows.agent_leg_status(from_app(), _call(), _agent(), status, now=now_ms())
    return Response(status=204)


@bp.post("/transfer")
@twilio_signed
def transfer() -> Response:
    return twiml(flows.transfer_twiml(from_app(), _call(), request.args.get("anexo", "")))


@bp.post("/transfer-done")
@twilio_signed
def transfer_done() -> Response:
    status = request.form.get("DialCallStatus", "")
    return twiml(flows.transfer_done(from_app(), _call(), status, now=now_ms()))


@bp.post("/presencial")
@twilio_signed
def presencial() -> Response:
    return twiml(flows.presencial_twiml(from_app()))
