"""Fixtures of the register tests: a way to hand events to the register as jobs and commands
do."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest
from flask import Flask

from register import sink_of
from register.events import Sink, send


@pytest.fixture
def sink(app: Flask) -> Sink:
    return sink_of(app)


@pytest.fixture
def deliver(sink: Sink) -> Callable[[Sequence[dict[str, Any]]], None]:
    """Hand events to the register (register.events.send), as a job or a command does."""

    def run(events: Sequence[dict[str, Any]]) -> None:
        send(sink, events)

    return run
