"""The Anexo 1 export (CSV, XLSX, masking by role) and the retention purge."""

from __future__ import annotations

import csv
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session
from twilio.http.response import Response

import twilio_rest
from directory import audit
from register.anexo1 import COLUMNS
from register.ingest import ingest_events
from register.models import RegisterCall
from register.retention import months_before, purge
from tests.register.journeys import (
    T0,
    closed_voicemail,
    plataforma_answered,
    technical_alterno,
)

HEADER = (
    "fecha,hora_inicio,hora_fin,call_sid,canal,telefono,region,idioma,tipo_usuario,preferencial,"
    "tipo_consulta,detalle,expediente,organo,derivacion,atendido_por,resultado,espera_seg,"
    "duracion_seg,encuesta"
)


@pytest.fixture
def october(session: Session) -> None:
    ingest_events(session, plataforma_answered("CA" + "a" * 32))
    ingest_events(session, technical_alterno("CA" + "b" * 32))
    ingest_events(session, closed_voicemail("CA" + "c" * 32))
    ingest_events(
        session,
        plataforma_answered("CA" + "d" * 32, datetime(2026, 11, 2, 15, 0, tzinfo=T0.tzinfo)),
    )


def test_csv_export_has_the_anexo1_columns_in_order_and_masks_phones(
    october: None, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    out = tmp_path / "octubre.csv"
    result = runner.invoke(args=["register", "export", "--month", "2026-10", "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert "3 llamadas exportadas" in result.output
    text = out.read_text(encoding="utf-8-sig")
    assert text.splitlines()[0] == HEADER
    rows = list(csv.DictReader(text.splitlines()))
    assert [r["call_sid"][-1] for r in rows] == ["a", "b", "c"]
    first = next(r for r in rows if r["call_sid"] == "CA" + "a" * 32)
    assert first["telefono"] == "+51 9** *** 321"
    assert first["fecha"] == "2026-10-14" and first["hora_inicio"] == "10:00:00"
    assert first["canal"] == "telefonico" and first["resultado"] == "atendida"
    assert first["espera_seg"] == "15" and first["encuesta"] == "4"


def test_supervisor_sees_full_numbers_and_organo_filter_keeps_its_calls(
    october: None, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    out = tmp_path / "dgpp.csv"
    result = runner.invoke(
        args=[
            "register",
            "export",
            "--month",
            "2026-10",
            "--organo",
            "dgpp",
            "--output",
            str(out),
            "--role",
            "supervisor",
        ]
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.read_text(encoding="utf-8-sig").splitlines()))
    assert len(rows) == 1
    assert rows[0]["organo"] == "DGPP" and rows[0]["telefono"] == "+51912345678"


def test_the_phone_numbers_in_a_red_members_note_are_masked_like_the_telefono_column(
    october: None, session: Session, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    call = session.scalars(select(RegisterCall).where(RegisterCall.call_sid.endswith("b"))).one()
    call.nota_red = "Devolver al 987 654 321; expediente 2026-000123."
    session.commit()
    details = {}
    for role in ("lector", "supervisor"):
        out = tmp_path / f"{role}.csv"
        args = ["register", "export", "--month", "2026-10", "--output", str(out), "--role", role]
        result = runner.invoke(args=args)
        assert result.exit_code == 0, result.output
        rows = csv.DictReader(out.read_text(encoding="utf-8-sig").splitlines())
        details[role] = next(r["detalle"] for r in rows if r["call_sid"] == call.call_sid)
    assert details["lector"].endswith(
        "nota de la Red: Devolver al +51 9** *** 321; expediente 2026-000123."
    )
    assert details["supervisor"].endswith(
        "nota de la Red: Devolver al 987 654 321; expediente 2026-000123."
    )


def test_xlsx_export_has_header_frozen_panes_widths_and_real_dates(
    october: None, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    out = tmp_path / "octubre.xlsx"
    result = runner.invoke(args=["register", "export", "--month", "2026-10", "--output", str(out)])
    assert result.exit_code == 0, result.output
    ws = load_workbook(out).active
    assert ws is not None
    assert [c.value for c in ws[1]] == list(COLUMNS)
    assert ws.freeze_panes == "A2"
    assert ws.column_dimensions["D"].width == 36
    fecha, inicio = ws["A2"], ws["B2"]
    assert isinstance(fecha.value, datetime) and fecha.value.date() == date(2026, 10, 14)
    assert fecha.number_format == "yyyy-mm-dd"
    assert isinstance(inicio.value, time) and inicio.number_format == "hh:mm:ss"
    assert ws.max_row == 4
    assert all("*" in str(c.value) for c in ws["F"][1:])


def test_export_rejects_a_bad_month_and_a_bad_extension(
    runner: FlaskCliRunner, tmp_path: Path
) -> None:
    result = runner.invoke(
        args=["register", "export", "--month", "octubre", "--output", str(tmp_path / "x.csv")]
    )
    assert result.exit_code != 0 and "AAAA-MM" in result.output
    result = runner.invoke(
        args=["register", "export", "--month", "2026-10", "--output", str(tmp_path / "x.pdf")]
    )
    assert result.exit_code != 0 and ".xlsx" in result.output


class FakeTwilio:
    """Twilio's REST side, faked at the network edge (twilio's HttpClient)."""

    def __init__(self, status: int = 204) -> None:
        self.status = status
        self.requests: list[tuple[str, str]] = []

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        self.requests.append((method, url))
        return Response(self.status, "" if self.status == 204 else '{"message": "error"}')


@pytest.fixture
def fake_twilio(app: Flask) -> Any:
    """In place of the suite's fake: this one answers every request with ``status``."""

    fake = FakeTwilio()
    twilio_rest.use_http_client(fake)
    yield fake
    twilio_rest.use_http_client(None)


def test_months_before_clamps_to_the_end_of_a_short_month() -> None:
    assert months_before(date(2026, 3, 31), 1) == date(2026, 2, 28)
    assert months_before(date(2026, 1, 15), 24) == date(2024, 1, 15)


def test_purge_deletes_old_recordings_and_masks_old_numbers(
    october: None, session: Session, fake_twilio: FakeTwilio
) -> None:
    counts = purge(session, months=1, today=date(2026, 11, 20))
    assert counts["llamadas"] == 3  # the October calls; November's stays
    deleted = sorted(
        url.rsplit("/", 1)[-1] for method, url in fake_twilio.requests if method == "DELETE"
    )
    assert deleted == sorted(["RE" + "a" * 32 + ".json", "RE" + "b" * 32 + ".json"])
    session.expire_all()
    calls = {c.call_sid[-1]: c for c in session.scalars(select(RegisterCall))}
    assert calls["a"].telefono == "+51 9** *** 321"
    assert calls["d"].telefono == "+51987654321"
    assert all(r.get("recording_url") is None for r in calls["c"].journey["recordings"])
    for call in (calls["a"], calls["c"]):
        assert call.events and all(
            "987" not in str(e["data"].get("from", ""))[:-3]
            and e["data"].get("recording_url") is None
            for e in call.events
        )
    assert calls["a"].events[0]["data"]["from"] == "+51 9** *** 321"
    assert purge(session, months=1, today=date(2026, 11, 20))["llamadas"] == 0


def test_purge_masks_the_phone_numbers_in_a_red_members_note(
    october: None, session: Session, fake_twilio: FakeTwilio
) -> None:
    note = "Devolver al 987 654 321 o al (01) 311-5930; expediente 2026-000123."
    for call in session.scalars(select(RegisterCall)):
        call.nota_red = note
    session.commit()
    purge(session, months=1, today=date(2026, 11, 20))
    session.expire_all()
    notes = {c.call_sid[-1]: c.nota_red for c in session.scalars(select(RegisterCall))}
    assert notes["b"] == (
        "Devolver al +51 9** *** 321 o al +51 1** ** 930; expediente 2026-000123."
    )
    assert notes["d"] == note  # November's call is not due yet


def test_purge_masks_the_numbers_in_old_audit_entries_about_calls_and_voice_messages(
    session: Session, fake_twilio: FakeTwilio
) -> None:
    """The audit log keeps who changed what and when; after the retention period, the numbers
    it recorded about a caller (a note's text, a voice message's snapshot) are masked too."""
    note = "Llamar al 987 654 321; expediente 2026-000123."
    message = {"telefono": "+51987654321", "recording_url": "https://api.twilio.com/x/RE1"}
    old = datetime(2026, 9, 30, 12, 0, tzinfo=T0.tzinfo)
    entries: dict[str, tuple[str, dict[str, Any], dict[str, Any], datetime | None]] = {
        "note": ("register_call", {"nota_red": None}, {"nota_red": note}, old),
        "message": ("voice_message", message, {**message, "status": "atendido"}, old),
        "recent": ("register_call", {"nota_red": note}, {"nota_red": None}, None),
        "directory": ("representative", {"celular": "+51987654321"}, {"celular": None}, old),
    }
    for action, (entity, before, after, at) in entries.items():
        entry = audit.record(
            session, actor="x", entity=entity, entity_id=1, action=action, before=before,
            after=after,
        )  # fmt: skip
        if at is not None:
            session.flush()
            entry.at = at
    session.commit()
    counts = purge(session, months=1, today=date(2026, 11, 20))
    assert counts["auditoria"] == 2
    session.expire_all()
    found = {e.action: (e.before, e.after) for e in audit.entries(session)}
    assert found["note"] == (
        {"nota_red": None},
        {"nota_red": "Llamar al +51 9** *** 321; expediente 2026-000123."},
    )
    masked = {"telefono": "+51 9** *** 321", "recording_url": None}
    assert found["message"] == (masked, {**masked, "status": "atendido"})
    assert found["recent"] == ({"nota_red": note}, {"nota_red": None})  # not due yet
    assert found["directory"] == ({"celular": "+51987654321"}, {"celular": None})  # not a caller's
    assert purge(session, months=1, today=date(2026, 11, 20))["auditoria"] == 0


def test_a_recording_twilio_cannot_delete_keeps_its_call_for_the_next_run(
    october: None, session: Session, fake_twilio: FakeTwilio, runner: FlaskCliRunner
) -> None:
    fake_twilio.status = 500
    counts = purge(session, months=1, today=date(2026, 11, 20))
    assert counts["pendientes"] == 2 and counts["llamadas"] == 1
    fake_twilio.status = 204
    result = runner.invoke(args=["register", "purge", "--months", "0"])
    assert result.exit_code == 0, result.output
    assert "llamadas depuradas" in result.output and "registros de auditoría" in result.output


def test_a_cell_that_starts_like_a_formula_is_neutralised_in_csv_and_xlsx(
    session: Session, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    """Issue 15: =HYPERLINK(...) in a name reaches no spreadsheet as a live formula."""
    events = plataforma_answered("CA" + "f" * 32)
    for event in events:
        if event["step"] == "agent_answered":
            event["data"]["nombre"] = '=HYPERLINK("http://evil.example","clic")'
    ingest_events(session, events)
    out = tmp_path / "octubre.csv"
    export = ["register", "export", "--month", "2026-10", "--role", "admin"]
    assert runner.invoke(args=[*export, "--output", str(out)]).exit_code == 0
    [row] = list(csv.DictReader(out.read_text(encoding="utf-8-sig").splitlines()))
    assert row["atendido_por"] == '\'=HYPERLINK("http://evil.example","clic")'
    assert row["telefono"] == "+51987654321"  # the service's own numbers stay as they are
    book = tmp_path / "octubre.xlsx"
    assert runner.invoke(args=[*export, "--output", str(book)]).exit_code == 0
    sheet = load_workbook(book).active
    assert sheet is not None
    cell = sheet.cell(2, COLUMNS.index("atendido_por") + 1)
    assert cell.data_type == "s" and str(cell.value).startswith("=HYPERLINK")
