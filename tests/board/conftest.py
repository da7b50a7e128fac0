"""Fixtures of the board's tests: jobs run at once, register rows of any day, callers queued
through the signed wait URL, supervisors signed in."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from admin.models import User
from clock import LIMA
from config import TestConfig
from register.models import RegisterCall
from tests.admin.conftest import PASSWORD, live_server, login
from tests.conftest import TwilioSigner, call_params

__all__ = ["PASSWORD", "call_params", "live_server", "login"]  # live_server: a fixture


@pytest.fixture
def config(config: TestConfig) -> TestConfig:
    config.RQ_ASYNC = False  # jobs run inside the request that queues them
    return config


@pytest.fixture
def supervisor(session: Session) -> User:
    user = User(username="sofia", nombre="Sofía Supervisora", role="supervisor", activo=True)
    user.set_password(PASSWORD)
    session.add(user)
    session.commit()
    return user


@pytest.fixture
def signed_in(client: FlaskClient, supervisor: User) -> FlaskClient:
    assert login(client, "sofia").status_code == 302
    return client


def queue_caller(twilio: TwilioSigner, call_sid: str) -> None:
    """The caller reaches the wait URL of Twilio's queue: the line adopts them (signed)."""
    response = twilio.post(
        "/voice/queue/wait", call_params(call_sid, QueueSid="QU" + "a" * 32, QueueTime="0")
    )
    assert response.status_code == 200, response.data


_rows = 0


def register_row(day: date, *, at: time = time(10, 0), **fields: Any) -> RegisterCall:
    """A register row of ``day`` (Lima), by default a Plataforma call answered in 10 s."""
    global _rows
    _rows += 1
    start = datetime.combine(day, at, LIMA).astimezone(UTC)
    values: dict[str, Any] = {
        "call_sid": f"CAfeed{_rows:026x}",  # never one of tests.routing.conftest.sid(n)
        "fecha": day,
        "hora_inicio": at,
        "resultado": "atendida",
        "started_at": start,
        "queued_at": start + timedelta(seconds=5),
        "answered_at": start + timedelta(seconds=15),
        "espera_seg": 10,
        "atencion_seg": 120,
        "atendido_por": "Ana",
        "derivacion": "plataforma",
        "final_status": "completed",
        "journey": {},
        "events": [],
    }
    values.update(fields)
    return RegisterCall(**values)
