"""Service hours: the format, open or closed at a moment, the hours said, admin settings."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy.orm import Session

import config as settings
from app import create_app
from config import ConfigError
from ivr.hours import (
    Hours,
    ServiceHoursError,
    callback_due_date,
    closed_reason,
    describe_hours,
    load_hours,
    parse_service_hours,
    set_service_hours,
)
from tests.ivr.helpers import lima

SPLIT = "mon-fri 08:30-13:00;mon-fri 14:00-16:30;sat 09:00-12:00"


def hours(spec: str = "mon-fri 08:30-16:30", **kw: object) -> Hours:
    defaults: dict[str, object] = {"close_on_holidays": True, "closure_days": frozenset()}
    return Hours(spec, parse_service_hours(spec), **(defaults | kw))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("spec", "said"),
    [
        ("mon-fri 08:30-16:30", "de lunes a viernes, de 8:30 a 16:30"),
        (
            SPLIT,
            "de lunes a viernes, de 8:30 a 13:00 y de 14:00 a 16:30; los sábados, de 9:00 a 12:00",
        ),
        ("mon,wed 09:00-10:00", "los lunes y miércoles, de 9:00 a 10:00"),
        ("sun 10:00-24:00", "los domingos, de 10:00 a 24:00"),
    ],
)
def test_hours_are_said_in_clear_spanish(spec: str, said: str) -> None:
    assert describe_hours(parse_service_hours(spec)) == said


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "vacío"),
        ("mon-fri 8:30-16:30", "Tramo inválido"),
        ("lun-vie 08:30-16:30", "Días inválidos"),
        ("fri-mon 08:30-16:30", "al revés"),
        ("mon-fri 16:30-08:30", "posterior"),
        ("mon-fri 08:30-25:00", "Hora inválida"),
        ("mon-fri 08:30-16:30;", "Tramo inválido"),
    ],
)
def test_malformed_hours_are_refused_with_a_clear_error(spec: str, message: str) -> None:
    with pytest.raises(ServiceHoursError, match=message):
        parse_service_hours(spec)


def test_malformed_service_hours_in_the_environment_stop_the_app(
    config: settings.TestConfig,
) -> None:
    config.SERVICE_HOURS = "weekdays 9-5"
    with pytest.raises(ConfigError, match="SERVICE_HOURS"):
        create_app(config)


def test_malformed_anexo_dial_stops_the_app(config: settings.TestConfig) -> None:
    config.ANEXO_DIAL = "pbx.mef.gob.pe"
    with pytest.raises(ConfigError, match="ANEXO_DIAL"):
        create_app(config)


@pytest.mark.parametrize(
    ("moment", "reason"),
    [
        ("2026-11-26 08:29", "fuera_de_horario"),
        ("2026-11-26 08:30", None),
        ("2026-11-26 13:30", "fuera_de_horario"),
        ("2026-11-26 14:00", None),
        ("2026-11-26 16:29", None),
        ("2026-11-26 16:30", "fuera_de_horario"),
        ("2026-11-28 10:00", None),  # Saturday morning window
        ("2026-11-28 12:00", "fuera_de_horario"),
        ("2026-11-29 10:00", "fuera_de_horario"),  # Sunday
        ("2026-07-28 10:00", "feriado"),  # Fiestas Patrias
        ("2026-12-25 10:00", "feriado"),
    ],
)
def test_open_or_closed_at_a_moment(moment: str, reason: str | None) -> None:
    assert closed_reason(lima(moment), hours(SPLIT)) == reason


def test_the_moment_is_taken_in_lima_time() -> None:
    utc_evening = datetime.fromisoformat("2026-11-26T21:00:00+00:00")  # 16:00 in Lima
    assert closed_reason(utc_evening, hours()) is None


def test_closure_day_and_holiday_setting() -> None:
    closed = hours(closure_days=frozenset({date(2026, 11, 26)}))
    assert closed_reason(lima("2026-11-26 10:00"), closed) == "cierre"
    assert closed_reason(lima("2026-07-28 10:00"), hours(close_on_holidays=False)) is None


@pytest.mark.parametrize(
    ("moment", "due"),
    [
        ("2026-11-26 16:31", "2026-11-27"),  # Thursday evening → Friday
        ("2026-11-27 18:00", "2026-11-30"),  # Friday evening → Monday
        ("2026-11-30 07:00", "2026-11-30"),  # Monday before opening → the same day
        ("2026-12-07 18:00", "2026-12-10"),  # Monday evening; 8 and 9 December are holidays
    ],
)
def test_callback_is_due_the_next_working_day(moment: str, due: str) -> None:
    assert callback_due_date(lima(moment), hours()) == date.fromisoformat(due)


def test_callback_due_date_skips_closure_days() -> None:
    closed = hours(closure_days=frozenset({date(2026, 11, 27)}))
    assert callback_due_date(lima("2026-11-26 17:00"), closed) == date(2026, 11, 30)


def test_admin_hours_win_over_the_environment_and_can_be_reset(
    app: Flask, session: Session
) -> None:
    set_service_hours(session, "  mon-fri   09:00-12:00 ")
    current = load_hours(session, "mon-fri 08:30-16:30", True)
    assert (current.spec, current.source) == ("mon-fri 09:00-12:00", "administración")
    set_service_hours(session, None)
    current = load_hours(session, "mon-fri 08:30-16:30", True)
    assert (current.spec, current.source) == ("mon-fri 08:30-16:30", "entorno")


def test_invalid_admin_hours_are_refused(app: Flask, session: Session) -> None:
    with pytest.raises(ServiceHoursError):
        set_service_hours(session, "mon-fri 9-5")
    assert load_hours(session, "mon-fri 08:30-16:30", True).source == "entorno"


def test_hours_cli_set_show_close_and_open_a_day(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["hours", "set", SPLIT])
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["hours", "close-day", "2026-12-24", "--reason", "Navidad"])
    assert result.exit_code == 0
    result = runner.invoke(args=["hours", "show"])
    assert f"Horario: {SPLIT} (administración)" in result.output
    assert "de 8:30 a 13:00 y de 14:00 a 16:30" in result.output
    assert "2026-12-24" in result.output
    result = runner.invoke(args=["hours", "open-day", "2026-12-24"])
    assert "ya no es día de cierre" in result.output
    assert "ninguno" in runner.invoke(args=["hours", "show"]).output


def test_hours_cli_refuses_a_bad_value(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["hours", "set", "todos los días"])
    assert result.exit_code != 0 and "Tramo inválido" in result.output
    result = runner.invoke(args=["hours", "close-day", "24/12/2026"])
    assert result.exit_code != 0 and "AAAA-MM-DD" in result.output


def test_hours_cli_holidays_and_default(runner: FlaskCliRunner) -> None:
    runner.invoke(args=["hours", "set", "--no-holidays"])
    assert "Cerrado en feriados: no" in runner.invoke(args=["hours", "show"]).output
    runner.invoke(args=["hours", "set", "--default", "--holidays"])
    output = runner.invoke(args=["hours", "show"]).output
    assert "Cerrado en feriados: sí" in output and "(entorno)" in output


def test_admin_changes_with_an_actor_are_written_to_the_audit_log(
    app: Flask, session: Session
) -> None:
    from directory.audit import entries
    from ivr.hours import close_day, open_day, set_close_on_holidays

    set_service_hours(session, "sat 09:00-12:00", actor="admin:ana")
    set_service_hours(session, "sat 09:00-12:00", actor="admin:ana")  # no change, no entry
    set_close_on_holidays(session, False, actor="admin:ana")
    close_day(session, date(2026, 12, 24), "Inventario", actor="admin:ana")
    assert open_day(session, date(2026, 12, 24), actor="admin:luis")
    assert not open_day(session, date(2026, 12, 24), actor="admin:luis")
    set_service_hours(session, None, actor="admin:luis")
    logged = [(e.actor, e.entity, e.entity_id, e.action) for e in entries(session)]
    assert logged == [
        ("admin:ana", "ivr_setting", "SERVICE_HOURS", "create"),
        ("admin:ana", "ivr_setting", "SERVICE_CLOSE_ON_HOLIDAYS", "create"),
        ("admin:ana", "closure_day", "2026-12-24", "create"),
        ("admin:luis", "closure_day", "2026-12-24", "delete"),
        ("admin:luis", "ivr_setting", "SERVICE_HOURS", "delete"),
    ]
    assert entries(session)[2].after == {"day": "2026-12-24", "reason": "Inventario"}
    assert entries(session)[4].before == {"key": "SERVICE_HOURS", "value": "sat 09:00-12:00"}


def test_hours_cli_changes_are_audited_as_the_os_user(
    runner: FlaskCliRunner, session: Session
) -> None:
    from directory.audit import default_actor, entries

    runner.invoke(args=["hours", "close-day", "2026-12-24"])
    [entry] = entries(session, "closure_day")
    assert entry.actor == default_actor() and entry.actor.startswith("cli:")


def test_upcoming_holidays_are_the_next_peruvian_ones_in_order() -> None:
    from ivr.hours import upcoming_holidays

    coming = upcoming_holidays(date(2026, 12, 8), 3)
    assert [day for day, _ in coming] == [date(2026, 12, 8), date(2026, 12, 9), date(2026, 12, 25)]
    assert coming[2][1] == "Navidad del Señor"
    assert upcoming_holidays(date(2026, 12, 26), 1)[0][0] == date(2027, 1, 1)
