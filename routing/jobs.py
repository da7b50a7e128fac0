"""rq jobs of the routing engine (queue "default"): the REST calls to Twilio and the sweep.

Jobs take ids and plain values, run inside the worker's app context, and are idempotent: each
checks in Redis that what it is about to do is still current.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import timedelta

from flask import current_app
from sqlalchemy import select

import twilio_rest
from clock import lima_now
from directory.dialing import DialTarget, address_target, agent_target, anexo_target, speaker_target
from directory.models import Agent, LanguageSpeaker
from extensions import db
from ivr import state as call_state
from register import callbacks
from routing import agents, authorities, legs, screenpop, transfers
from routing import queue as line
from routing.context import Context, from_app
from routing.dispatch import Match, dispatch
from routing.queue import CallerStatus
from routing.scripts import CALLER_TTL_SECONDS, PREFIX, text

log = logging.getLogger(__name__)


def connect_caller(call_sid: str, agent_id: int) -> str:
    """Take the matched caller out of Twilio's queue to the bridge TwiML; first the agent's
    console is shown who is coming (``offer``, routing/screenpop.py). A softphone agent whose
    console is closed is not offered anyone: offline, and the caller goes to the next agent."""
    ctx = from_app()
    caller = line.caller(ctx.r, call_sid)
    if caller is None or not caller.is_offered_to(agent_id):
        return "stale"
    if agents.is_absent(ctx.r, agent_id):
        return _console_gone(ctx, call_sid, agent_id)
    _publish_offer(ctx, call_sid)
    url = ctx.links("queue.bridge", call=call_sid, agent=agent_id)
    if twilio_rest.dequeue_to_url(line.twilio_queue(ctx.r), call_sid, url):
        return "dequeued"
    # Not a member (yet, or any more): if the bridge was not served, redirect the call itself.
    caller = line.caller(ctx.r, call_sid)
    if caller is None or caller.status is not CallerStatus.OFFERED or caller.bridge_served:
        return "stale"
    if twilio_rest.redirect_call(call_sid, url):
        return "redirected"
    line.caller_hung_up(ctx.r, ctx.journal, call_sid, now=line.now_ms())
    ctx.hand_over()
    return "gone"


def _publish_offer(ctx: Context, call_sid: str) -> None:
    settings = screenpop.PopSettings.from_config(current_app.config)
    screenpop.publish_offer(db.session(), ctx.r, settings, call_sid)


def _console_gone(ctx: Context, call_sid: str, agent_id: int) -> str:
    now = line.now_ms()
    line.requeue(ctx.r, call_sid, now=now)  # the agent is available again, the caller waits
    agents.console_closed(ctx.r, agents.presence(ctx.r, agent_id), now=now, settings=ctx.settings)
    dispatch(ctx.r, ctx.jobs, now=now, settings=ctx.settings)
    return "absent"


def redirect_caller(call_sid: str, url: str) -> bool:
    return twilio_rest.redirect_call(call_sid, url)


def dial_conference_parties(call_sid: str, agent_id: int) -> list[str]:
    """Call the offered agent into the caller's conference (and, when the agent does not speak
    the caller's language, a speaker of it: interpreter mode)."""
    ctx = from_app()
    agent = db.session.get(Agent, agent_id)
    caller = line.caller(ctx.r, call_sid)
    if agent is None or caller is None or not caller.is_offered_to(agent_id):
        return []
    if not line.claim_conference_calls(ctx.r, call_sid):
        return []  # a retry: the legs were already placed
    sids = [place_agent_leg(ctx, call_sid, agent)]
    # Again, now that the agent's phone rings: the caller's state is final by now (the first
    # pop, from connect_caller, may have been read before the webhook that queued them saved
    # the last menu choice).
    _publish_offer(ctx, call_sid)
    if caller.interpreter:
        ctx.r.delete(_tried_key(call_sid))  # a new offer: every speaker may be tried again
        leg = dial_interpreter(ctx, call_sid, agent_id, caller.language)
        if leg is not None:
            sids.append(leg)
    ctx.hand_over()
    return sids


def place_agent_leg(ctx: Context, call_sid: str, agent: Agent) -> str:
    """THE one place where the offered agent's leg is called (into the caller's conference):
    what the agent's console learns of an offer starts here. A softphone agent (``client``) is
    added as a participant through the Conference Participants API: the console's answer is
    the acceptance and the screen pop replaces the whisper, so their leg runs no TwiML; its
    status callback (``queue.agent_participant_status``) does what that TwiML did on answer.
    An agent on an anexo or SIP keeps a Calls API call whose TwiML whispers and asks for 1
    (``accept``), so a voicemail cannot take the caller; the Participants API has no
    SendDigits for an anexo behind ANEXO_DIAL's switchboard number either."""
    target = agent_target(agent.canal, agent.destino, ctx.anexo_dial)
    values = {"call": call_sid, "agent": agent.id}
    if target.kind == "client":
        sid = twilio_rest.create_participant(
            legs.conference_name(call_sid),
            ctx.caller_id,
            target.rest_to(),
            label="agente",
            status_callback=ctx.links("queue.agent_participant_status", **values),
            status_callback_event=transfers.LEG_EVENTS,
            timeout=ctx.settings.ring_timeout_seconds,
            start_conference_on_enter=True,
            end_conference_on_exit=True,
            conference_status_callback=ctx.links("conference.events", call=call_sid),
        )
    else:
        sid = twilio_rest.create_call(
            target.rest_to(),
            ctx.caller_id,
            ctx.links("queue.conference_join", **values, role="agent", accept=1),
            send_digits=target.send_digits,
            status_callback=ctx.links("queue.agent_leg_status", **values),
            timeout=ctx.settings.ring_timeout_seconds,
            events=transfers.LEG_EVENTS,
        )
    legs.set_agent_leg(ctx.r, call_sid, agent.id, sid)
    return sid


def dial_next_interpreter(call_sid: str, agent_id: int) -> str | None:
    """The interpreter dialed did not answer (their leg's status callback): the next speaker
    of the language who was not tried yet, while the caller is still with that agent."""
    ctx = from_app()
    caller = line.caller(ctx.r, call_sid)
    if caller is None or caller.agent_id != agent_id:
        return None
    if caller.status not in (CallerStatus.OFFERED, CallerStatus.BRIDGED):
        return None
    leg = dial_interpreter(ctx, call_sid, agent_id, caller.language)
    ctx.hand_over()
    return leg


def _tried_key(call_sid: str) -> str:
    return f"{PREFIX}interp:tried:{call_sid}"


def dial_interpreter(ctx: Context, call_sid: str, agent_id: int, language: str) -> str | None:
    """Call the next speaker of the language not yet tried for this caller into the caller's
    conference, their leg watched by a status callback; records the ``interpreter`` event
    ``none`` when no one is left. Returns the leg's CallSid."""
    tried = {int(text(v)) for v in ctx.r.smembers(_tried_key(call_sid))}
    interpreter = pick_interpreter(ctx, language, exclude=tried)
    if interpreter is None:
        log.warning("no active speaker of %s left in the registry for %s", language, call_sid)
        ctx.journal.record(
            call_sid,
            "interpreter",
            "none",
            once=f"none:{len(tried)}",
            language=language,
            speaker_id=None,
            nombre=None,
        )
        return None
    with ctx.r.pipeline() as pipe:
        pipe.sadd(_tried_key(call_sid), interpreter.speaker_id)
        pipe.expire(_tried_key(call_sid), CALLER_TTL_SECONDS)
        pipe.execute()
    values = {"call": call_sid, "agent": agent_id, "speaker": interpreter.speaker_id}
    return twilio_rest.create_call(
        interpreter.target.rest_to(),
        ctx.caller_id,
        ctx.links("queue.conference_join", **values, role="interp"),
        send_digits=interpreter.target.send_digits,
        status_callback=ctx.links("queue.interpreter_leg_status", **values),
        timeout=30,
    )


@dataclass(frozen=True)
class Interpreter:
    speaker_id: int
    nombre: str
    target: DialTarget


def pick_interpreter(
    ctx: Context, language: str, *, exclude: Collection[int] = ()
) -> Interpreter | None:
    """The next active speaker of the language in the registry (§5.4), in turn, leaving out
    the speakers in ``exclude`` (already tried for this caller)."""
    speakers = db.session.scalars(
        select(LanguageSpeaker)
        .where(LanguageSpeaker.language_code == language, LanguageSpeaker.activo.is_(True))
        .order_by(LanguageSpeaker.id)
    )
    choices = [
        Interpreter(s.id, s.nombre_completo, t)
        for s in speakers
        if s.id not in exclude and (t := speaker_target(s.telefono, s.anexo, ctx.anexo_dial))
    ]
    if not choices:
        return None
    turn = int(ctx.r.incr(f"{PREFIX}interp:{language}"))
    return choices[(turn - 1) % len(choices)]


# --- The conference's REST work (routing.transfers queues these) ---------------------------


def _conference_sid(ctx: Context, call_sid: str) -> str | None:
    """The caller's ConferenceSid: as its status callback told it, else looked up by name."""
    known = legs.conference(ctx.r, call_sid).sid
    if known:
        return known
    found = twilio_rest.find_conference(legs.conference_name(call_sid))
    if found:
        legs.remember_sid(ctx.r, call_sid, found)
    return found


def hold_caller(call_sid: str, on: bool) -> bool:
    """Put the caller on hold (hold music) or back in the conversation."""
    ctx = from_app()
    sid = _conference_sid(ctx, call_sid)
    if sid is None:
        log.warning("no conference of %s to hold or unhold the caller in", call_sid)
        return False
    return twilio_rest.update_participant(sid, call_sid, hold=on, hold_url=ctx.hold_music_url)


def announce_to_caller(call_sid: str, prompt_id: str) -> bool:
    """Play the caller a message in the conference (routing.transfers.announcement)."""
    ctx = from_app()
    sid = _conference_sid(ctx, call_sid)
    if sid is None:
        return False
    url = ctx.links("conference.announce", call=call_sid, prompt=prompt_id)
    return twilio_rest.update_participant(sid, call_sid, announce_url=url)


def end_call(call_sid: str) -> bool:
    """The agent hangs up: the conference ends (the caller goes on to the survey)."""
    ctx = from_app()
    sid = _conference_sid(ctx, call_sid)
    if sid is None:
        return twilio_rest.hangup_call(call_sid)
    return twilio_rest.end_conference(sid)


def hang_up_leg(leg_sid: str, ringing: bool = False) -> bool:
    return twilio_rest.hangup_call(leg_sid, ringing=ringing)


def place_leg(leg_id: str) -> str | None:
    """Call a transfer's leg (a Red member, an agent, a CONECTAMEF center). A softphone agent
    (a cold transfer) joins the conference as a participant (Conference Participants API): no
    TwiML of its own, its statuses go to routing.transfers.participant_status. Every other leg
    is a Calls API call whose TwiML (routing.transfers.leg_answered) whispers and asks a Red
    member or a phone agent for 1 (so a voicemail cannot take the caller; the Participants API
    has no SendDigits for ANEXO_DIAL), its statuses going to leg_status."""
    ctx = from_app()
    leg = legs.leg(ctx.r, leg_id)
    if leg is None or leg.estado == "removed" or not legs.claim_leg_call(ctx.r, leg_id):
        return None
    target = _leg_target(ctx, leg)
    if target is None:
        log.warning("leg %s of %s has nowhere to call", leg_id, leg.call_sid)
        return None
    if leg.kind == "agente" and target.kind == "client":
        sid = twilio_rest.create_participant(
            legs.conference_name(leg.call_sid),
            ctx.caller_id,
            target.rest_to(),
            label=leg_id,
            status_callback=ctx.links("conference.participant_status", leg=leg_id),
            status_callback_event=transfers.LEG_EVENTS,
            timeout=ctx.settings.ring_timeout_seconds,
            start_conference_on_enter=True,
            # warm: the one called leaving must not end the conference until completed
            end_conference_on_exit=not leg.warm,
        )
    else:
        sid = twilio_rest.create_call(
            target.rest_to(),
            ctx.caller_id,
            ctx.links("conference.leg", leg=leg_id),
            send_digits=target.send_digits,
            status_callback=ctx.links("conference.leg_status", leg=leg_id),
            timeout=ctx.settings.ring_timeout_seconds,
            events=transfers.LEG_EVENTS,
        )
    legs.set_leg_sid(ctx.r, leg_id, sid)
    return sid


def _leg_target(ctx: Context, leg: legs.Leg) -> DialTarget | None:
    if leg.kind == "red":
        return anexo_target(leg.to, ctx.anexo_dial)
    if leg.kind == "agente" and leg.target_agent is not None:
        agent = db.session.get(Agent, leg.target_agent)
        return agent_target(agent.canal, agent.destino, ctx.anexo_dial) if agent else None
    if leg.kind == "conectamef":
        return address_target(leg.to)
    return None


def _agent_leaves(ctx: Context, conference_sid: str, call_sid: str) -> None:
    """The agent's leg leaves the conference without ending it."""
    agent_leg = legs.conference(ctx.r, call_sid).agent_leg
    if agent_leg:
        twilio_rest.update_participant(conference_sid, agent_leg, end_conference_on_exit=False)
        twilio_rest.remove_participant(conference_sid, agent_leg)


def complete_transfer(call_sid: str, leg_id: str) -> bool:
    """The warm transfer is complete: the Red member's leaving now ends the conference, the
    caller comes off hold, the agent leaves."""
    ctx = from_app()
    leg = legs.leg(ctx.r, leg_id)
    sid = _conference_sid(ctx, call_sid)
    if leg is None or sid is None or leg.sid is None:
        return False
    twilio_rest.update_participant(sid, leg.sid, end_conference_on_exit=True)
    twilio_rest.update_participant(sid, call_sid, hold=False)
    _agent_leaves(ctx, sid, call_sid)
    return True


def cancel_leg(call_sid: str, leg_id: str) -> bool:
    """The agent cancels the transfer: the leg is removed from the conference (or stops
    ringing), the caller comes off hold."""
    ctx = from_app()
    leg = legs.leg(ctx.r, leg_id)
    if leg is None:
        return False
    sid = _conference_sid(ctx, call_sid)
    if leg.sid:
        if leg.accepted and sid:
            twilio_rest.remove_participant(sid, leg.sid)
        else:
            twilio_rest.hangup_call(leg.sid, ringing=leg.estado in ("initiated", "ringing"))
    if sid:
        twilio_rest.update_participant(sid, call_sid, hold=False)
    return True


def cold_transfer(call_sid: str, leg_id: str) -> str | None:
    """A cold transfer: the caller on hold, the agent out of the conference, the leg called."""
    ctx = from_app()
    sid = _conference_sid(ctx, call_sid)
    if sid is not None:
        twilio_rest.update_participant(sid, call_sid, hold=True, hold_url=ctx.hold_music_url)
        _agent_leaves(ctx, sid, call_sid)
    return place_leg(leg_id)


def notify_visits_module(call_sid: str, agent: str, visit: dict[str, str] | None = None) -> str:
    """The Módulo de Visitas' notice (``visit``: authorities.Visit.as_data())."""
    agreed = authorities.Visit.from_data(visit) if visit else None
    body = authorities.sms_for_visits(call_state.load(from_app().r, call_sid), agent, agreed)
    module = authorities.VisitsModule.from_config(current_app.config)
    return authorities.notify(db.session(), module, call_sid, agent, body)


def timeout_caller(call_sid: str) -> bool:
    """A caller at the wait limit: out of Twilio's queue to the callback goodbye."""
    ctx = from_app()
    url = ctx.links("queue.timeout", call=call_sid)
    return twilio_rest.dequeue_to_url(line.twilio_queue(ctx.r), call_sid, url)


def callback_caller(call_sid: str) -> str:
    """A supervisor took the caller out of the line into a callback (board/actions.py): out of
    Twilio's queue to the callback goodbye (the request is already recorded)."""
    ctx = from_app()
    url = ctx.links("queue.callback_goodbye", call=call_sid)
    if twilio_rest.dequeue_to_url(line.twilio_queue(ctx.r), call_sid, url):
        return "dequeued"
    if twilio_rest.redirect_call(call_sid, url):  # out of the queue already: the call itself
        return "redirected"
    return "gone"


@dataclass
class SweepReport:
    timeouts: list[str] = field(default_factory=list)
    unstuck: list[tuple[int, str]] = field(default_factory=list)
    matches: list[Match] = field(default_factory=list)
    flagged: int = 0


def sweep(ctx: Context, *, now: int) -> SweepReport:
    """Periodic work: wait limits, offers whose call never reached the agent, matching (aging
    and language overflow happen inside it), overdue callbacks."""
    report = SweepReport()
    report.timeouts = line.timed_out(ctx.r, now=now, settings=ctx.settings)
    for call_sid in report.timeouts:
        ctx.job("timeout_caller", call_sid)
    agents.drop_absent(ctx.r, now=now, settings=ctx.settings)
    older = (ctx.settings.ring_timeout_seconds + 60) * 1000
    for agent_id, call_sid in agents.stuck_ringing(ctx.r, now=now, older_than_ms=older):
        caller = line.caller(ctx.r, call_sid)
        if caller is None or not caller.bridge_served:
            line.requeue(ctx.r, call_sid, now=now)
            report.unstuck.append((agent_id, call_sid))
    report.matches = dispatch(ctx.r, ctx.jobs, now=now, settings=ctx.settings)
    report.flagged = callbacks.flag_overdue(db.session(), today=lima_now().date())
    return report


SWEEP_JOB_ID = "routing-sweep"


def sweep_job(every: int = 0) -> dict[str, int]:
    """The sweep as an rq job; with ``every`` > 0 it schedules its next run (the worker runs
    rq's scheduler). The next run always has the same job id, so however many times the chain
    is started, one run is scheduled at a time."""
    ctx = from_app()
    report = sweep(ctx, now=line.now_ms())
    if every > 0:
        schedule_sweep(ctx, every)
    return {
        "timeouts": len(report.timeouts),
        "unstuck": len(report.unstuck),
        "matches": len(report.matches),
        "flagged": report.flagged,
    }


def schedule_sweep(ctx: Context, every: int) -> None:
    ctx.jobs.enqueue_in(
        timedelta(seconds=every), sweep_job, every, job_id=SWEEP_JOB_ID, job_timeout=60
    )
