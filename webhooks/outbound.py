"""Calls agents place from the console: the TwiML App's Voice URL (``POST /voice/agent/outbound``,
signed like every /voice/* request). The softphone sends ``To`` and ``Devolucion`` (the
reference of the callback request or voice message the agent took, routing.returns): the number
dialed is the item's, from the MEF line (ROUTING_CALLER_ID). The attempt is its own register
row (events ``callback_attempt`` on this call's CallSid), linked to the call it returns.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import Blueprint, request
from sqlalchemy import select
from twilio.twiml.voice_response import Dial, VoiceResponse

from clock import lima_now, utcnow
from directory.models import Agent
from extensions import db
from ivr.flow import ANSWERED
from routing import legs, returns
from routing.context import Context, from_app
from webhooks.steps import Step, form, form_int, nothing, twilio_step

bp = Blueprint("agent_voice", __name__, url_prefix="/voice/agent")
log = logging.getLogger(__name__)


def _refuse(step: Step) -> VoiceResponse:
    """Something behind the view failed: the catalogue's default text, read from nothing."""
    return _refused(from_app(journal=step.journal, catalogue=False))


def _refused(ctx: Context) -> VoiceResponse:
    response = VoiceResponse()
    ctx.speak(response, "agent_call_refused")
    response.hangup()
    return response


def _agent() -> Agent | None:
    """The agent whose softphone places the call (From: client:<identity>)."""
    identity = form("From").removeprefix("client:")
    if not identity:
        return None
    return db.session.scalars(
        select(Agent).where(Agent.canal == "client", Agent.destino == identity)
    ).first()


@bp.post("/outbound")
@twilio_step(_refuse)
def outbound(step: Step) -> VoiceResponse:
    ctx = from_app(journal=step.journal)
    agent = _agent()
    ref = form("Devolucion")
    item = (
        returns.held(db.session(), ctx.r, ref, agent.nombre, today=lima_now().date())
        if agent is not None
        else None
    )
    if agent is None or item is None:
        log.warning("outbound call %s refused: %s, %s", form("CallSid"), form("From"), ref)
        return _refused(ctx)
    if form("To") and form("To") != item.telefono:
        log.info("outbound %s: dialing the item's number, not the page's", form("CallSid"))
    call_sid = form("CallSid")
    legs.remember_outbound(ctx.r, call_sid, agent.id)
    ctx.journal.record(
        call_sid,
        "callback_attempt",
        once="dialed",
        callback_id=item.id,
        returned_call=item.call_sid,
        kind=item.tipo,
        telefono=item.telefono,
        agent_id=agent.id,
        nombre=agent.nombre,
    )
    response = VoiceResponse()
    dial = Dial(
        caller_id=ctx.caller_id,
        action=ctx.links("agent_voice.outbound_done", devolucion=item.id, agent=agent.id),
        method="POST",
        timeout=30,
    )
    dial.number(item.telefono)
    response.append(dial)
    return response


@bp.post("/outbound-done")
@twilio_step(nothing)
def outbound_done(step: Step) -> VoiceResponse:
    """The returned call is over: answered (when) or not (the Dial's outcome)."""
    ctx = from_app(journal=step.journal)
    status = form("DialCallStatus")
    answered = status in ANSWERED
    ctx.journal.record(
        form("CallSid"),
        "callback_attempt",
        "answered" if answered else status or "failed",
        once="result",
        at=utcnow() - timedelta(seconds=form_int("DialCallDuration")) if answered else None,
        callback_id=request.args.get("devolucion", ""),
        duration=form_int("DialCallDuration"),
    )
    response = VoiceResponse()
    response.hangup()
    return response
