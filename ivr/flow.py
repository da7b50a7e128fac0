"""The frame every step of the call flow runs in: one webhook request (``Turn``), and the
helpers that ask for keys with a bounded number of tries and send a caller to the Plataforma.
No Flask globals: the view builds the Turn (webhooks/voice.py), and its step decorator writes
what the Turn saved and recorded, in one MULTI, when the step is over."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from redis import Redis
from sqlalchemy.orm import Session
from twilio.twiml import TwiML
from twilio.twiml.voice_response import Gather, VoiceResponse

from ivr.hours import Hours, load_hours
from ivr.prompts import Voice, speak
from ivr.state import CallState
from register.events import Journal

MAX_TRIES = 3
# The DialCallStatus values that mean the other side picked up.
ANSWERED = ("completed", "answered")
# `flask simulate` marks every request it signs with this field (Twilio never sends it): the
# moment it simulates, as ISO 8601 UTC, or empty for the real time. The call is registered at
# that moment and marked simulated (reports and exports leave it out unless asked).
SIMULATION_FIELD = "RedSimulacion"
UrlFor = Callable[..., str]
# Routing's seam (routing.flows.send_to_plataforma, wired in by the view): append the
# TwiML that puts the caller in line for an agent.
ToPlataforma = Callable[[VoiceResponse, CallState | None, str], VoiceResponse]


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
    """One webhook request of a call: who is calling, when, the call's state as read at the
    start, and what the step saves and records (written when the step is over)."""

    session: Session
    settings: FlowSettings
    url_for: UrlFor
    now: datetime
    call_sid: str
    r: Redis
    call: CallState | None  # as read from Redis at the start of the request
    plataforma: ToPlataforma
    journal: Journal = field(default_factory=Journal)
    saved: dict[str, CallState] = field(default_factory=dict)

    def load(self, **defaults: Any) -> CallState:
        """The call's state: as saved by this step, as read, or new."""
        return (
            self.saved.get(self.call_sid)
            or self.call
            or CallState(call_sid=self.call_sid, **defaults)
        )

    def save(self, call: CallState) -> None:
        self.saved[call.call_sid] = call

    def record(
        self, step: str, choice: str | None = None, *, once: object = 1, **data: Any
    ) -> None:
        """Record a journey event of this call; ``once``: what makes it this step's event
        (a replay of the same request records the same event)."""
        self.journal.record(self.call_sid, step, choice, once=once, **data)

    def path(self, endpoint: str, **values: Any) -> str:
        """A relative URL (Twilio resolves it against the request's URL)."""
        return self.url_for(endpoint, **values)

    def absolute(self, endpoint: str, **values: Any) -> str:
        """An absolute URL, for callbacks on another leg (whisper, recording status)."""
        return self.settings.public_base_url + self.url_for(endpoint, **values)

    def hours(self) -> Hours:
        """The service hours in force (an admin's setting wins over the environment)."""
        settings = self.settings
        return load_hours(self.session, settings.service_hours, settings.close_on_holidays)

    def speak(self, target: TwiML, prompt_id: str, language: str = "es", **fields: Any) -> None:
        speak(target, self.session, self.settings.voice, prompt_id, language, **fields)


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


def ask_main_menu(turn: Turn, response: VoiceResponse, call: CallState, tries: int) -> None:
    menu = gather(turn, response, "voice.main_menu", tries)
    turn.speak(menu, "main_menu", call.language)


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
    turn.save(call)
    turn.record("plataforma", once=reason, reason=reason)
    return turn.plataforma(response, call, reason)


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
