"""The webhooks of the caller's conference and of its later legs (routing.transfers): the
conference's status callback, a transfer leg's answer and key, and its status callback (or,
for a leg that joined as a participant, its participant status callback).

Thin views, signed like every /voice/* request. A status callback answers 204 and hands its
events to the register; a leg's TwiML is a ``twilio_step`` whose safe route hangs the leg up
(the caller, on hold with the agent, is never the one cut off).
"""

from __future__ import annotations

from flask import Blueprint, Response, request
from twilio.twiml.voice_response import VoiceResponse

from extensions import db
from routing import transfers
from routing.context import from_app
from webhooks.steps import Step, form, form_int, hang_up, nothing, twilio_step
from webhooks.twilio_auth import twilio_signed

bp = Blueprint("conference", __name__, url_prefix="/voice/conference")


def _leg() -> str:
    return request.args.get("leg", "")


@bp.post("/events")
@twilio_signed
def events() -> Response:
    """The caller's conference (statusCallback of their <Conference>): start, end, join,
    leave; each carries the ConferenceSid."""
    ctx = from_app()
    transfers.conference_event(ctx, request.args.get("call", ""), form("ConferenceSid"))
    return Response(status=204)


@bp.post("/leg")
@twilio_step(hang_up)
def leg(step: Step) -> VoiceResponse:
    return transfers.leg_answered(db.session(), from_app(journal=step.journal), _leg())


@bp.post("/leg-accept")
@twilio_step(hang_up)
def leg_accept(step: Step) -> VoiceResponse:
    return transfers.leg_key(from_app(journal=step.journal), _leg(), form("Digits"))


@bp.post("/leg-status")
@twilio_signed
def leg_status() -> Response:
    ctx = from_app()
    transfers.leg_status(ctx, _leg(), form("CallStatus"), form_int("CallDuration"))
    ctx.hand_over()
    return Response(status=204)


@bp.post("/participant-status")
@twilio_signed
def participant_status() -> Response:
    """A transfer's leg that joined as a participant (a softphone agent): no TwiML of its
    own, its answer and every other status come here."""
    ctx = from_app()
    transfers.participant_status(ctx, _leg(), form("CallStatus"), form_int("CallDuration"))
    ctx.hand_over()
    return Response(status=204)


@bp.post("/announce")
@twilio_step(nothing)
def announce(step: Step) -> VoiceResponse:
    """An announcement to the caller (AnnounceUrl of their participant)."""
    ctx = from_app(journal=step.journal)
    return transfers.announcement(ctx, request.args.get("call", ""), request.args.get("prompt", ""))
