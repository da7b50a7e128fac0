"""Reports out of the demo data (register/demo.py, register/reports.py, register/erlang.py)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from flask.testing import FlaskCliRunner
from openpyxl import load_workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from register.demo import seed_demo_calls
from register.erlang import agents_needed, average_speed_of_answer, erlang_c, service_level
from register.models import RegisterCall
from register.reports import build_report, period_of_month, period_of_quarter

TODAY = date(2026, 11, 10)


@pytest.fixture
def demo(session: Session) -> int:
    return seed_demo_calls(session, months=2, per_day=25, today=TODAY)


def test_erlang_c_matches_the_textbook_example() -> None:
    # 10 Erlangs offered to 11 agents, 180 s handle time (the classic worked example).
    assert erlang_c(11, 10.0) == pytest.approx(0.6821, abs=1e-4)
    assert average_speed_of_answer(11, 10.0, 180) == pytest.approx(122.8, abs=0.1)
    assert service_level(13, 10.0, 180, 20) == pytest.approx(0.7956, abs=1e-4)
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3)  # M/M/2 at 50 % load
    assert agents_needed(200, 180, 0.8, 20) == 14
    assert agents_needed(0, 180) == 0


def test_demo_calls_are_deterministic_and_idempotent(session: Session, demo: int) -> None:
    calls = session.scalar(select(func.count()).select_from(RegisterCall))
    events = session.scalar(select(func.sum(RegisterCall.event_count)))
    assert calls == demo > 500
    assert events is not None and events > calls
    assert seed_demo_calls(session, months=2, per_day=25, today=TODAY) == demo
    assert session.scalar(select(func.count()).select_from(RegisterCall)) == calls
    assert session.scalar(select(func.sum(RegisterCall.event_count))) == events


def test_monthly_report_out_of_the_demo_data(session: Session, demo: int) -> None:
    report = build_report(session, period_of_month("2026-10"))
    assert report["ofrecidas"] > 400
    assert report["ofrecidas"] == sum(report["resultados"].values())
    assert 0 < report["abandonadas"] < report["atendidas"]
    assert sum(report["atendidas_por"].values()) == report["atendidas"]
    assert report["atendidas_por"]["titular"] > 0 and report["atendidas_por"]["alterno"] > 0
    assert 0 < report["nivel_servicio"] < 1
    assert report["asa_seg"] > 0 and report["aht_seg"] > 60
    assert 1 <= report["encuesta"]["promedio"] <= 5
    assert report["devoluciones"]["solicitadas"] > 0
    assert report["devoluciones"]["a_tiempo"] <= report["devoluciones"]["realizadas"]
    organos = {o["organo"]: o for o in report["por_organo"]}
    assert organos and all(o["ofrecidas"] > 0 for o in organos.values())
    assert any(o["no_contesta"]["titular"] for o in organos.values())
    assert sum(report["por_preferencial"].values()) > 0
    assert set(report["por_idioma"]) <= {"es", "qu", "ay"}
    assert report["por_region"]["Lima"] > 0
    hours = report["erlang"]["horas"]
    assert hours and all(h["agentes"] >= 1 for h in hours)
    assert all(h["nivel_servicio"] >= 0.8 for h in hours)


def test_quarterly_report_spans_three_months(session: Session, demo: int) -> None:
    quarter = build_report(session, period_of_quarter("2026-Q4"))
    october = build_report(session, period_of_month("2026-10"))
    november = build_report(session, period_of_month("2026-11"))
    assert quarter["ofrecidas"] == october["ofrecidas"] + november["ofrecidas"]
    assert len(quarter["por_dia"]) == 92


def test_report_commands_print_text_and_write_xlsx(
    demo: int, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    result = runner.invoke(args=["report", "monthly", "--month", "2026-10"])
    assert result.exit_code == 0, result.output
    assert "Reporte mensual" in result.output and "octubre de 2026" in result.output
    assert "Nivel de servicio" in result.output and "agentes" in result.output

    result = runner.invoke(args=["report", "quarterly", "--quarter", "2026-Q4"])
    assert result.exit_code == 0, result.output
    assert "4.º trimestre de 2026" in result.output

    out = tmp_path / "q.xlsx"
    result = runner.invoke(
        args=["report", "quarterly", "--quarter", "2026-Q4", "--output", str(out)]
    )
    assert result.exit_code == 0, result.output
    wb = load_workbook(out)
    assert wb.sheetnames == ["Resumen", "Por órgano", "Por día", "Distribución", "Erlang C"]
    summary = {row[0]: row[1] for row in wb["Resumen"].iter_rows(min_row=2, values_only=True)}
    assert summary["Llamadas ofrecidas"] > 0
    assert 0 < summary["Nivel de servicio (≤ 20 s)"] < 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["report", "monthly", "--month", "2026-13"], "AAAA-MM"),
        (["report", "quarterly", "--quarter", "2026-Q5"], "AAAA-Qn"),
    ],
)
def test_report_commands_reject_bad_periods(
    runner: FlaskCliRunner, args: list[str], message: str
) -> None:
    result = runner.invoke(args=args)
    assert result.exit_code != 0
    assert message in result.output


def test_demo_command_seeds_calls(runner: FlaskCliRunner, session: Session) -> None:
    result = runner.invoke(args=["register", "demo", "--months", "1", "--per-day", "5"])
    assert result.exit_code == 0, result.output
    assert "llamadas de demostración" in result.output


def test_the_language_section_says_who_interpreted(session: Session, tmp_path: Path) -> None:
    # issue 11.8: the interpreter who joined each call, per language
    from datetime import timedelta

    from register.ingest import ingest_events
    from register.reports import render_text, write_report_xlsx
    from tests.register.journeys import T0, event, plataforma_answered

    def interpreted(call_sid: str, *attempts: tuple[str, int, str]) -> list[dict]:
        events = [e for e in plataforma_answered(call_sid) if e["step"] != "language"]
        events.append(event(call_sid, "language", "qu", at=T0 + timedelta(seconds=3)))
        for n, (outcome, speaker, nombre) in enumerate(attempts):
            data = {"language": "qu", "speaker_id": speaker, "nombre": nombre}
            events.append(
                event(call_sid, "interpreter", outcome, at=T0 + timedelta(seconds=30 + n), **data)
            )
        return events

    hilda = ("joined", 2, "Hilda Choque Mamani")
    ingest_events(session, interpreted("CA" + "1" * 32, ("no-answer", 1, "Pedro Quispe"), hilda))
    ingest_events(session, interpreted("CA" + "2" * 32, hilda))
    ingest_events(session, plataforma_answered("CA" + "3" * 32))
    session.commit()
    stored = session.scalars(select(RegisterCall).where(RegisterCall.call_sid == "CA" + "1" * 32))
    journey = stored.one().journey
    assert journey["interpreted_by"] == "Hilda Choque Mamani"
    assert [a["outcome"] for a in journey["interpreters"]] == ["no-answer", "joined"]
    report = build_report(session, period_of_month("2026-10"))
    assert report["interpretes"] == [
        {"idioma": "qu", "nombre": "Hilda Choque Mamani", "llamadas": 2}
    ]
    assert "  con intérprete (Quechua): Hilda Choque Mamani (2)" in render_text(report)
    out = tmp_path / "r.xlsx"
    write_report_xlsx(report, out)
    rows = list(load_workbook(out)["Distribución"].iter_rows(min_row=2, values_only=True))
    assert ("Intérprete", "Quechua: Hilda Choque Mamani", 2) in rows
