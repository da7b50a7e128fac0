"""Callback requests: due dates (§5.6.1), one list, take/done with attempts, overdue flag; the
CLI agents use."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from flask.testing import FlaskCliRunner
from sqlalchemy.orm import Session

from ivr.hours import Hours, callback_due_date, load_hours
from register import callbacks
from register.models import CallbackRequest

# Tuesday 2026-11-24, 10:00 in Lima (15:00 UTC); 2026-12-08 (Inmaculada Concepción) and
# 2026-12-09 (Batalla de Ayacucho) are public holidays.
TUESDAY = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
FRIDAY_EVENING = datetime(2026, 11, 27, 23, 0, tzinfo=UTC)  # 18:00 in Lima
SATURDAY = datetime(2026, 11, 28, 15, 0, tzinfo=UTC)
MONDAY_EVENING_BEFORE_HOLIDAYS = datetime(2026, 12, 7, 23, 0, tzinfo=UTC)
TUESDAY_BEFORE_OPENING = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)  # 07:00 in Lima


def hours(session: Session) -> Hours:
    return load_hours(session, "mon-fri 08:30-16:30", True)


@pytest.mark.parametrize(
    ("now", "due"),
    [
        (TUESDAY, date(2026, 11, 24)),  # open: today
        (TUESDAY_BEFORE_OPENING, date(2026, 11, 24)),  # the line still opens today
        (SATURDAY, date(2026, 11, 30)),
        (FRIDAY_EVENING, date(2026, 11, 30)),
        (MONDAY_EVENING_BEFORE_HOLIDAYS, date(2026, 12, 10)),  # 8 and 9 December skipped
    ],
)
def test_due_today_while_the_line_is_open_else_the_next_day_it_opens(
    session: Session, now: datetime, due: date
) -> None:
    assert callback_due_date(now, hours(session)) == due


def make(
    session: Session, n: int, source: str = "cola", now: datetime = TUESDAY
) -> CallbackRequest:
    request, created = callbacks.request_callback(
        session,
        call_sid=f"CA{n:032x}",
        source=source,
        telefono="+51987654321",
        due=callback_due_date(now, hours(session)),
        now=now,
    )
    assert created
    return request


def test_a_request_is_recorded_once_per_call_and_source(session: Session) -> None:
    first = make(session, 1)
    again, created = callbacks.request_callback(
        session,
        call_sid=first.call_sid,
        source="cola",
        telefono="+51987654321",
        due=first.due_date,
        now=TUESDAY,
    )
    assert not created and again.id == first.id


def test_one_list_oldest_due_first_whatever_the_source(session: Session) -> None:
    late = make(session, 1, "fuera_de_horario", FRIDAY_EVENING)
    today = make(session, 2, "cola", TUESDAY)
    other = make(session, 3, "ruta_fallida", TUESDAY)
    assert [r.id for r in callbacks.open_requests(session)] == [today.id, other.id, late.id]
    assert [r.id for r in callbacks.open_requests(session, today=date(2026, 11, 24))] == [
        today.id,
        other.id,
    ]


def test_taking_and_closing_records_each_attempt(session: Session) -> None:
    request = make(session, 1)
    callbacks.take(session, request.id, "Ana")
    with pytest.raises(callbacks.CallbackError):
        callbacks.take(session, request.id, "Beto")
    callbacks.record_attempt(session, request.id, agent="Ana", outcome="no_contesta")
    assert request.status == "no_contesta"
    callbacks.take(session, request.id, "Beto")  # another try, by someone else
    done = callbacks.record_attempt(
        session, request.id, agent="Beto", outcome="realizada", note="Se informó el estado"
    )
    assert done.status == "realizada" and done.done_at is not None
    assert [(a.agent, a.outcome) for a in done.attempts] == [
        ("Ana", "no_contesta"),
        ("Beto", "realizada"),
    ]
    assert callbacks.open_requests(session) == []
    with pytest.raises(callbacks.CallbackError):
        callbacks.record_attempt(session, request.id, agent="Beto", outcome="realizada")


def test_open_requests_past_their_day_are_flagged_vencida(session: Session) -> None:
    open_one = make(session, 1)
    closed = make(session, 2)
    callbacks.record_attempt(session, closed.id, agent="Ana", outcome="realizada")
    assert callbacks.flag_overdue(session, today=date(2026, 11, 24)) == 0
    assert callbacks.flag_overdue(session, today=date(2026, 11, 25)) == 1
    assert callbacks.flag_overdue(session, today=date(2026, 11, 25)) == 0
    session.refresh(open_one)
    session.refresh(closed)
    assert open_one.vencida and not closed.vencida


def test_agents_work_the_list_from_the_command_line(
    session: Session, runner: FlaskCliRunner
) -> None:
    request = make(session, 1)
    session.execute(
        CallbackRequest.__table__.update().values(due_date=date(2020, 1, 2))  # type: ignore[attr-defined]
    )
    session.commit()
    callbacks.flag_overdue(session, today=date(2026, 11, 24))
    listed = runner.invoke(args=["callbacks", "list"])
    assert listed.exit_code == 0
    assert "+51987654321" in listed.output and "VENCIDA" in listed.output
    taken = runner.invoke(args=["callbacks", "take", str(request.id), "--agent", "Ana"])
    assert taken.exit_code == 0 and "llame al +51987654321" in taken.output
    other = runner.invoke(args=["callbacks", "take", str(request.id), "--agent", "Beto"])
    assert other.exit_code != 0 and "está en curso (Ana)" in other.output
    done = runner.invoke(
        args=["callbacks", "done", str(request.id), "--agent", "Ana", "--outcome", "realizada"]
    )
    assert done.exit_code == 0 and "realizada (1 intento)" in done.output
    assert "No hay devoluciones" in runner.invoke(args=["callbacks", "list"]).output
