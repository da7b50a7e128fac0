"""Call control of a conversation in its conference (the agent's console): hold, hang up,
reject an offer, warm transfer to the Red (titular, then alterno), cold transfer to another
agent or a CONECTAMEF center, three-way, and the TwiML and status of each leg.

The agent's console calls the functions of the first half (each checks that the agent is the
one on that call, records the journey events, tells the agent's page on the live channel and
queues the REST work as rq jobs of routing.jobs: nothing slow in a request); Twilio calls the
second half (a leg answered, its key, its status), through webhooks/conference.py. Every step
is idempotent: Twilio delivering a callback twice changes nothing (routing.legs claims each
state once).
"""

from __future__ import annotations

import itertools
import logging
from typing import Any

import redis
from sqlalchemy import select
from sqlalchemy.orm import Session
from twilio.twiml.voice_response import Dial, Gather, VoiceResponse

import livebus
from directory.models import Agent, ConectamefCenter, Organo
from ivr import briefing
from ivr import state as call_state
from routing import agents, legs
from routing import queue as line
from routing.context import Context, Refused
from routing.dispatch import try_dispatch
from routing.legs import Leg, conference_name
from routing.queue import CallerStatus

log = logging.getLogger(__name__)
LEG_EVENTS = ("initiated", "ringing", "answered", "completed")
ACCEPT_SECONDS = 10  # how long the person called has to press 1 after the whisper


# --- The live channel -----------------------------------------------------------------------


def tell(ctx: Context, agent_id: int | None, event: str, data: dict[str, Any]) -> None:
    """Publish on the agent's topic; the page fetches what it missed, so a failure is logged."""
    if not agent_id:
        return
    try:
        livebus.publish(ctx.r, f"agent:{agent_id}", event, data)
    except redis.RedisError:
        log.warning("could not publish %s to agent %s", event, agent_id)


def tell_leg(
    ctx: Context, agent_id: int | None, call_sid: str, leg: str, rol: str, estado: str
) -> None:
    tell(ctx, agent_id, "leg", {"call_sid": call_sid, "leg": leg, "rol": rol, "estado": estado})


def tell_call(ctx: Context, agent_id: int | None, call_sid: str, estado: str) -> None:
    tell(ctx, agent_id, "call", {"call_sid": call_sid, "estado": estado})


# --- What the agent asks ------------------------------------------------------------------


def send_back(ctx: Context, call_sid: str, endpoint: str) -> None:
    """Redirect the caller out of their conference to ``endpoint`` (queue.requeue after a
    miss, queue.transfer_done after a cold transfer nobody took): their place in line."""
    ctx.job("redirect_caller", call_sid, ctx.links(endpoint, call=call_sid))


def require_connected(ctx: Context, call_sid: str, agent_id: int) -> line.WaitingCaller:
    """The caller talking with this agent now (409 otherwise)."""
    caller = line.caller(ctx.r, call_sid)
    if caller is None or caller.status is not CallerStatus.BRIDGED or caller.agent_id != agent_id:
        raise Refused(409, "Esa llamada no está conectada con usted. Actualice la página.")
    return caller


def reject(ctx: Context, call_sid: str, agent_id: int, *, now: int) -> None:
    """The agent declines the offered caller: a miss (the caller keeps their place)."""
    caller = line.caller(ctx.r, call_sid)
    if caller is None or not caller.is_offered_to(agent_id):
        raise Refused(409, "Esa llamada ya no le está siendo ofrecida.")
    requeued, state = agents.missed(ctx.r, call_sid, agent_id, now=now, settings=ctx.settings)
    log.info("agent %s rejected %s (now %s)", agent_id, call_sid, state)
    conference = legs.conference(ctx.r, call_sid)
    if conference.agent_leg and conference.agent_id == agent_id:
        ctx.job("hang_up_leg", conference.agent_leg, True, call_sid=call_sid)
    if requeued:
        send_back(ctx, call_sid, "queue.requeue")
    tell_call(ctx, agent_id, call_sid, "terminada")


def hold(ctx: Context, call_sid: str, agent_id: int, on: bool) -> None:
    require_connected(ctx, call_sid, agent_id)
    _hold(ctx, call_sid, on)
    tell_call(ctx, agent_id, call_sid, "en_espera" if on else "conectada")


def _hold(ctx: Context, call_sid: str, on: bool) -> None:
    """The caller on hold (hold music) or back in the conversation: kept, and done by a job."""
    legs.set_hold(ctx.r, call_sid, on)
    ctx.job("hold_caller", call_sid, on)


def hang_up(ctx: Context, call_sid: str, agent_id: int) -> None:
    """The agent ends the conversation: the conference ends, the caller's <Dial> action
    (flows.dial_done) puts the agent in wrap-up and the caller goes on to the survey."""
    require_connected(ctx, call_sid, agent_id)
    ctx.job("end_call", call_sid)


def organos(session: Session, query: str, limit: int = 20) -> list[dict[str, Any]]:
    """Active órganos whose sigla or name contains ``query`` (all when empty), in menu order,
    with their serving titular and alterno."""
    stmt = select(Organo).where(Organo.activo.is_(True)).order_by(Organo.orden, Organo.sigla)
    words = query.strip().lower()
    found = (
        o for o in session.scalars(stmt) if words in o.sigla.lower() or words in o.nombre.lower()
    )
    return [
        {
            "sigla": organo.sigla,
            "nombre": organo.nombre,
            "titular": _member(organo, "titular"),
            "alterno": _member(organo, "alterno"),
        }
        for organo in itertools.islice(found, limit)
    ]


def _member(organo: Organo, rol: str) -> dict[str, str] | None:
    rep = organo.current(rol)
    return {"nombre": rep.nombre_completo, "anexo": rep.anexo} if rep else None


def _start(ctx: Context, call_sid: str, leg: Leg, by: str, mode: str) -> None:
    if not legs.start_consult(ctx.r, call_sid, leg.leg_id, mode):
        raise Refused(
            409, "Ya hay una transferencia en curso: complétela o cancélela antes de otra."
        )
    ctx.journal.record(
        call_sid,
        "leg",
        "dialed",
        once=f"{leg.leg_id}:dialed",
        leg=leg.leg_id,
        kind=leg.kind,
        rol=leg.rol,
        organo=leg.organo,
        nombre=leg.nombre,
        to=leg.to,
        by=by,
    )
    tell_leg(ctx, leg.agent_id, call_sid, leg.leg_id, leg.rol, "initiated")


def transfer_to_red(
    session: Session, ctx: Context, call_sid: str, agent_id: int, *, sigla: str, rol: str, by: str
) -> Leg:
    """A warm transfer: the caller on hold with music, the órgano's titular (or alterno)
    called into the conference, whispered, and asked to press 1."""
    require_connected(ctx, call_sid, agent_id)
    if rol not in ("titular", "alterno"):
        raise Refused(400, "Indique el rol: titular o alterno.")
    organo = session.scalars(
        select(Organo).where(Organo.sigla == sigla.strip().upper(), Organo.activo.is_(True))
    ).first()
    if organo is None:
        raise Refused(404, f"El órgano «{sigla}» no existe o no está activo.")
    rep = organo.current(rol)
    if rep is None:
        raise Refused(404, f"{organo.sigla} no tiene {rol} designado: elija otro rol u órgano.")
    leg = legs.new_leg(
        ctx.r,
        call_sid,
        kind="red",
        rol=rol,
        nombre=rep.nombre_completo,
        to=rep.anexo,
        organo=organo.sigla,
        agent_id=agent_id,
        warm=True,
    )
    _start(ctx, call_sid, leg, by, "consult")
    _hold(ctx, call_sid, True)
    ctx.job("place_leg", leg.leg_id, call_sid=call_sid)
    tell_call(ctx, agent_id, call_sid, "en_espera")
    return leg


def transfer_cold(
    session: Session,
    ctx: Context,
    call_sid: str,
    agent_id: int,
    *,
    agente: int | None,
    centro: int | None,
    by: str,
    now: int,
) -> Leg:
    """A cold transfer to another Plataforma agent or a CONECTAMEF center: the agent leaves
    now; the caller waits with music until the one called answers, or goes back to their place
    in line if nobody does."""
    require_connected(ctx, call_sid, agent_id)
    if agente is not None:
        target = session.get(Agent, agente)
        if target is None or not target.activo or target.id == agent_id:
            raise Refused(404, "Ese agente no existe, no está activo o es usted mismo.")
        if agents.presence(ctx.r, target.id).state != "available":
            raise Refused(409, f"{target.nombre} no está disponible: elija otro agente.")
        kind, nombre, to, target_agent = "agente", target.nombre, str(target.id), target.id
    elif centro is not None:
        center = session.get(ConectamefCenter, centro)
        if center is None or not center.activo:
            raise Refused(404, "Ese centro CONECTAMEF no existe o no está activo.")
        kind, nombre, to, target_agent = "conectamef", center.centro, center.telefono, None
    else:
        raise Refused(400, "Indique a quién transferir: un agente o un centro CONECTAMEF.")
    leg = legs.new_leg(
        ctx.r,
        call_sid,
        kind=kind,
        rol=kind,  # a cold transfer's leg is named for its kind
        nombre=nombre,
        to=to,
        agent_id=agent_id,
        warm=False,
        target_agent=target_agent,
    )
    if not line.claim_handoff(ctx.r, call_sid, leg.kind):
        raise Refused(409, "Esta llamada ya fue transferida.")
    _start(ctx, call_sid, leg, by, "cold")
    ctx.journal.record(
        call_sid,
        "transfer",
        once=leg.leg_id,
        to=leg.to,
        kind="plataforma" if leg.kind == "agente" else "conectamef",
        by=by,
        nombre=leg.nombre,
        warm=False,
    )
    legs.set_hold(ctx.r, call_sid, True)
    ctx.job("cold_transfer", call_sid, leg.leg_id)
    _leave(ctx, call_sid, agent_id, now=now)
    if leg.target_agent is not None and not agents.hand_over(
        ctx.r, call_sid, leg.target_agent, now=now
    ):
        log.warning("%s: agent %s was taken meanwhile", call_sid, leg.target_agent)
    return leg


def _leave(ctx: Context, call_sid: str, agent_id: int, *, now: int) -> None:
    """The agent is done with the caller (who goes on with someone else): wrap-up."""
    agents.conversation_ended(
        ctx.r, call_sid, agent_id, now=now, handle_seconds=0, settings=ctx.settings
    )
    try_dispatch(ctx.r, ctx.jobs, now=now, settings=ctx.settings)
    tell_call(ctx, agent_id, call_sid, "transferida")


def _consulted(ctx: Context, call_sid: str, agent_id: int) -> Leg:
    require_connected(ctx, call_sid, agent_id)
    conference = legs.conference(ctx.r, call_sid)
    leg = legs.leg(ctx.r, conference.consult) if conference.consult else None
    if leg is None or not leg.warm:
        raise Refused(409, "No hay una transferencia en curso en esta llamada.")
    return leg


def complete(ctx: Context, call_sid: str, agent_id: int, *, by: str, now: int) -> Leg:
    """The agent hands the caller to the Red member who accepted: the agent leaves, the caller
    comes off hold; the survey follows when they finish."""
    leg = _consulted(ctx, call_sid, agent_id)
    if not leg.accepted or leg.estado in legs.MISSED | {"completed", "removed"}:
        raise Refused(409, "El especialista aún no aceptó la llamada: espere o cancele.")
    if not line.claim_handoff(ctx.r, call_sid, "red"):
        raise Refused(409, "Esta llamada ya fue transferida.")
    ctx.journal.record(
        call_sid,
        "transfer",
        once=leg.leg_id,
        to=leg.to,
        kind="red",
        by=by,
        rol=leg.rol,
        nombre=leg.nombre,
        organo=leg.organo,
        warm=True,
    )
    legs.set_mode(ctx.r, call_sid, "transferred")
    legs.set_hold(ctx.r, call_sid, False)
    ctx.job("complete_transfer", call_sid, leg.leg_id)
    _leave(ctx, call_sid, agent_id, now=now)
    return leg


def cancel(ctx: Context, call_sid: str, agent_id: int) -> Leg:
    """The agent goes back to the caller: the Red leg is removed (or its ringing stopped), the
    caller comes off hold."""
    leg = _consulted(ctx, call_sid, agent_id)
    legs.end_consult(ctx.r, call_sid, leg.leg_id)
    legs.claim_state(ctx.r, leg.leg_id, "removed")
    ctx.journal.record(call_sid, "leg", "removed", once=f"{leg.leg_id}:removed", **_about(leg))
    legs.set_hold(ctx.r, call_sid, False)
    ctx.job("cancel_leg", call_sid, leg.leg_id)
    tell_leg(ctx, agent_id, call_sid, leg.leg_id, leg.rol, "removed")
    tell_call(ctx, agent_id, call_sid, "conectada")
    return leg


def three_way(ctx: Context, call_sid: str, agent_id: int) -> Leg:
    """Caller, Red member and agent together: the caller comes off hold, the agent stays
    (and may complete later, leaving the two)."""
    leg = _consulted(ctx, call_sid, agent_id)
    if not leg.accepted:
        raise Refused(409, "El especialista aún no aceptó la llamada: espere o cancele.")
    legs.set_mode(ctx.r, call_sid, "three_way")
    _hold(ctx, call_sid, False)
    ctx.journal.record(
        call_sid, "leg", "conference", once=f"{leg.leg_id}:conference", **_about(leg)
    )
    tell_call(ctx, agent_id, call_sid, "conectada")
    return leg


ANNOUNCEMENTS = ("authority_by_phone",)  # what the caller may be told in the conference


def authority_by_phone(ctx: Context, call_sid: str, agent_id: int, *, by: str) -> None:
    """§5.5: the authority will be attended by phone: the caller hears so (an announcement in
    the conference); the agent then transfers them warm (transfer_to_red)."""
    require_connected(ctx, call_sid, agent_id)
    ctx.journal.record(call_sid, "authority_decision", "telefono", once="telefono", by=by)
    ctx.job("announce_to_caller", call_sid, "authority_by_phone")


def announcement(ctx: Context, call_sid: str, prompt_id: str) -> VoiceResponse:
    """The TwiML of an announcement to the caller (in their language)."""
    response = VoiceResponse()
    if prompt_id in ANNOUNCEMENTS:
        state = call_state.load(ctx.r, call_sid)
        ctx.speak(response, prompt_id, state.language if state else "es")
    return response


def handled_by(ctx: Context, call_sid: str, agent_id: int) -> bool:
    """Whether this agent talked with (or returned) this call: who may wrap it up."""
    caller = line.caller(ctx.r, call_sid)
    if caller is not None and caller.agent_id == agent_id:
        return True
    if legs.conference(ctx.r, call_sid).agent_id == agent_id:  # before a cold transfer
        return True
    return legs.outbound_agent(ctx.r, call_sid) == agent_id


def _about(leg: Leg) -> dict[str, Any]:
    return {"leg": leg.leg_id, "kind": leg.kind, "rol": leg.rol, "nombre": leg.nombre}


# --- What Twilio tells about a leg ----------------------------------------------------------


def join(response: VoiceResponse, call_sid: str, label: str, *, end_on_exit: bool) -> VoiceResponse:
    """<Dial><Conference> into the caller's conference (it is already going on)."""
    dial = Dial()
    dial.conference(
        conference_name(call_sid),
        start_conference_on_enter=True,
        end_conference_on_exit=end_on_exit,
        participant_label=label,
        beep=False,
    )
    response.append(dial)
    return response


def _current(ctx: Context, leg: Leg | None) -> bool:
    """The leg is still wanted: the transfer it belongs to was not canceled or replaced."""
    if leg is None or leg.estado == "removed":
        return False
    return legs.conference(ctx.r, leg.call_sid).consult == leg.leg_id


def leg_answered(session: Session, ctx: Context, leg_id: str) -> VoiceResponse:
    """The leg's call was answered: the whisper (who transfers, and the caller's facts), then
    1 to accept; a CONECTAMEF center joins at once, and so does a softphone agent whose leg
    was placed as a call (legs placed today join as participants: participant_status)."""
    response = VoiceResponse()
    leg = legs.leg(ctx.r, leg_id)
    if leg is None or not _current(ctx, leg):
        response.hangup()
        return response
    _leg_event(ctx, leg, "answered")
    if leg.kind == "conectamef":
        return _accepted(ctx, leg, response)
    target = session.get(Agent, leg.target_agent) if leg.target_agent else None
    if target is not None and target.canal == "client":
        return _accepted(ctx, leg, response)  # the Device's answer is the acceptance
    state = call_state.load(ctx.r, leg.call_sid)
    gather = Gather(
        input="dtmf",
        num_digits=1,
        timeout=ACCEPT_SECONDS,
        action=ctx.links("conference.leg_accept", leg=leg_id),
        method="POST",
    )
    ctx.speak(gather, "whisper_transfer", nombre=agents.name_of(ctx.r, leg.agent_id) or "")
    if leg.kind == "red" and state is not None:
        organo = session.scalars(select(Organo).where(Organo.sigla == leg.organo)).first()
        briefing.to_red_member(
            ctx.speak, gather, state, organo=organo.nombre if organo else leg.organo or ""
        )
    else:
        briefing.to_agent(ctx.speak, gather, state, interpreter=False)
    ctx.speak(gather, "whisper_transfer_accept")
    response.append(gather)
    response.hangup()  # no key in time: not accepted
    return response


def leg_key(ctx: Context, leg_id: str, digits: str) -> VoiceResponse:
    """The key after the whisper: 1 joins the conference (the agent is there, the caller on
    hold), anything else hangs up (the status callback then says not accepted)."""
    response = VoiceResponse()
    leg = legs.leg(ctx.r, leg_id)
    if digits != "1" or leg is None or not _current(ctx, leg):
        response.hangup()
        return response
    return _accepted(ctx, leg, response)


def _accepted(ctx: Context, leg: Leg, response: VoiceResponse) -> VoiceResponse:
    _leg_event(ctx, leg, "accepted")
    if not leg.warm:  # a cold transfer: the caller comes off hold to talk with them
        ctx.speak(response, "whisper_cold_transfer")
        _hold(ctx, leg.call_sid, False)
    # Warm: the Red member's leaving must not end the conference until the agent completes.
    return join(response, leg.call_sid, leg.leg_id, end_on_exit=not leg.warm)


def participant_status(ctx: Context, leg_id: str, call_status: str, duration: int) -> None:
    """The status callback of a leg that joined as a participant of the caller's conference
    (the Conference Participants API: a softphone agent of a cold transfer, routing.jobs
    place_leg). No TwiML runs on that leg, so its answer does here what leg_answered and
    _accepted did: answered, then accepted, and (cold) the caller off hold; a leg no longer
    wanted (canceled or replaced) is hung up. Every state is also leg_status's. Twilio
    delivering a callback twice changes nothing (each state is claimed once)."""
    leg = legs.leg(ctx.r, leg_id)
    answered = legs.STATUS_NAMES.get(call_status) == "answered"
    if leg is not None and answered and not _current(ctx, leg):
        if leg.sid:
            ctx.job("hang_up_leg", leg.sid, False, call_sid=leg.call_sid)
        return
    leg_status(ctx, leg_id, call_status, duration)
    if leg is None or not answered:
        return
    if _leg_event(ctx, leg, "accepted") and not leg.warm:
        _hold(ctx, leg.call_sid, False)


def leg_status(ctx: Context, leg_id: str, call_status: str, duration: int) -> None:
    """A leg's status callback (ringing, answered, completed, no-answer, busy, failed,
    canceled): recorded once per state, told to the agent. A leg that did not take the call
    ends the transfer in progress: a warm one leaves the caller on hold with the agent (who
    is offered the alterno), a cold one puts the caller back in their place in line."""
    leg = legs.leg(ctx.r, leg_id)
    state = legs.STATUS_NAMES.get(call_status)
    if leg is None or state is None:
        return
    if state == "completed" and not leg.accepted:
        state = "not-accepted"
    if leg.estado == "removed" and state in legs.MISSED | {"completed"}:
        return  # canceled by the agent: its end is no news
    if not _leg_event(ctx, leg, state, duration=duration if state == "completed" else None):
        return
    if state not in legs.MISSED | {"completed"}:
        return
    current = legs.end_consult(ctx.r, leg.call_sid, leg.leg_id)
    if not leg.warm and state in legs.MISSED and current:
        if leg.target_agent is not None:  # the agent called did not take it: free again
            agents.conversation_ended(
                ctx.r,
                leg.call_sid,
                leg.target_agent,
                now=line.now_ms(),
                handle_seconds=0,
                settings=ctx.settings,
            )
        send_back(ctx, leg.call_sid, "queue.transfer_done")


def _leg_event(ctx: Context, leg: Leg, state: str, **extra: Any) -> bool:
    if not legs.claim_state(ctx.r, leg.leg_id, state):
        return False
    data = _about(leg) | {"organo": leg.organo} | {k: v for k, v in extra.items() if v is not None}
    ctx.journal.record(leg.call_sid, "leg", state, once=f"{leg.leg_id}:{state}", **data)
    tell_leg(ctx, leg.agent_id, leg.call_sid, leg.leg_id, leg.rol, state)
    return True


def conference_event(ctx: Context, call_sid: str, conference_sid: str) -> None:
    """The conference's status callback: remember its ConferenceSid (the REST calls on its
    participants need it)."""
    if conference_sid.startswith("CF"):
        legs.remember_sid(ctx.r, call_sid, conference_sid)
