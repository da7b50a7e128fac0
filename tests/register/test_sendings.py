"""The reports that reach the órganos: `flask report send-monthly` / `send-quarterly`, run
twice, deliver one message per address to a real SMTP server on loopback (aiosmtpd), with the
right Anexo 1 rows and native charts in the attachment; failures listed; the worker's check
queues them on the first business day after the period."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from datetime import UTC, date, datetime
from xml.etree import ElementTree

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from openpyxl import load_workbook
from rq.job import Job
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from directory.demo import seed_demo
from directory.models import Organo, Representative
from extensions import redis_store
from register.anexo1 import COLUMNS
from register.ingest import ingest_events
from register.models import ReportSending
from register.sendings import due_periods
from tests.register.journeys import plataforma_answered, technical_call
from tests.smtp_server import SmtpServer

NOVEMBER = {  # DGPP's technical calls of November 2026: who was dialed, what they did
    "CA" + "a" * 32: (datetime(2026, 11, 3, 15, tzinfo=UTC), ["accepted"]),
    "CA" + "b" * 32: (datetime(2026, 11, 10, 16, tzinfo=UTC), ["no-answer", "accepted"]),
    "CA" + "c" * 32: (datetime(2026, 11, 17, 17, tzinfo=UTC), ["no-answer", "busy"]),
}
DECEMBER_DGPP = "CA" + "d" * 32  # not November's
NOVEMBER_DGCP = "CA" + "e" * 32  # not DGPP's


@pytest.fixture
def directory(session: Session) -> dict[str, Representative]:
    seed_demo(session, actor="seed")
    dgpp = session.scalars(select(Organo).where(Organo.sigla == "DGPP")).one()
    titular, alterno = dgpp.current("titular"), dgpp.current("alterno")
    assert titular is not None and alterno is not None
    legs = [("titular", titular.nombre_completo, titular.anexo)]
    legs.append(("alterno", alterno.nombre_completo, alterno.anexo))
    events = []
    for sid, (at, outcomes) in NOVEMBER.items():
        dialed = [(*leg, outcome) for leg, outcome in zip(legs, outcomes, strict=False)]
        events += technical_call(sid, at, "DGPP", dialed, caller="+51987654321")
    events += technical_call(
        DECEMBER_DGPP, datetime(2026, 12, 1, 15, tzinfo=UTC), "DGPP", [(*legs[0], "accepted")]
    )
    events += technical_call(
        NOVEMBER_DGCP,
        datetime(2026, 11, 5, 15, tzinfo=UTC),
        "DGCP",
        [("titular", "Carlos Alberto Huamán Ccori", "2521", "accepted")],
    )
    ingest_events(session, events)
    session.commit()
    return {"titular": titular, "alterno": alterno}


@pytest.fixture
def mail(app: Flask, smtp_server: SmtpServer) -> SmtpServer:
    app.config.update(smtp_server.config())
    return smtp_server


def _serving_with_mail(session: Session) -> list[str]:
    reps = session.scalars(
        select(Representative)
        .join(Organo)
        .where(Representative.retired_at.is_(None), Organo.activo.is_(True))
    )
    return sorted(r.correo.lower() for r in reps if r.correo)


CHART_NS = "{http://schemas.openxmlformats.org/drawingml/2006/chart}"


def _charts(xlsx: bytes) -> list[tuple[set[str], set[str]]]:
    """The workbook's native charts, as Excel stores them (xl/charts/chartN.xml): for each,
    the kinds of plot (barChart, lineChart) and the cell ranges it is drawn from."""
    found = []
    with zipfile.ZipFile(io.BytesIO(xlsx)) as z:
        for name in z.namelist():
            if name.startswith("xl/charts/chart"):
                root = ElementTree.fromstring(z.read(name))
                plot = root.find(f"{CHART_NS}chart/{CHART_NS}plotArea")
                assert plot is not None
                kinds = {c.tag.removeprefix(CHART_NS) for c in plot if c.tag.endswith("Chart")}
                refs = {f.text or "" for f in root.iter(f"{CHART_NS}f")}
                found.append((kinds, refs))
    return found


def test_send_monthly_twice_delivers_one_message_per_red_member(
    runner: FlaskCliRunner,
    session: Session,
    directory: dict[str, Representative],
    mail: SmtpServer,
    work: Callable[..., None],
) -> None:
    expected = _serving_with_mail(session)
    assert len(expected) == 23  # 12 órganos, DGMFPP without an alterno

    first = runner.invoke(args=["report", "send-monthly", "--month", "2026-11"])
    assert first.exit_code == 0, first.output
    assert "Reporte mensual de noviembre de 2026:" in first.output
    assert "23 envíos en cola, 0 ya registrados." in first.output
    second = runner.invoke(args=["report", "send-monthly", "--month", "2026-11"])
    assert second.exit_code == 0, second.output
    assert "Nada nuevo que enviar: 23 envíos ya registrados" in second.output
    assert "no se envía de nuevo" in second.output

    work()  # the worker sends them
    third = runner.invoke(args=["report", "send-monthly", "--month", "2026-11"])
    assert "ya enviado el" in third.output and "Nada nuevo que enviar" in third.output
    work()

    assert sorted(to for r in mail.received for to in r.envelope_to) == expected
    assert len(mail.received) == 23  # one message per Red member, never twice
    statuses = session.scalars(select(ReportSending.status)).all()
    assert statuses == ["enviado"] * 23

    titular = directory["titular"]
    [got] = [r for r in mail.received if r.envelope_to == [titular.correo.lower()]]
    assert got.message["Subject"].startswith("Registro de atenciones de DGPP, noviembre de 2026")
    body = got.message.get_body(preferencelist=("plain",))
    assert body is not None
    text = body.get_content()
    assert f"Estimado(a) {titular.nombre_completo}:" in text
    assert "Consultas técnicas: 3" in text
    assert "Atendidas por el titular: 1" in text and "Atendidas por el alterno: 1" in text
    assert "Derivadas a la Plataforma: 1" in text
    assert f"No contestó (titular): {titular.nombre_completo} (2)" in text

    [attachment] = list(got.message.iter_attachments())
    assert attachment.get_filename() == "anexo1-DGPP-2026-11.xlsx"
    xlsx = attachment.get_content()
    wb = load_workbook(io.BytesIO(xlsx))
    assert wb.sheetnames == ["Anexo 1", "Resumen", "Por día"]
    rows = list(wb["Anexo 1"].iter_rows(values_only=True))
    assert rows[0] == COLUMNS
    sids = [r[COLUMNS.index("call_sid")] for r in rows[1:]]
    assert sorted(sids) == sorted(NOVEMBER)  # only DGPP's November calls
    assert {r[COLUMNS.index("telefono")] for r in rows[1:]} == {"+51 9** *** 321"}
    summary = dict(wb["Resumen"].iter_rows(min_row=2, values_only=True))
    assert summary["Atendidas por el titular"] == 1 and summary["Sin atender"] == 0
    charts = _charts(xlsx)
    assert len(charts) == 2
    assert ({"barChart"}, {"'Resumen'!B1", "'Resumen'!$A$2:$A$5", "'Resumen'!$B$2:$B$5"}) in charts
    assert any("'Por día'!$B$2:$B$31" in refs and "'Por día'!C1" in refs for _k, refs in charts)


def test_send_quarterly_goes_to_the_configured_address_once(
    app: Flask,
    runner: FlaskCliRunner,
    session: Session,
    directory: dict[str, Representative],
    mail: SmtpServer,
    work: Callable[..., None],
) -> None:
    # A call answered at the Plataforma in December: the Erlang C sheet has an hour to chart.
    ingest_events(
        session, plataforma_answered("CA" + "f" * 32, datetime(2026, 12, 1, 15, tzinfo=UTC))
    )
    session.commit()
    refused = runner.invoke(args=["report", "send-quarterly", "--quarter", "2026-Q4"])
    assert refused.exit_code == 1 and "REPORT_QUARTERLY_TO no está configurado" in refused.output
    app.config["REPORT_QUARTERLY_TO"] = ("ogsu@mef.gob.pe",)
    for _ in range(2):
        result = runner.invoke(args=["report", "send-quarterly", "--quarter", "2026-Q4"])
        assert result.exit_code == 0, result.output
    assert "Nada nuevo que enviar: 1 envío ya registrado" in result.output
    work()
    [got] = mail.received
    assert got.envelope_to == ["ogsu@mef.gob.pe"]
    assert got.message["Subject"] == "Reporte trimestral 2026-Q4 - Red de Atención MEF"
    body = got.message.get_body(preferencelist=("plain",))
    assert body is not None and "Llamadas ofrecidas:          6" in body.get_content()
    [attachment] = list(got.message.iter_attachments())
    xlsx = attachment.get_content()
    wb = load_workbook(io.BytesIO(xlsx))
    assert wb.sheetnames == ["Resumen", "Por órgano", "Por día", "Distribución", "Erlang C"]
    charts = _charts(xlsx)
    refs = set().union(*(r for _k, r in charts))
    assert {"'Por órgano'!D1", "'Por órgano'!G1", "'Por día'!B1", "'Erlang C'!E1"} <= refs
    assert {"barChart"} in [k for k, _r in charts] and {"lineChart"} in [k for k, _r in charts]
    bad = runner.invoke(args=["report", "send-quarterly", "--quarter", "2026-Q5"])
    assert bad.exit_code == 2 and "Trimestre inválido" in bad.output


def test_a_sending_that_fails_is_retried_by_rq_and_listed(
    app: Flask,
    runner: FlaskCliRunner,
    session: Session,
    directory: dict[str, Representative],
    mail: SmtpServer,
    work: Callable[..., None],
) -> None:
    app.config["SMTP_PASSWORD"] = "no-es-la-clave"
    app.config["REPORT_QUARTERLY_TO"] = ("ogsu@mef.gob.pe",)
    assert runner.invoke(args=["report", "send-quarterly", "--quarter", "2026-Q4"]).exit_code == 0
    work()
    assert mail.received == []
    sending = session.scalars(select(ReportSending)).one()
    session.refresh(sending)
    assert sending.status == "fallido" and sending.attempts == 1
    assert "SMTPAuthenticationError" in (sending.last_error or "")
    job = Job.fetch(sending.job_id or "", connection=redis_store.client)
    assert job.retries_left == 4  # rq's Retry: scheduled again with backoff
    listed = runner.invoke(args=["report", "mail-failed"])
    assert f"envío {sending.id}\ttrimestral 2026-Q4" in listed.output
    assert "1 correo fallido" in listed.output
    # Run again the same day: nothing is queued twice, the failed one stays rq's to retry.
    again = runner.invoke(args=["report", "send-quarterly", "--quarter", "2026-Q4"])
    assert "ya registrado (falló (rq lo reintenta))" in again.output
    # rq's retry, once the password is right, sends it (the scheduled retry's time is
    # brought forward: rq's scheduler would move it to the queue in 10 s).
    app.config.update(mail.config())
    assert job.get_status() == "scheduled" and job.origin == "mail"
    redis_store.queue("mail").enqueue_job(job)
    work()
    assert [r.envelope_to for r in mail.received] == [["ogsu@mef.gob.pe"]]
    session.refresh(sending)
    assert sending.status == "enviado" and sending.attempts == 2


def test_mail_failed_lists_every_failed_job_of_the_mail_queue_and_nothing_else(
    app: Flask, runner: FlaskCliRunner, mail: SmtpServer, work: Callable[..., None]
) -> None:
    app.config["SMTP_PASSWORD"] = "no-es-la-clave"
    alert = redis_store.queue("mail").enqueue(
        "board.jobs.mail_alert", "2026-12-03", "espera", "Espera mayor a 5 min", ["sup@mef.gob.pe"]
    )
    other = redis_store.queue("default").enqueue("routing.jobs.no_such_job")
    work()
    assert alert.get_status(refresh=True) == "failed" and other.get_status(refresh=True) == "failed"
    listed = runner.invoke(args=["report", "mail-failed"]).output
    assert f"trabajo {alert.id}\tboard.jobs.mail_alert" in listed
    assert other.id not in listed and "1 correo fallido" in listed


@pytest.mark.parametrize(
    ("today", "due"),
    [
        (date(2026, 12, 1), [("mensual", "2026-11")]),  # Tuesday: the first business day
        (date(2026, 11, 30), [("mensual", "2026-10")]),
        (date(2027, 1, 1), []),  # New Year's Day; then a weekend
        (date(2027, 1, 4), [("mensual", "2026-12"), ("trimestral", "2026-Q4")]),
        (date(2027, 1, 29), [("mensual", "2026-12"), ("trimestral", "2026-Q4")]),  # caught up
        (date(2027, 2, 1), [("mensual", "2027-01")]),  # the quarter's month has passed
        (date(2026, 8, 1), []),  # Saturday: July's comes on Monday
        (date(2026, 8, 3), [("mensual", "2026-07")]),
        (date(2026, 10, 1), [("mensual", "2026-09"), ("trimestral", "2026-Q3")]),  # Thursday
    ],
)
def test_reports_are_due_from_the_first_business_day_after_their_period(
    today: date, due: list[tuple[str, str]]
) -> None:
    assert due_periods(today) == due


def test_the_worker_queues_the_reports_due_once_and_sends_them(
    app: Flask,
    session: Session,
    directory: dict[str, Representative],
    mail: SmtpServer,
    work: Callable[..., None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from clock import LIMA
    from register.maintenance import run_once

    monkeypatch.setattr("clock.lima_now", lambda: datetime(2026, 12, 1, 9, tzinfo=LIMA))
    app.config["REPORT_QUARTERLY_TO"] = ("ogsu@mef.gob.pe",)
    run_once(app, session, purge=False, reports=True)
    assert session.scalar(select(func.count()).select_from(ReportSending)) == 0  # auto off
    app.config["REPORT_AUTO_SEND"] = True
    for _ in range(2):
        run_once(app, session, purge=False, reports=True)
    kinds = session.execute(select(ReportSending.kind, ReportSending.period)).all()
    assert set(kinds) == {("mensual", "2026-11")} and len(kinds) == 23  # no quarter ended
    assert {s.requested_by for s in session.scalars(select(ReportSending))} == {"worker"}
    work()
    assert len(mail.received) == 23


def test_a_sending_whose_job_was_lost_is_queued_again_and_sent_once(
    runner: FlaskCliRunner,
    session: Session,
    directory: dict[str, Representative],
    mail: SmtpServer,
    work: Callable[..., None],
) -> None:
    assert runner.invoke(args=["report", "send-monthly", "--month", "2026-11"]).exit_code == 0
    redis_store.client.flushdb()  # Redis lost the queued jobs (a restart without AOF)
    again = runner.invoke(args=["report", "send-monthly", "--month", "2026-11"])
    assert "23 envíos en cola, 0 ya registrados." in again.output
    work()
    assert len(mail.received) == 23
    last = runner.invoke(args=["report", "send-monthly", "--month", "2026-11"])
    assert "Nada nuevo que enviar: 23 envíos ya registrados" in last.output
    work()
    assert len(mail.received) == 23
