"""End to end: calls walked through the real webhooks (ivr.simulator) end as register rows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr.simulator import Scenario, simulate_in_process
from register.models import RegisterCall
from tests.ivr.helpers import OPEN, lima, load_directory


@pytest.fixture
def directory(session: Session) -> None:
    load_directory(session)


@pytest.mark.usefixtures("directory")
@pytest.mark.parametrize(
    ("scenario", "expected"),
    [
        (
            {"keys": ["1", "3", "1", "rec:9", "5"], "dial": ["busy", "accept"]},
            {
                "tipo_consulta": "tecnica",
                "derivacion": "alterno",
                "resultado": "atendida",
                "encuesta": 5,
            },
        ),
        (
            {"keys": ["1", "3", "2", "#"], "dial": ["reject"]},
            {"tipo_consulta": "tecnica", "derivacion": "plataforma"},
        ),
        (
            {"keys": ["3", "9", "3"]},
            {"idioma": "ay", "preferencial": "discapacidad", "derivacion": "plataforma"},
        ),
        (
            {"keys": ["1", "8"]},
            {"tipo_usuario": "autoridad", "derivacion": "plataforma"},
        ),
        (
            {"keys": ["2", "rec:30"], "at": lima("2026-12-25 09:00")},
            {"resultado": "mensaje_de_voz", "derivacion": None},
        ),
    ],
)
def test_a_call_through_the_webhooks_becomes_one_register_row(
    app: Flask,
    session: Session,
    work: Callable[..., None],
    scenario: dict[str, Any],
    expected: dict[str, Any],
) -> None:
    sim = Scenario(**({"at": OPEN} | scenario))
    simulate_in_process(app, sim)
    work()
    row = session.scalars(select(RegisterCall).where(RegisterCall.call_sid == sim.call_sid)).one()
    assert row.telefono == "+51987654321" and row.canal == "telefonico"
    assert {k: getattr(row, k) for k in expected} == expected
