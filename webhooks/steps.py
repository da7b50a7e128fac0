"""What every Twilio webhook shares: the signature check, the request's ``Step`` (the journey
events it records and the call states it saves), their one write at the end, and a safe route
when anything behind the view fails.

A view decorated with ``twilio_step(on_error)`` gets the request's ``Step`` as its first
argument and returns TwiML. Then, in one redis-py MULTI, the states are saved and the events
handed to the register (register.events.stage). If the view or that write fails, or the
request's budget is spent (webhooks/deadline.py, WEBHOOK_DEADLINE_SECONDS), the caller gets
``on_error(step)``'s TwiML instead, and the events recorded so far (and those on_error records)
still reach the register: on the stream, or in the outbox while Redis is down.
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

import redis
from flask import Response, current_app, request
from prometheus_client import Histogram
from twilio.twiml.voice_response import VoiceResponse

from extensions import db
from ivr import state
from ivr.flow import SIMULATION_FIELD
from ivr.state import CallState
from register import sink_of
from register.events import Handoff, Journal, Sink, send, stage
from webhooks.deadline import DeadlineExceeded, deadline
from webhooks.twilio_auth import require_signature, twiml

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
    # Set by write(): the events handed to the pipeline, and its replies (None: it failed).
    handoff: Handoff | None = None
    replies: list[Any] | None = None


def write(step: Step) -> None:
    """The states and the events in one MULTI; ``settle`` after it, whatever happened (raises
    if Redis fails: the states are lost, the settle keeps the events in the outbox and the
    caller gets the safe route)."""
    events = list(step.journal.events)
    with sink_of(current_app).r.pipeline() as pipe:
        for call in step.states.values():
            state.save(pipe, call)
        step.handoff = stage(pipe, events)
        step.journal.take()  # the handoff has them now
        step.replies = pipe.execute()


def settle(step: Step, sink: Sink) -> None:
    """After write(), whatever happened: the drain woken, or the events of a failed write
    kept in the outbox. Never raises."""
    if step.handoff is not None:
        step.handoff.settle(sink, step.replies)


def twilio_step(on_error: Callable[[Step], VoiceResponse]) -> Callable[[F], F]:
    """403 (nothing read, nothing recorded) unless Twilio signed the request; else the view's
    TwiML, or ``on_error(step)``'s (logged) when anything behind it fails or the request's
    budget (WEBHOOK_DEADLINE_SECONDS) is spent.

    After a Redis failure or the deadline, the events are handed to the register once the
    answer has been sent (``call_on_close``): Redis, which just failed, or a database that
    hangs, cannot hold the caller's answer past the budget."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Response:
            started = time.perf_counter()
            require_signature()
            sink = sink_of(current_app)
            step = Step(journal=_journal())
            failure: Exception | None = None
            try:
                with deadline(float(current_app.config["WEBHOOK_DEADLINE_SECONDS"])):
                    response = view(step, *args, **kwargs)
                    write(step)
            except Exception as exc:  # noqa: BLE001 - a caller must never get an error page
                failure = exc
            if failure is None:
                settle(step, sink)
                document = twiml(response)
            else:
                log.error(
                    "%s failed for call %s", request.path, form("CallSid") or "-", exc_info=failure
                )
                with contextlib.suppress(Exception):
                    db.session.rollback()
                document = twiml(on_error(step))
                if isinstance(failure, DeadlineExceeded | redis.RedisError):
                    document.call_on_close(functools.partial(_hand_over, step, sink))
                else:  # a fault of the view's own: Redis and the database are likely fine
                    _hand_over(step, sink)
            WEBHOOK_SECONDS.labels(route=request.endpoint or "-").observe(
                time.perf_counter() - started
            )
            return document

        return wrapper  # type: ignore[return-value]

    return decorate


def hang_up(_step: Step) -> VoiceResponse:
    """The safe route that ends the call (or the leg)."""
    response = VoiceResponse()
    response.hangup()
    return response


def nothing(_step: Step) -> VoiceResponse:
    """The safe route that adds nothing (a callback, or a call already running other TwiML)."""
    return VoiceResponse()


def _hand_over(step: Step, sink: Sink) -> None:
    """After a failure, the request's events to the register (the stream; after a Redis
    timeout the breaker sends them straight on to the outbox, else the spool), once the safe
    route is sent when Redis or the deadline failed. Never raises."""
    settle(step, sink)
    send(sink, step.journal.take())


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
