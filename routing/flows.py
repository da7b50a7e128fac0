"""The Plataforma queue's steps as Twilio runs them: each function takes a Context (Redis, the
settings, the links, the rq queue, the prompt catalogue) and plain values from the webhook, does
the domain work and returns the TwiML. The views in webhooks/queue.py only read the form and
call these. Every sentence comes from the catalogue (ivr.prompts), in the caller's language:
a quechua or aymara caller hears the recordings an admin set; the agent's whisper is Spanish.
"""

from __future__ import annotations

import logging

import redis
from sqlalchemy import select
from sqlalchemy.orm import Session
from twilio.twiml.voice_response import Dial, Gather, VoiceResponse

from clock import to_lima, utcnow
from directory.dialing import DialTarget, agent_target, anexo_target
from directory.models import Agent, LanguageSpeaker, Organo
from ivr import briefing
from ivr import state as call_state
from ivr.hours import callback_due_date, load_hours
from ivr.state import CallState
from register import callbacks
from register.events import FINAL_CALL_STATUSES
from routing import agents
from routing import queue as line
from routing.context import Context
from routing.dispatch import try_dispatch
from routing.queue import PLATAFORMA_QUEUE, CallerStatus

log = logging.getLogger(__name__)


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


def survey_or_goodbye(response: VoiceResponse, ctx: Context, language: str = "es") -> VoiceResponse:
    """After a conversation: the call flow's survey, else a goodbye."""
    try:
        url = ctx.links("voice.survey")
    except Exception:  # noqa: BLE001 - BuildError while the survey route is not there
        ctx.speak(response, "thanks", language)
        response.hangup()
        return response
    response.redirect(url, method="POST")
    return response


def add_target(dial: Dial, target: DialTarget, whisper_url: str | None) -> None:
    extra = {"url": whisper_url, "method": "POST"} if whisper_url else {}
    if target.kind == "client":
        dial.client(target.address, **extra)
    elif target.kind == "sip":
        dial.sip(target.address, **extra)
    else:
        dial.number(target.address, send_digits=target.send_digits, **extra)


def conference_name(call_sid: str) -> str:
    return f"plataforma-{call_sid}"


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
    priority = line.priority_of(state)
    log.info("%s to the Plataforma (%s, %s)", state.call_sid, reason, priority)
    entry = line.enqueue(
        ctx.r,
        state.call_sid,
        language=state.language,
        priority=priority,
        now=now,
        settings=ctx.settings,
    )
    if entry.is_new:  # the call flow records the "plataforma" step itself (ivr/flow.py)
        ctx.journal.record(state.call_sid, "queued", priority=priority, language=state.language)
    if priority == "authority":
        ctx.speak(response, "queue_authority", state.language)
    elif priority == "preferential":
        ctx.speak(response, "queue_preferential", state.language)
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
            adopt(ctx, call_sid, now=now)
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
        place = line.position(ctx.r, call_sid)
        if place is None:
            response.pause(length=3)
            return response
        minutes = line.expected_wait_minutes(ctx.r, place, ctx.settings)
    except redis.RedisError:
        log.exception("wait URL without Redis for %s", call_sid)
        response.play(ctx.hold_music_url)
        return response
    gather = Gather(num_digits=1, action=ctx.links("queue.wait_key"), method="POST", timeout=1)
    ctx.speak(gather, "queue_position", language, puesto=place)
    if minutes == 1:
        ctx.speak(gather, "queue_wait_minute", language)
    else:
        ctx.speak(gather, "queue_wait_minutes", language, minutos=minutes)
    ctx.speak(gather, "queue_callback_offer", language)
    gather.play(ctx.hold_music_url)
    response.append(gather)
    return response


def adopt(ctx: Context, call_sid: str, *, now: int) -> None:
    """Put in our line a caller Twilio holds in its queue but we do not know (queued while
    Redis was down, or the entry expired)."""
    state = _load_state(ctx, call_sid)
    priority = line.priority_of(state) if state else "normal"
    language = state.language if state else "es"
    entry = line.enqueue(
        ctx.r, call_sid, language=language, priority=priority, now=now, settings=ctx.settings
    )
    if entry.is_new:
        ctx.journal.record(call_sid, "queued", priority=priority, language=language)


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
    if source == "limite_espera":
        ctx.speak(response, "queue_timeout", language)
    if request.due_date == today:
        ctx.speak(response, "queue_callback_today", language)
    else:
        ctx.speak(response, "queue_callback_next_day", language)
    ctx.speak(response, "thanks", language)
    response.hangup()
    return response


def left(
    session: Session, ctx: Context, call_sid: str, queue_result: str, telefono: str, *, now: int
) -> VoiceResponse:
    """The Enqueue action: Twilio tells how the caller left its queue."""
    if queue_result == "hangup":
        line.caller_hung_up(ctx.r, ctx.journal, call_sid, now=now)
        return VoiceResponse()
    if queue_result in ("bridged", "redirected", "redirected-from-bridged"):
        return VoiceResponse()
    caller = line.caller(ctx.r, call_sid)
    status = caller.status if caller else None
    if queue_result == "leave" and status is CallerStatus.CALLBACK:
        return callback_goodbye(session, ctx, call_sid, telefono, "cola")
    if queue_result == "leave" and status is CallerStatus.TIMEOUT:
        return timeout_goodbye(session, ctx, call_sid, telefono, now=now)
    if caller and status is CallerStatus.OFFERED and caller.agent_id is not None:
        return bridge(session, ctx, call_sid, caller.agent_id)
    if queue_result in ("queue-full", "error", "system-shutdown"):
        line.leave(ctx.r, call_sid, now=now, new_state=CallerStatus.GONE)
        return callback_goodbye(session, ctx, call_sid, telefono, "cola")
    response = VoiceResponse()
    return enqueue_verb(response, ctx)


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
    """The caller's TwiML once out of the queue: dial the agent, with a whisper; or, for a
    language the agent does not speak, a conference the interpreter is dialed into."""
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
    action = ctx.links("queue.dial_done", call=call_sid, agent=agent_id)
    if caller.interpreter:
        ctx.jobs.enqueue(
            "routing.jobs.dial_conference_parties",
            call_sid,
            agent_id,
            job_timeout=30,
            meta={"call_sid": call_sid},
        )
        dial = Dial(action=action, method="POST")
        dial.conference(
            conference_name(call_sid),
            start_conference_on_enter=False,
            end_conference_on_exit=True,
            wait_url=ctx.hold_music_url,
            wait_method="GET",
        )
        response.append(dial)
        return response
    dial = Dial(action=action, method="POST", timeout=ctx.settings.ring_timeout_seconds)
    target = agent_target(agent.canal, agent.destino, ctx.anexo_dial)
    add_target(dial, target, ctx.links("queue.whisper", call=call_sid, agent=agent_id))
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
    return True


def whisper(ctx: Context, call_sid: str, agent_id: int, *, now: int) -> VoiceResponse:
    """Played to the agent before the caller is connected."""
    agent_picked_up(ctx, call_sid, agent_id, now=now)
    response = VoiceResponse()
    caller = line.caller(ctx.r, call_sid)
    interpreter = caller is not None and caller.interpreter
    briefing.to_agent(ctx.speak, response, _load_state(ctx, call_sid), interpreter=interpreter)
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
    talked = caller is not None and caller.connected_agent is not None
    if dial_status in ("completed", "answered") or talked:
        agents.conversation_ended(
            ctx.r, call_sid, agent_id, now=now, handle_seconds=duration, settings=ctx.settings
        )
        try_dispatch(ctx.r, ctx.jobs, now=now, settings=ctx.settings)
        return survey_or_goodbye(response, ctx, language)
    if call_status in FINAL_CALL_STATUSES:  # the caller hung up while the agent's phone rang
        line.caller_hung_up(ctx.r, ctx.journal, call_sid, now=now)
        try_dispatch(ctx.r, ctx.jobs, now=now, settings=ctx.settings)
        return response
    requeued, state = agents.missed(ctx.r, call_sid, agent_id, now=now, settings=ctx.settings)
    log.info("agent %s missed %s (now %s)", agent_id, call_sid, state)
    if not requeued and line.requeue(ctx.r, call_sid, now=now) == "missing":
        return survey_or_goodbye(response, ctx, language)
    ctx.speak(response, "queue_agent_missed", language)
    enqueue_verb(response, ctx)
    try_dispatch(ctx.r, ctx.jobs, now=now, settings=ctx.settings)
    return response


def requeue_twiml(ctx: Context, call_sid: str, *, now: int) -> VoiceResponse:
    """For a caller sent back to the line by a REST redirect (an interpreter-mode agent who did
    not answer): same place."""
    response = VoiceResponse()
    line.requeue(ctx.r, call_sid, now=now)
    ctx.speak(response, "queue_agent_missed", caller_language(ctx, call_sid))
    enqueue_verb(response, ctx)
    try_dispatch(ctx.r, ctx.jobs, now=now, settings=ctx.settings)
    return response


def conference_join(
    ctx: Context,
    call_sid: str,
    agent_id: int,
    role: str,
    *,
    now: int,
    session: Session | None = None,
    speaker_id: int | None = None,
) -> VoiceResponse:
    """The agent's or the interpreter's leg joining the caller's conference; the interpreter
    who joins is registered (the ``interpreter`` event ``joined``)."""
    response = VoiceResponse()
    if role == "agent":
        agent_picked_up(ctx, call_sid, agent_id, now=now)
        briefing.to_agent(ctx.speak, response, _load_state(ctx, call_sid), interpreter=True)
        end_on_exit = True
    else:
        if speaker_id is not None:
            _record_interpreter(ctx, session, call_sid, speaker_id, "joined")
        ctx.speak(response, "interpreter_intro")
        end_on_exit = False
    dial = Dial()
    dial.conference(
        conference_name(call_sid),
        start_conference_on_enter=True,
        end_conference_on_exit=end_on_exit,
    )
    response.append(dial)
    return response


def agent_leg_status(ctx: Context, call_sid: str, agent_id: int, status: str, *, now: int) -> None:
    """Status of the REST call to an interpreter-mode agent: a miss sends the caller back."""
    if status not in ("no-answer", "busy", "failed", "canceled"):
        return
    requeued, _ = agents.missed(ctx.r, call_sid, agent_id, now=now, settings=ctx.settings)
    if requeued:
        ctx.jobs.enqueue(
            "routing.jobs.redirect_caller",
            call_sid,
            ctx.links("queue.requeue", call=call_sid),
            job_timeout=30,
            meta={"call_sid": call_sid},
        )


INTERPRETER_MISSED = ("no-answer", "busy", "failed", "canceled")


def interpreter_leg_status(
    ctx: Context,
    session: Session | None,
    call_sid: str,
    agent_id: int,
    speaker_id: int | None,
    status: str,
) -> None:
    """Status of the REST call to an interpreter: one who did not answer is registered, and
    the next speaker of the language is dialed (routing.jobs.dial_next_interpreter)."""
    if status not in INTERPRETER_MISSED or speaker_id is None:
        return
    _record_interpreter(ctx, session, call_sid, speaker_id, status)
    ctx.jobs.enqueue(
        "routing.jobs.dial_next_interpreter",
        call_sid,
        agent_id,
        job_timeout=30,
        meta={"call_sid": call_sid},
    )


def _record_interpreter(
    ctx: Context, session: Session | None, call_sid: str, speaker_id: int, outcome: str
) -> None:
    speaker = session.get(LanguageSpeaker, speaker_id) if session is not None else None
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
    add_target(dial, anexo_target(anexo, ctx.anexo_dial), None)
    response.append(dial)
    return response


def transfer_done(ctx: Context, call_sid: str, dial_status: str, *, now: int) -> VoiceResponse:
    """A transfer that did not connect puts the caller back in their place in line."""
    response = VoiceResponse()
    language = caller_language(ctx, call_sid)
    if dial_status == "completed":
        return survey_or_goodbye(response, ctx, language)
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
    enqueue_verb(response, ctx)
    try_dispatch(ctx.r, ctx.jobs, now=now, settings=ctx.settings)
    return response


def presencial_twiml(ctx: Context, call_sid: str) -> VoiceResponse:
    response = VoiceResponse()
    language = caller_language(ctx, call_sid)
    ctx.speak(response, "presencial", language)
    return survey_or_goodbye(response, ctx, language)


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
