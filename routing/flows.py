"""The Plataforma queue's steps as Twilio runs them: each function takes a Context (Redis, the
settings, the links, the rq queue, the prompt catalogue) and plain values from the webhook, does
the domain work and returns the TwiML. The views in webhooks/queue.py only read the form and
call these. Every sentence comes from the catalogue (ivr.prompts), in the caller's language:
a quechua or aymara caller hears the recordings an admin set; the agent's whisper is Spanish.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import timedelta

import redis
from sqlalchemy import select
from sqlalchemy.orm import Session
from twilio.twiml.voice_response import Dial, Gather, VoiceResponse

from clock import to_lima, utcnow
from directory.dialing import DialTarget, address_target, anexo_target
from directory.models import Agent, LanguageSpeaker, Organo
from ivr import briefing
from ivr import state as call_state
from ivr.flow import ANSWERED
from ivr.hours import callback_due_date, load_hours
from ivr.state import CallState
from register import callbacks
from register.events import FINAL_CALL_STATUSES, NOT_CONNECTED
from routing import agents, legs, transfers
from routing import queue as line
from routing.context import Context
from routing.dispatch import try_dispatch
from routing.legs import conference_name
from routing.queue import PLATAFORMA_QUEUE, CallerStatus

log = logging.getLogger(__name__)

FALLBACK_NAME = "Plataforma (línea de respaldo)"  # who took a call on PLATAFORMA_FALLBACK_DIAL
# Said before the callback's confirmation, by the request's source.
CALLBACK_INTROS = {"limite_espera": "queue_timeout", "ruta_fallida": "queue_unavailable"}
WHISPER_TIMEOUT_SECONDS = 8  # how long an anexo or SIP agent has to press 1 after the whisper


# --- TwiML pieces ------------------------------------------------------------------------


def enqueue_verb(response: VoiceResponse, ctx: Context) -> VoiceResponse:
    """<Enqueue> into the Plataforma queue with our waitUrl and action."""
    response.enqueue(
        PLATAFORMA_QUEUE,
        action=ctx.links("queue.left"),
        method="POST",
        wait_url=ctx.links("queue.wait"),
        wait_url_method="POST",
    )
    return response


def to_survey(response: VoiceResponse, ctx: Context) -> VoiceResponse:
    """After a conversation: on to the call flow's survey."""
    response.redirect(ctx.links("voice.survey"), method="POST")
    return response


def add_target(dial: Dial, target: DialTarget) -> None:
    if target.kind == "client":
        dial.client(target.address)
    elif target.kind == "sip":
        dial.sip(target.address)
    else:
        dial.number(target.address, send_digits=target.send_digits)


# --- Entering the line ---------------------------------------------------------------------


def send_to_plataforma(
    response: VoiceResponse, state: CallState | None, reason: str, ctx: Context, *, now: int
) -> VoiceResponse:
    """Put the caller in OUR line and in Twilio's queue. With no state, or Redis failing, a
    plain <Enqueue> with our wait URL, which adopts the caller into our line once Redis
    answers."""
    if state is None:
        return enqueue_verb(response, ctx)
    try:
        return _join_line(response, state, reason, ctx, now=now)
    except redis.RedisError:
        log.exception("Redis failed while queueing %s; plain <Enqueue>", state.call_sid)
        return enqueue_verb(response, ctx)


def _join_line(
    response: VoiceResponse, state: CallState, reason: str, ctx: Context, *, now: int
) -> VoiceResponse:
    if line.has_hung_up(ctx.r, state.call_sid):  # a late request of a call that ended
        log.info("%s ended before it reached the Plataforma: not queued", state.call_sid)
        response.hangup()
        return response
    priority = _enter_line(ctx, state.call_sid, state, now=now)
    log.info("%s to the Plataforma (%s, %s)", state.call_sid, reason, priority)
    if priority == "authority":
        ctx.speak(response, "queue_authority", state.language)
    elif priority == "preferential":
        ctx.speak(response, "queue_preferential", state.language)
    return _wait_in_line(response, ctx, now=now)


def _enter_line(ctx: Context, call_sid: str, state: CallState | None, *, now: int) -> str:
    """Put the caller in our line by their call state (none: a normal Spanish caller), and
    record ``queued`` the first time (the call flow records the "plataforma" step itself);
    returns their class."""
    priority = line.priority_of(state) if state else "normal"
    language = state.language if state else "es"
    entry = line.enqueue(
        ctx.r, call_sid, language=language, priority=priority, now=now, settings=ctx.settings
    )
    if entry.is_new:
        ctx.journal.record(call_sid, "queued", priority=priority, language=language)
    return priority


def _wait_in_line(response: VoiceResponse, ctx: Context, *, now: int) -> VoiceResponse:
    """Into Twilio's queue with our wait URL, and a dispatch: an agent may be free now."""
    enqueue_verb(response, ctx)
    try_dispatch(ctx.r, ctx.jobs, now=now, settings=ctx.settings)
    return response


# --- While waiting ------------------------------------------------------------------------


def wait(ctx: Context, call_sid: str, queue_sid: str | None, *, now: int) -> VoiceResponse:
    """The waitUrl: position in OUR order, expected wait, `1` for a callback, hold music."""
    response = VoiceResponse()
    try:
        if queue_sid:
            line.remember_twilio_queue(ctx.r, queue_sid)
        caller = line.caller(ctx.r, call_sid)
        if caller is None:  # queued while Redis was down, or its entry expired: adopt it
            _enter_line(ctx, call_sid, _load_state(ctx, call_sid), now=now)
            caller = line.caller(ctx.r, call_sid)
        status = caller.status if caller else None
        language = caller.language if caller else "es"
        if status is CallerStatus.OFFERED:
            ctx.speak(response, "queue_connecting", language)
            response.pause(length=5)
            return response
        limit_ms = ctx.settings.wait_limit_seconds * 1000
        if caller and status is CallerStatus.WAITING and now - caller.arrival_ms >= limit_ms:
            previous, _ = line.leave(ctx.r, call_sid, now=now, new_state=CallerStatus.TIMEOUT)
            if previous is CallerStatus.WAITING:
                response.leave()
                return response
        try_dispatch(ctx.r, ctx.jobs, now=now, settings=ctx.settings)
        estimate = line.wait_estimate(ctx.r, caller, ctx.settings) if caller else None
        if estimate is None:
            response.pause(length=3)
            return response
    except redis.RedisError:
        log.exception("wait URL without Redis for %s: out of Twilio's queue", call_sid)
        return line_unreadable_wait()
    gather = Gather(num_digits=1, action=ctx.links("queue.wait_key"), method="POST", timeout=1)
    if not estimate.staffed:  # no agent online: no wait to promise, the callback first
        ctx.speak(gather, "queue_no_agents", language)
    else:
        ctx.speak(gather, "queue_position", language, puesto=estimate.place)
        if estimate.minutes == 1:
            ctx.speak(gather, "queue_wait_minute", language)
        else:
            ctx.speak(gather, "queue_wait_minutes", language, minutos=estimate.minutes)
        ctx.speak(gather, "queue_callback_offer", language)
    gather.play(ctx.hold_music_url)
    response.append(gather)
    return response


def line_unreadable_wait() -> VoiceResponse:
    """The wait URL when the line cannot be read: out of Twilio's queue now, so that the
    Enqueue action routes the caller (line_unavailable) instead of hold music forever."""
    response = VoiceResponse()
    response.leave()
    return response


def line_unavailable(session: Session, ctx: Context, call_sid: str, telefono: str) -> VoiceResponse:
    """A caller out of Twilio's queue whose place in our line cannot be read (Redis down):
    the Plataforma's hunt group when PLATAFORMA_FALLBACK_DIAL is set, else a callback request
    and a goodbye; a goodbye still when the callback cannot be stored either."""
    if ctx.fallback_dial:
        response = VoiceResponse()
        ctx.speak(response, "to_plataforma_error")
        dial = Dial(action=ctx.links("queue.fallback_done"), method="POST")
        add_target(dial, address_target(ctx.fallback_dial))
        response.append(dial)
        ctx.journal.record(
            call_sid,
            "transfer",
            once="fallback",
            to=ctx.fallback_dial,
            kind="plataforma",
            by=FALLBACK_NAME,
        )
        return response
    return _callback_or_goodbye(session, ctx, call_sid, telefono)


def fallback_done(
    session: Session,
    ctx: Context,
    call_sid: str,
    dial_status: str,
    call_status: str,
    duration: int,
    telefono: str,
) -> VoiceResponse:
    """The <Dial> to PLATAFORMA_FALLBACK_DIAL is over: answered → the survey; not answered →
    a callback request and a goodbye."""
    if dial_status in ANSWERED:
        ctx.journal.record(
            call_sid,
            "agent_answered",
            once="fallback",
            at=utcnow() - timedelta(seconds=max(0, duration)),
            agent_id=None,
            nombre=FALLBACK_NAME,
            wait_seconds=None,
        )
        return to_survey(VoiceResponse(), ctx)
    if call_status in FINAL_CALL_STATUSES:  # the caller hung up while it rang
        return VoiceResponse()
    return _callback_or_goodbye(session, ctx, call_sid, telefono)


def _callback_or_goodbye(
    session: Session, ctx: Context, call_sid: str, telefono: str
) -> VoiceResponse:
    try:
        return callback_goodbye(session, ctx, call_sid, telefono, "ruta_fallida")
    except Exception:  # the database too: the caller still hears a goodbye
        log.exception("no callback request stored for %s", call_sid)
        with contextlib.suppress(Exception):
            session.rollback()
    response = VoiceResponse()
    ctx.speak(response, "queue_unavailable")
    ctx.speak(response, "queue_call_again")
    ctx.speak(response, "thanks")
    response.hangup()
    return response


def wait_key(ctx: Context, call_sid: str, digits: str, *, now: int) -> VoiceResponse:
    """A key pressed while waiting: `1` leaves the line for a callback."""
    response = VoiceResponse()
    if digits == "1":
        previous, wait_ms = line.leave(ctx.r, call_sid, now=now, new_state=CallerStatus.CALLBACK)
        if previous is CallerStatus.WAITING:
            ctx.journal.record(
                call_sid, "queue_left", "callback", wait_seconds=round(wait_ms / 1000)
            )
            response.leave()
            return response
    response.redirect(ctx.links("queue.wait"), method="POST")
    return response


def callback_goodbye(
    session: Session, ctx: Context, call_sid: str, telefono: str, source: str
) -> VoiceResponse:
    state = _load_state(ctx, call_sid)
    moment = utcnow()
    hours = load_hours(session, ctx.service_hours, ctx.close_on_holidays)
    language = state.language if state else "es"
    request, created = callbacks.request_callback(
        session,
        call_sid=call_sid,
        source=source,
        telefono=telefono,
        due=callback_due_date(moment, hours),
        now=moment,
        language=language,
        detalle=state.detalle if state else None,
    )
    if created:
        ctx.journal.record(call_sid, "callback_requested", source=source, telefono=telefono)
    response = VoiceResponse()
    today = to_lima(request.created_at).date()
    if intro := CALLBACK_INTROS.get(source):
        ctx.speak(response, intro, language)
    if request.due_date == today:
        ctx.speak(response, "queue_callback_today", language)
    else:
        ctx.speak(response, "queue_callback_next_day", language)
    ctx.speak(response, "thanks", language)
    response.hangup()
    return response


# Twilio's QueueResult values (the Enqueue action), by what the caller needs next.
ELSEWHERE = ("redirected", "redirected-from-bridged", "bridging-in-progress")
QUEUE_FAILED = ("queue-full", "error", "system-error", "system-shutdown")


def left(
    session: Session, ctx: Context, call_sid: str, queue_result: str, telefono: str, *, now: int
) -> VoiceResponse:
    """The Enqueue action: Twilio tells how the caller left its queue (QueueResult).

    - hangup: out of our line at once, registered abandoned; nothing to say.
    - redirected, redirected-from-bridged, bridging-in-progress: the call already runs other
      TwiML (our REST dequeue to the bridge, a redirect) or is being connected: nothing to add.
    - bridged: someone dequeued the caller and that conversation is over: out of our line,
      then the survey.
    - leave (our own <Leave>): a callback asked with `1`, the wait limit, or the wait URL could
      not read the line: by the caller's status in our line.
    - queue-full, error, system-error, system-shutdown: Twilio could not keep the caller in its
      queue: the offered agent if there is one, else a callback request and a goodbye.
    - anything else is logged, and the caller goes back to Twilio's queue with our wait URL
      (their place in our line is kept; the wait URL routes them from there).
    """
    if queue_result == "hangup":
        line.caller_hung_up(ctx.r, ctx.journal, call_sid, now=now)
        return VoiceResponse()
    if queue_result in ELSEWHERE:
        return VoiceResponse()
    if queue_result == "bridged":
        line.leave(ctx.r, call_sid, now=now, new_state=CallerStatus.DONE)
        return to_survey(VoiceResponse(), ctx)
    if queue_result not in ("leave", *QUEUE_FAILED):
        log.warning("Enqueue action with unknown QueueResult %r for %s", queue_result, call_sid)
        return enqueue_verb(VoiceResponse(), ctx)
    try:
        caller = line.caller(ctx.r, call_sid)
    except redis.RedisError:
        log.exception("Enqueue action without Redis for %s", call_sid)
        return line_unavailable(session, ctx, call_sid, telefono)
    status = caller.status if caller else None
    if caller and status is CallerStatus.OFFERED and caller.agent_id is not None:
        return bridge(session, ctx, call_sid, caller.agent_id)
    if queue_result in QUEUE_FAILED:
        line.leave(ctx.r, call_sid, now=now, new_state=CallerStatus.GONE)
        return callback_goodbye(session, ctx, call_sid, telefono, "cola")
    if status is CallerStatus.CALLBACK:
        return callback_goodbye(session, ctx, call_sid, telefono, "cola")
    if status is CallerStatus.TIMEOUT:
        return timeout_goodbye(session, ctx, call_sid, telefono, now=now)
    # Waiting (the wait URL left while the line could not be read, and it answers again), or
    # unknown to our line: back to Twilio's queue; the wait URL keeps or adopts the place.
    return enqueue_verb(VoiceResponse(), ctx)


def timeout_goodbye(
    session: Session, ctx: Context, call_sid: str, telefono: str, *, now: int
) -> VoiceResponse:
    """The wait limit is reached: a callback request instead of more waiting."""
    caller = line.caller(ctx.r, call_sid)
    if (
        caller is not None
        and caller.status is CallerStatus.TIMEOUT
        and line.claim_timeout_log(ctx.r, call_sid)
    ):
        wait_seconds = round((now - caller.arrival_ms) / 1000)
        ctx.journal.record(call_sid, "queue_left", "timeout", wait_seconds=wait_seconds)
    return callback_goodbye(session, ctx, call_sid, telefono, "limite_espera")


# --- Bridging to the agent -----------------------------------------------------------------


def bridge(session: Session, ctx: Context, call_sid: str, agent_id: int) -> VoiceResponse:
    """The caller's TwiML once out of the queue: into the conference named for the call, with
    hold music until the agent joins; the agent's leg (and, for a language the agent does not
    speak, an interpreter's) is called into it by a job (routing.jobs.dial_conference_parties).
    Hold, consult and transfer then need no re-bridging (routing.transfers)."""
    caller = line.caller(ctx.r, call_sid)
    response = VoiceResponse()
    agent = session.get(Agent, agent_id)
    if caller is None or not caller.is_offered_to(agent_id) or agent is None:
        # A stale offer: back to Twilio's queue; our line keeps (or gives back) the place.
        status = caller.status if caller else None
        if status in (CallerStatus.BRIDGED, CallerStatus.DONE):
            line.requeue(ctx.r, call_sid, now=line.now_ms())
        elif status in (CallerStatus.GONE, CallerStatus.CALLBACK, CallerStatus.TIMEOUT):
            response.hangup()
            return response
        return enqueue_verb(response, ctx)
    line.mark_bridge_served(ctx.r, call_sid)
    ctx.speak(response, "queue_bridging", caller.language)
    ctx.job("dial_conference_parties", call_sid, agent_id)
    dial = Dial(action=ctx.links("queue.dial_done", call=call_sid, agent=agent_id), method="POST")
    dial.conference(
        conference_name(call_sid),
        start_conference_on_enter=False,
        end_conference_on_exit=True,
        wait_url=ctx.hold_music_url,
        wait_method="GET",
        participant_label="cliente",
        status_callback=ctx.links("conference.events", call=call_sid),
        status_callback_event="start end join leave",
        status_callback_method="POST",
    )
    response.append(dial)
    return response


def agent_picked_up(ctx: Context, call_sid: str, agent_id: int, *, now: int) -> bool:
    """The agent answered: the caller is bridged; journey events once."""
    wait_ms = agents.answered(ctx.r, call_sid, agent_id, now=now)
    if wait_ms is None:
        return False
    ctx.journal.record(
        call_sid,
        "agent_answered",
        agent_id=agent_id,
        nombre=agents.name_of(ctx.r, agent_id),
        wait_seconds=round(wait_ms / 1000),
    )
    ctx.journal.record(call_sid, "queue_left", "bridged", wait_seconds=round(wait_ms / 1000))
    leg = legs.conference(ctx.r, call_sid).agent_leg or ""
    transfers.tell_leg(ctx, agent_id, call_sid, leg, "agente", "accepted")
    transfers.tell_call(ctx, agent_id, call_sid, "conectada")
    return True


def whisper(
    ctx: Context, call_sid: str, agent_id: int, *, now: int, accept: bool = False
) -> VoiceResponse:
    """Played to the agent before the caller is connected. With ``accept`` (an anexo or SIP
    phone) the agent presses 1 to take the call; no key or another one hangs up their leg
    (so a voicemail cannot take the caller), and the Dial action counts it as a miss."""
    if not accept:
        agent_picked_up(ctx, call_sid, agent_id, now=now)
    response = VoiceResponse()
    caller = line.caller(ctx.r, call_sid)
    interpreter = caller is not None and caller.interpreter
    state = _load_state(ctx, call_sid)
    if not accept:
        briefing.to_agent(ctx.speak, response, state, interpreter=interpreter)
        return response
    gather = Gather(
        input="dtmf",
        num_digits=1,
        timeout=WHISPER_TIMEOUT_SECONDS,
        action=ctx.links("queue.whisper_accept", call=call_sid, agent=agent_id),
        method="POST",
    )
    briefing.to_agent(ctx.speak, gather, state, interpreter=interpreter)
    ctx.speak(gather, "whisper_plataforma_accept")
    response.append(gather)
    response.hangup()  # no key in time: not accepted
    return response


def whisper_accept(
    ctx: Context, call_sid: str, agent_id: int, digits: str, *, now: int
) -> VoiceResponse:
    """The agent's key after the whisper: ``1`` takes the caller (the agent's leg joins the
    caller's conference); anything else, or an offer no longer current, hangs up their leg."""
    response = VoiceResponse()
    if digits == "1":
        agent_picked_up(ctx, call_sid, agent_id, now=now)
        caller = line.caller(ctx.r, call_sid)
        if caller is not None and caller.connected_agent == agent_id:  # a retry too
            return transfers.join(response, call_sid, "agente", end_on_exit=True)
    response.hangup()
    return response


def plain_whisper(ctx: Context) -> VoiceResponse:
    """The agent's whisper when nothing is known of the caller."""
    response = VoiceResponse()
    briefing.to_agent(ctx.speak, response, None, interpreter=False)
    return response


def dial_done(
    ctx: Context,
    call_sid: str,
    agent_id: int,
    dial_status: str,
    call_status: str,
    duration: int,
    *,
    now: int,
) -> VoiceResponse:
    """The caller's <Dial> to the agent is over: either the conversation ended (wrap-up, then
    the survey), or the agent did not answer (the caller goes back to their place)."""
    response = VoiceResponse()
    caller = line.caller(ctx.r, call_sid)
    language = caller.language if caller else "es"
    # Only an accepted offer is a conversation: an anexo or SIP agent's leg that hung up in the
    # whisper (no `1`) also ends as "completed".
    talked = caller is not None and caller.connected_agent is not None
    if talked or (caller is None and dial_status in ANSWERED):
        if caller is not None and caller.agent_id is not None:
            agent_id = caller.agent_id  # a cold transfer handed the caller to another agent
        agents.conversation_ended(
            ctx.r, call_sid, agent_id, now=now, handle_seconds=duration, settings=ctx.settings
        )
        try_dispatch(ctx.r, ctx.jobs, now=now, settings=ctx.settings)
        transfers.tell_call(ctx, agent_id, call_sid, "terminada")
        return to_survey(response, ctx)
    if call_status in FINAL_CALL_STATUSES:  # the caller hung up while the agent's phone rang
        line.caller_hung_up(ctx.r, ctx.journal, call_sid, now=now)
        agent_leg = legs.conference(ctx.r, call_sid).agent_leg
        if agent_leg:  # the agent's phone stops ringing
            ctx.job("hang_up_leg", agent_leg, True, call_sid=call_sid)
        transfers.tell_call(ctx, agent_id, call_sid, "terminada")
        try_dispatch(ctx.r, ctx.jobs, now=now, settings=ctx.settings)
        return response
    requeued, state = agents.missed(ctx.r, call_sid, agent_id, now=now, settings=ctx.settings)
    log.info("agent %s missed %s (now %s)", agent_id, call_sid, state)
    if not requeued and line.requeue(ctx.r, call_sid, now=now) == "missing":
        return to_survey(response, ctx)
    ctx.speak(response, "queue_agent_missed", language)
    return _wait_in_line(response, ctx, now=now)


def requeue_twiml(ctx: Context, call_sid: str, *, now: int) -> VoiceResponse:
    """For a caller sent back to the line by a REST redirect (an interpreter-mode agent who did
    not answer): same place."""
    response = VoiceResponse()
    line.requeue(ctx.r, call_sid, now=now)
    ctx.speak(response, "queue_agent_missed", caller_language(ctx, call_sid))
    return _wait_in_line(response, ctx, now=now)


def conference_join(
    ctx: Context,
    call_sid: str,
    agent_id: int,
    role: str,
    *,
    now: int,
    session: Session,
    speaker_id: int | None = None,
    accept: bool = False,
) -> VoiceResponse:
    """The agent's or the interpreter's leg joining the caller's conference; the interpreter
    who joins is registered (the ``interpreter`` event ``joined``). An agent on an anexo or
    SIP (``accept``) first hears the whisper and presses 1 (flows.whisper, whisper_accept). A
    softphone agent's leg is a participant with no TwiML (agent_participant_status); the
    branch without ``accept`` serves a softphone leg placed as a call before that."""
    response = VoiceResponse()
    if role == "agent" and accept:
        return whisper(ctx, call_sid, agent_id, now=now, accept=True)
    if role == "agent":
        agent_picked_up(ctx, call_sid, agent_id, now=now)
        caller = line.caller(ctx.r, call_sid)
        if caller is None or caller.connected_agent != agent_id:  # the offer is gone
            response.hangup()
            return response
        briefing.to_agent(
            ctx.speak, response, _load_state(ctx, call_sid), interpreter=caller.interpreter
        )
        return transfers.join(response, call_sid, "agente", end_on_exit=True)
    if speaker_id is not None:
        _record_interpreter(ctx, session, call_sid, speaker_id, "joined")
    ctx.speak(response, "interpreter_intro")
    return transfers.join(response, call_sid, "interprete", end_on_exit=False)


def agent_leg_status(
    ctx: Context, call_sid: str, agent_id: int, status: str, *, now: int, leg: str = ""
) -> None:
    """Status of the REST call to the agent's leg (ringing, answered, completed, ...), told to
    their console once per state. A miss (no answer, busy, failed, canceled, or a leg that
    ended before the agent took the caller: the whisper without 1) sends the caller back to
    their place in line."""
    state = legs.STATUS_NAMES.get(status)
    if state is None:
        return
    if leg and legs.claim_agent_state(ctx.r, call_sid, leg, state):
        transfers.tell_leg(ctx, agent_id, call_sid, leg, "agente", state)
    if status not in FINAL_CALL_STATUSES:
        return
    requeued, _ = agents.missed(ctx.r, call_sid, agent_id, now=now, settings=ctx.settings)
    if requeued:
        transfers.send_back(ctx, call_sid, "queue.requeue")
        transfers.tell_call(ctx, agent_id, call_sid, "terminada")


def agent_participant_status(
    ctx: Context, call_sid: str, agent_id: int, status: str, *, now: int, leg: str
) -> None:
    """Status of a softphone agent's leg, a participant of the caller's conference (the
    Conference Participants API: routing.jobs.place_agent_leg); ``leg`` is its CallSid. No
    TwiML runs on that leg, so its answer does here what conference_join did: the leg is the
    agent's (legs.set_agent_leg), the caller is bridged (agent_picked_up: the journey's
    ``agent_answered`` and ``queue_left``); an answer to an offer that is no longer current
    hangs the leg up. Every state is also agent_leg_status's (told to the console; a miss
    sends the caller back to their place). Twilio delivering a callback twice changes
    nothing."""
    agent_leg_status(ctx, call_sid, agent_id, status, now=now, leg=leg)
    if legs.STATUS_NAMES.get(status) != "answered" or not leg:
        return
    caller = line.caller(ctx.r, call_sid)
    if caller is not None and caller.is_offered_to(agent_id):
        conference = legs.conference(ctx.r, call_sid)
        if (conference.agent_id, conference.agent_leg) != (agent_id, leg):
            legs.set_agent_leg(ctx.r, call_sid, agent_id, leg)
    agent_picked_up(ctx, call_sid, agent_id, now=now)
    caller = line.caller(ctx.r, call_sid)
    if caller is None or caller.connected_agent != agent_id:  # the offer is gone
        ctx.job("hang_up_leg", leg, False, call_sid=call_sid)


def interpreter_leg_status(
    ctx: Context,
    session: Session,
    call_sid: str,
    agent_id: int,
    speaker_id: int | None,
    status: str,
) -> None:
    """Status of the REST call to an interpreter: one who did not answer is registered, and
    the next speaker of the language is dialed (routing.jobs.dial_next_interpreter)."""
    if status not in NOT_CONNECTED or speaker_id is None:
        return
    _record_interpreter(ctx, session, call_sid, speaker_id, status)
    ctx.job("dial_next_interpreter", call_sid, agent_id)


def _record_interpreter(
    ctx: Context, session: Session, call_sid: str, speaker_id: int, outcome: str
) -> None:
    speaker = session.get(LanguageSpeaker, speaker_id)
    ctx.journal.record(
        call_sid,
        "interpreter",
        outcome,
        once=f"{speaker_id}:{outcome}",
        language=speaker.language_code if speaker else caller_language(ctx, call_sid),
        speaker_id=speaker_id,
        nombre=speaker.nombre_completo if speaker else None,
    )


# --- After the agent: transfers and atención presencial ----------------------------------


def transfer_twiml(ctx: Context, call_sid: str, anexo: str) -> VoiceResponse:
    response = VoiceResponse()
    ctx.speak(response, "transfer_dialing", caller_language(ctx, call_sid))
    dial = Dial(
        action=ctx.links("queue.transfer_done", call=call_sid),
        method="POST",
        timeout=ctx.settings.ring_timeout_seconds,
    )
    add_target(dial, anexo_target(anexo, ctx.anexo_dial))
    response.append(dial)
    return response


def transfer_done(ctx: Context, call_sid: str, dial_status: str, *, now: int) -> VoiceResponse:
    """A transfer that did not connect puts the caller back in their place in line."""
    response = VoiceResponse()
    if dial_status == "completed":
        return to_survey(response, ctx)
    language = caller_language(ctx, call_sid)  # as the line knew them (Spanish: it did not)
    if line.requeue(ctx.r, call_sid, now=now) == "missing":
        state = _load_state(ctx, call_sid)
        line.enqueue(
            ctx.r,
            call_sid,
            language=state.language if state else "es",
            priority=line.priority_of(state) if state else "normal",
            now=now,
            settings=ctx.settings,
        )
    ctx.speak(response, "transfer_failed", language)
    return _wait_in_line(response, ctx, now=now)


def presencial_twiml(ctx: Context, call_sid: str) -> VoiceResponse:
    response = VoiceResponse()
    ctx.speak(response, "presencial", caller_language(ctx, call_sid))
    return to_survey(response, ctx)


def anexo_of(session: Session, *, anexo: str | None, organo: str | None) -> str | None:
    """Where a transfer goes: an anexo, or the serving titular of an órgano (by sigla)."""
    if anexo:
        return anexo if anexo.isdigit() else None
    if organo:
        found = session.scalars(select(Organo).where(Organo.sigla == organo.upper())).first()
        rep = found.current("titular") if found else None
        return rep.anexo if rep else None
    return None


def caller_language(ctx: Context, call_sid: str) -> str:
    """The caller's language (es, qu, ay) as the line knows it; Spanish when unknown or when
    Redis fails."""
    try:
        found = line.caller(ctx.r, call_sid)
    except redis.RedisError:
        return "es"
    return found.language if found else "es"


def _load_state(ctx: Context, call_sid: str) -> CallState | None:
    try:
        return call_state.load(ctx.r, call_sid)
    except redis.RedisError:
        return None
