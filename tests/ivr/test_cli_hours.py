"""ivr/cli.py: `flask hours` refuses past closure days and prints states as labels."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from flask.testing import FlaskCliRunner
from sqlalchemy.orm import Session

from clock import LIMA
from ivr.hours import closure_days

SUNDAY = datetime(2026, 12, 6, 10, 0, tzinfo=LIMA)


@pytest.fixture(autouse=True)
def on_a_sunday(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("ivr.cli.lima_now", lambda: SUNDAY)


def test_a_past_day_is_refused_and_nothing_is_closed(
    runner: FlaskCliRunner, session: Session
) -> None:
    result = runner.invoke(args=["hours", "close-day", "2026-12-05", "--reason", "Inventario"])
    assert result.exit_code == 1
    assert result.output == (
        "Error: 2026-12-05: Esa fecha ya pasó: indique hoy o una fecha futura.\n"
    )
    assert closure_days(session) == []


@pytest.mark.parametrize("day", ["2026-12-06", "2026-12-24"])
def test_today_and_later_days_can_be_closed(
    runner: FlaskCliRunner, session: Session, day: str
) -> None:
    result = runner.invoke(args=["hours", "close-day", day])
    assert result.exit_code == 0, result.output
    assert [d.day for d in closure_days(session)] == [date.fromisoformat(day)]


def test_hours_show_says_why_the_line_is_closed_in_words(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["hours", "show"])
    assert result.exit_code == 0
    assert "Ahora (2026-12-06 10:00): cerrada (fuera del horario)" in result.output
    assert "fuera_de_horario" not in result.output


def test_a_bad_day_is_said_in_spanish(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["hours", "open-day", "24/12/2026"])
    assert result.exit_code == 2
    assert "«24/12/2026» no es una fecha AAAA-MM-DD." in result.output
