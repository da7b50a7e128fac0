"""The frame every step of the call flow runs in: one webhook request (``Turn``), the helpers
that speak prompts, ask for keys with a bounded number of tries, send a caller to the Plataforma,
and make a replayed request harmless. No Flask globals: the view passes in the URL builder, the
settings and the moment."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from redis import RedisError
from sqlalchemy.orm import Session
from twilio.twiml import TwiML
from twilio.twiml.voice_response import Gather, VoiceResponse

from extensions import InFlight, redis_store
from ivr import journey, state
from ivr.prompts import Voice, speak
from ivr.state import CallState
from register.events import Staged, deferred, once, pending_key, stage
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


def _seen_events_key(call_sid: str) -> str:
    """The hash of a call's journey events already recorded: field ``<step>:<attempt>``."""
    return f"call:{call_sid}:seen:events"


class _Batch:
    """What one webhook request reads from Redis at its start and writes at its end, one
    round trip each. The read is sent at the start and its replies taken when the request
    first needs them (``_load``): Redis answers while the view gets going."""

    def __init__(self, call_sid: str) -> None:
        self.call_sid = call_sid
        self.states: dict[str, CallState] = {}
        self.events: list[tuple[str, str, str, str | None, dict[str, Any]]] = []
        self._raw_state: bytes | None = None  # the call's state as read at the start
        self._seen: set[str] = set()  # its journey events recorded before
        self._job_pending = True  # whether its register job was queued and not yet taken
        self._read: InFlight | None = None
        self._error: Exception | None = None  # the read could not be sent
        if call_sid:
            key = _seen_events_key(call_sid)
            try:
                self._read = InFlight(
                    redis_store.client,
                    [
                        ("GET", state.state_key(call_sid)),
                        ("HKEYS", key),
                        ("EXISTS", pending_key(call_sid)),
                    ],
                )
            except (RedisError, OSError) as exc:  # raised when the request first needs it
                self._error = exc

    def _load(self) -> None:
        if self._error is not None:
            raise self._error
        if self._read is not None:
            read, self._read = self._read, None
            self._raw_state, seen, pending = read.replies()
            self._seen = {f.decode() if isinstance(f, bytes) else f for f in seen}
            self._job_pending = bool(pending)

    @property
    def raw_state(self) -> bytes | None:
        self._load()
        return self._raw_state

    @property
    def seen(self) -> set[str]:
        self._load()
        return self._seen

    @property
    def job_pending(self) -> bool:
        self._load()
        return self._job_pending

    def close(self) -> None:
        """The request is over: replies never asked for are dropped with their connection."""
        if self._read is not None:
            self._read.abandon()
            self._read = None


_batch: ContextVar[_Batch | None] = ContextVar("ivr_batch", default=None)


class Writes:
    """The end of a webhook request: its writes, sent to Redis by ``batched`` as the block
    ends; ``settle()`` takes the replies (the caller serialises its TwiML meanwhile) and
    raises if the writes failed, as the block would have."""

    def __init__(self) -> None:
        self._sent: tuple[InFlight, Staged] | None = None

    def settle(self) -> None:
        if self._sent is None:
            return
        sent, staged = self._sent
        self._sent = None
        try:
            results = sent.replies()
        except Exception:
            staged.abandon()
            raise
        staged.settle(results)


def start(call_sid: str) -> _Batch:
    """Send the read of a webhook request's start now (never raises: a failed read raises
    when the request first needs the state); ``batched`` takes it."""
    return _Batch(call_sid)


@contextmanager
def batched(call_sid: str = "", started: _Batch | None = None) -> Iterator[Writes]:
    """One webhook request of ``call_sid``: one round trip at its start reads the call's
    state, which of its journey events were recorded already and whether its register job is
    pending; state saves and journey events wait for its end, when one round trip saves the
    states and delivers every journey event of the request (these, and those recorded
    directly, e.g. by routing) to the register, with the call's job if it needs one, each
    event of ``record_once`` only if not recorded before (a replay's are not; an atomic
    check in Redis, see ``register.events.stage``). The end's writes are sent as the block
    ends; the caller calls ``settle()`` on what the block yields to take their replies
    (raises if they failed). Nothing of the flow's is written if the block fails; events
    recorded directly still go to the register, as they would at once. ``started``: the
    start's read, sent earlier by ``start``."""
    writes = Writes()
    with deferred():
        batch = started if started is not None else _Batch(call_sid)
        token = _batch.set(batch)
        try:
            yield writes
        except BaseException:
            batch.close()
            raise
        finally:
            _batch.reset(token)
        try:
            writes._sent = _send(batch)
        finally:
            batch.close()


def _send(batch: _Batch) -> tuple[InFlight, Staged] | None:
    for key, call_sid, step, choice, data in batch.events:
        with once(_seen_events_key(call_sid), key, SEEN_TTL_SECONDS):
            journey.record_event(call_sid, step, choice, **data)
    # The pipeline only collects commands (rq queues a job through one); they go out with
    # InFlight. A call whose register job is not pending gets it in the same round trip.
    pipe = redis_store.client.pipeline(transaction=False)
    staged = stage(pipe, clear=() if batch.job_pending else (batch.call_sid,))
    if not batch.states and not staged.kept:
        return None
    commands: list[tuple[Any, ...]] = [args for args, _options in pipe.command_stack]
    ttl = state.STATE_TTL_SECONDS
    commands += [
        ("SET", state.state_key(c.call_sid), c.to_json(), "EX", ttl) for c in batch.states.values()
    ]
    try:
        sent = InFlight(redis_store.client, commands)
    except Exception:
        staged.abandon()
        raise
    return sent, staged


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
    key = f"{step}:{attempt}"
    if batch is not None:
        if call_sid == batch.call_sid and key in batch.seen:
            return  # a replay: recorded already
        if all(event[0] != key or event[1] != call_sid for event in batch.events):
            batch.events.append((key, call_sid, step, choice, data))
        return
    pipe = redis_store.client.pipeline(transaction=False)
    pipe.hsetnx(_seen_events_key(call_sid), key, "1")
    pipe.expire(_seen_events_key(call_sid), SEEN_TTL_SECONDS)
    if pipe.execute()[0]:
        journey.record_event(call_sid, step, choice, **data)


def load_call(call_sid: str) -> CallState | None:
    """The call's state (within a request of this call, as read at its start)."""
    batch = _batch.get()
    if batch is not None and batch.call_sid == call_sid and call_sid:
        return CallState.from_json(batch.raw_state) if batch.raw_state else None
    return state.load(call_sid)


def load_state(turn: Turn, **defaults: Any) -> CallState:
    return load_call(turn.call_sid) or CallState(call_sid=turn.call_sid, **defaults)


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
            call = load_call(call_sid)  # the request's own read (see ``batched``)
        except (RedisError, OSError):
            log.exception("fallback for %s without the call's state", call_sid)
        journey.record_event(call_sid, "plataforma", None, reason="fallback")
    return send_to_plataforma(response, call, "fallback")
