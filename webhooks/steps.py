"""What every Twilio webhook shares: the signature check, the request's ``Step`` (the journey
events it records and the call states it saves), their one write at the end, and a safe route
when anything behind the view fails.

A view decorated with ``twilio_step(on_error)`` gets the request's ``Step`` as its first
argument and returns TwiML. Then, in one redis-py MULTI, the states are saved and the events
handed to the register (register.events.stage). If the view or that write fails, the caller
gets ``on_error(step)``'s TwiML instead, and the events recorded so far (and those on_error
records) still reach the register: on the stream, or in the outbox while Redis is down.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from flask import Response, current_app, request
from prometheus_client import Histogram
from twilio.twiml.voice_response import VoiceResponse

from extensions import db
from ivr import state
from ivr.flow import SIMULATION_FIELD
from ivr.state import CallState
from register import sink_of
from register.events import Journal, send, stage
from webhooks.twilio_auth import reject, signature_is_valid, twiml

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])
WEBHOOK_SECONDS = Histogram(
    "red_webhook_seconds",
    "Time to answer a Twilio webhook, by route",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


@dataclass
class Step:
    """What one webhook request records and saves, written when its view is over."""

    journal: Journal = field(default_factory=Journal)
    states: dict[str, CallState] = field(default_factory=dict)


def write(step: Step) -> None:
    """The states and the events in one MULTI (raises if Redis fails: the events are then
    kept in the outbox, the states are lost and the caller gets the safe route)."""
    sink = sink_of(current_app)
    events = step.journal.take()
    replies = None
    with sink.r.pipeline() as pipe:
        for call in step.states.values():
            state.save(pipe, call)
        handoff = stage(pipe, events)
        try:
            replies = pipe.execute()
        finally:
            handoff.settle(sink, replies)


def twilio_step(on_error: Callable[[Step], VoiceResponse]) -> Callable[[F], F]:
    """403 (nothing read, nothing recorded) unless Twilio signed the request; else the view's
    TwiML, or ``on_error(step)``'s (logged) when anything behind it fails."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Response:
            started = time.perf_counter()
            if not signature_is_valid():
                reject()
            step = Step(journal=_journal())
            try:
                response = view(step, *args, **kwargs)
                write(step)
            except Exception:  # a caller on the line must never get an error page
                log.exception("%s failed for call %s", request.path, form("CallSid") or "-")
                with contextlib.suppress(Exception):
                    db.session.rollback()
                response = on_error(step)
                send(sink_of(current_app), step.journal.take())
            document = twiml(response)
            WEBHOOK_SECONDS.labels(route=request.endpoint or "-").observe(
                time.perf_counter() - started
            )
            return document

        return wrapper  # type: ignore[return-value]

    return decorate


def _journal() -> Journal:
    """The request's journal: a simulated request's events carry its moment and its mark."""
    if SIMULATION_FIELD not in request.form:
        return Journal()
    moment = form(SIMULATION_FIELD)
    try:
        clock = datetime.fromisoformat(moment).astimezone(UTC) if moment else None
    except ValueError:
        clock = None
    return Journal(clock=clock, simulated=True)


def form(name: str) -> str:
    return request.form.get(name, "")


def arg_int(name: str, default: int = 0) -> int:
    value = request.args.get(name, "")
    return int(value) if value.isdigit() else default


def form_int(name: str, default: int = 0) -> int:
    value = form(name)
    return int(value) if value.isdigit() else default
