"""Every event the call flow and routing record uses the vocabulary of register/events.py
exactly."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from ivr.simulator import Scenario, simulate_in_process
from tests.conftest import Journey
from tests.ivr.helpers import OPEN, lima

# step → data keys, as documented in register/events.py's docstring.
VOCABULARY = {
    "incoming": {"from", "to", "region"},
    "closed": {"reason"},
    "closed_option": set(),
    "callback_requested": {"source", "telefono"},
    "voicemail": {"recording_sid", "recording_url", "duration"},
    "language": set(),
    "main_menu": {"detalle"},
    "expediente": {"expediente"},
    "preferential": set(),
    "organo": set(),
    "region": set(),
    "conectamef": {"telefono"},
    "summary": {"recording_url"},
    "dial": {"anexo", "nombre"},
    "dial_result": {"outcome", "duration"},
    "red_missed": {"from", "region", "tipo_usuario", "expediente", "summary_url"},
    "plataforma": {"reason"},
    "survey": set(),
    "status": {"duration"},
    "queued": {"priority", "language"},
    "agent_answered": {"agent_id", "nombre", "wait_seconds"},
    "queue_left": {"wait_seconds"},
    "interpreter": {"language", "speaker_id", "nombre"},
    "transfer": {"to", "kind", "by"},
}
NO_CHOICE = {"incoming", "closed", "callback_requested", "voicemail", "expediente", "summary"}
NO_CHOICE |= {"plataforma", "queued", "agent_answered", "transfer"}

SCENARIOS: list[dict[str, Any]] = [
    {"keys": ["1", "3", "1", "rec:9", "5"], "dial": ["busy", "accept"]},
    {"keys": ["1", "3", "2", "#"], "dial": ["reject"]},
    {"keys": ["2", "1", "12345#", "1"]},
    {"keys": ["3", "9", "3"]},
    {"keys": ["1", "4", "1", "-"], "dial": ["answer"]},
    {"keys": ["1", "7", "7", "7"]},
    {"keys": ["1", "8"]},
    {"keys": ["1", "1"], "at": lima("2026-11-26 20:00")},
    {"keys": ["2", "rec:30"], "at": lima("2026-12-25 09:00")},
]


@pytest.mark.usefixtures("directory")
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_events_use_the_documented_steps_and_data_keys(
    app: Flask, journey: Journey, scenario: dict[str, Any]
) -> None:
    simulate_in_process(app, Scenario(**({"at": OPEN} | scenario)))
    assert journey.events
    for event in journey.events:
        assert event["step"] in VOCABULARY, event
        assert set(event["data"]) == VOCABULARY[event["step"]], event
        if event["step"] in NO_CHOICE:
            assert event["choice"] is None, event
