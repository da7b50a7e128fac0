"""The frame every step of the call flow runs in: one webhook request (``Turn``), the helpers
that speak prompts, ask for keys with a bounded number of tries, send a caller to the Plataforma,
and make a replayed request harmless. No Flask globals: the view passes in the URL builder, the
settings and the moment."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from redis import RedisError
from sqlalchemy.orm import Session
from twilio.twiml import TwiML
from twilio.twiml.voice_response import Gather, VoiceResponse

from extensions import redis_store
from ivr import journey, state
from ivr.prompts import Voice, speak
from ivr.state import CallState
from register.events import deferred
from routing.plataforma import send_to_plataforma

log = logging.getLogger(__name__)

MAX_TRIES = 3
SEEN_TTL_SECONDS = 6 * 3600
UrlFor = Callable[..., str]


@dataclass(frozen=True)
class FlowSettings:
    voice: Voice
    anexo_dial: str
    service_hours: str
    close_on_holidays: bool
    public_base_url: str
    dial_timeout: int = 20

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> FlowSettings:
        return cls(
            voice=Voice(config["TTS_VOICE"], config["TTS_LANGUAGE"]),
            anexo_dial=config["ANEXO_DIAL"],
            service_hours=config["SERVICE_HOURS"],
            close_on_holidays=bool(config["SERVICE_CLOSE_ON_HOLIDAYS"]),
            public_base_url=(config.get("PUBLIC_BASE_URL") or "").rstrip("/"),
        )


@dataclass
class Turn:
    """One webhook request: who is calling, when, and how to build URLs and speak."""

    session: Session
    settings: FlowSettings
    url_for: UrlFor
    now: datetime
    call_sid: str

    def path(self, endpoint: str, **values: Any) -> str:
        """A relative URL (Twilio resolves it against the request's URL)."""
        return self.url_for(endpoint, **values)

    def absolute(self, endpoint: str, **values: Any) -> str:
        """An absolute URL, for callbacks on another leg (whisper, recording status)."""
        return self.settings.public_base_url + self.url_for(endpoint, **values)

    def speak(self, target: TwiML, prompt_id: str, language: str = "es", **fields: Any) -> None:
        speak(target, self.session, self.settings.voice, prompt_id, language, **fields)


def _seen_key(call_sid: str, step: str, attempt: str | int) -> str:
    return f"call:{call_sid}:seen:{step}:{attempt}"


def first_time(call_sid: str, step: str, attempt: str | int = 1) -> bool:
    """True the first time this (CallSid, step, attempt) is seen; a replay gets False."""
    key = _seen_key(call_sid, step, attempt)
    return bool(redis_store.client.set(key, "1", nx=True, ex=SEEN_TTL_SECONDS))


@dataclass
class _Batch:
    """What one webhook request writes to Redis, sent in one round trip at its end."""

    states: dict[str, CallState] = field(default_factory=dict)
    events: list[tuple[str, str, str, str | None, dict[str, Any]]] = field(default_factory=list)


_batch: ContextVar[_Batch | None] = ContextVar("ivr_batch", default=None)


@contextmanager
def batched() -> Iterator[None]:
    """Within it, state saves and journey events wait for the end of the request; then one
    pipeline saves the states and marks the events seen (``SET NX``), and only the events not
    seen before (a replay's are) go to the journey. Nothing is written if the block fails.

    Every journey event of the request (these, and those recorded directly, e.g. by routing)
    is then handed to the register together, in one round trip (``register.events.deferred``);
    the directly recorded ones also when the block fails, as they would have been at once."""
    with deferred():
        batch = _Batch()
        token = _batch.set(batch)
        try:
            yield
        finally:
            _batch.reset(token)
        _flush(batch)


def _flush(batch: _Batch) -> None:
    if not batch.states and not batch.events:
        return
    pipe = redis_store.client.pipeline(transaction=False)
    for call in batch.states.values():
        pipe.set(f"call:{call.call_sid}:state", call.to_json(), ex=state.STATE_TTL_SECONDS)
    for key, *_ in batch.events:
        pipe.set(key, "1", nx=True, ex=SEEN_TTL_SECONDS)
    firsts = pipe.execute()[len(batch.states) :]
    for first, (_key, call_sid, step, choice, data) in zip(firsts, batch.events, strict=True):
        if first:
            journey.record_event(call_sid, step, choice, **data)


def save_state(call: CallState) -> None:
    """Save the call's state (at the end of the request when batched)."""
    batch = _batch.get()
    if batch is None:
        state.save(call)
    else:
        batch.states[call.call_sid] = call


def record_once(
    call_sid: str, step: str, attempt: str | int = 1, choice: str | None = None, /, **data: Any
) -> None:
    """Append a journey event unless this very request was already handled."""
    batch = _batch.get()
    key = _seen_key(call_sid, f"event:{step}", attempt)
    if batch is not None:
        if all(event[0] != key for event in batch.events):
            batch.events.append((key, call_sid, step, choice, data))
    elif first_time(call_sid, f"event:{step}", attempt):
        journey.record_event(call_sid, step, choice, **data)


def load_state(turn: Turn, **defaults: Any) -> CallState:
    return state.load_or_new(turn.call_sid, **defaults)


def spoken_digits(digits: str) -> str:
    """Digits read one by one: "1 2 3 4"."""
    return " ".join(digits)


def gather(
    turn: Turn,
    response: VoiceResponse,
    endpoint: str,
    tries: int,
    *,
    num_digits: int | None = 1,
    timeout: int = 6,
    finish_on_key: str | None = None,
    **values: Any,
) -> Gather:
    """A <Gather> of keys whose action is ``endpoint?try=N``; it is called on no input too."""
    return response.gather(
        input="dtmf",
        action=turn.path(endpoint, **values, **{"try": tries}),
        method="POST",
        num_digits=num_digits,
        timeout=timeout,
        finish_on_key=finish_on_key,
        action_on_empty_result=True,
    )


def to_plataforma(
    turn: Turn,
    response: VoiceResponse,
    call: CallState,
    reason: str,
    prompt: str | None = "to_plataforma",
) -> VoiceResponse:
    """Tell the caller and hand them to the Plataforma through routing's seam."""
    if prompt is not None:
        turn.speak(response, prompt, call.language)
    save_state(call)
    record_once(call.call_sid, "plataforma", reason, reason=reason)
    return send_to_plataforma(response, call, reason)


def retry_or_plataforma(
    turn: Turn,
    response: VoiceResponse,
    call: CallState,
    tries: int,
    digits: str,
    ask_again: Callable[[int], None],
    message: str | None = None,
) -> VoiceResponse:
    """No input or a wrong key: say so and ask again, three tries in all, then the Plataforma."""
    turn.speak(response, message or ("wrong_key" if digits else "no_input"), call.language)
    if tries >= MAX_TRIES:
        return to_plataforma(turn, response, call, "wrong_input")
    ask_again(tries + 1)
    return response


def safe_plataforma(reason: str, call_sid: str | None, voice: Voice) -> VoiceResponse:
    """The route when Redis or the database fails: no catalogue, no state, straight to an agent."""
    from ivr.prompts import DEFAULT_PROMPTS

    response = VoiceResponse()
    response.say(DEFAULT_PROMPTS["to_plataforma_error"], voice=voice.name, language=voice.language)
    if call_sid:
        journey.record_event(call_sid, "plataforma", None, reason=reason)
    return send_to_plataforma(response, None, reason)


def fallback_route(call_sid: str | None, voice: Voice) -> VoiceResponse:
    """Twilio's fallback URL: straight to the Plataforma, with the call's state if Redis has it."""
    from ivr.prompts import DEFAULT_PROMPTS

    response = VoiceResponse()
    response.say(DEFAULT_PROMPTS["to_plataforma_error"], voice=voice.name, language=voice.language)
    call: CallState | None = None
    if call_sid:
        try:
            call = state.load(call_sid)
        except RedisError:
            log.exception("fallback for %s without the call's state", call_sid)
        journey.record_event(call_sid, "plataforma", None, reason="fallback")
    return send_to_plataforma(response, call, "fallback")
