"""Reports that reach the órganos by themselves: each active órgano's titular and alterno get
their Anexo 1 of the month (§4.2.4 c) with the órgano's figures in the message, and the
quarterly report (Responsabilidad 5.2) goes to REPORT_QUARTERLY_TO.

``send_monthly`` / ``send_quarterly`` (the `flask report send-*` commands, and the worker on
the first business day after the period: ``schedule_due``) record one ``ReportSending`` per
report and address and queue a mail job for it (``register.jobs.send_report``, retried by rq).
A report already recorded for an address is never queued again, whoever asks and however
often: a second run sends nothing twice, and says so. The job builds the workbook
(``monthly_message`` / ``quarterly_message``) and sends it (mailer.py).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from openpyxl import Workbook
from rq import Queue
from rq.job import Job
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import mailer
from clock import days_between, is_business_day, next_business_day, utcnow
from directory.models import ROLES, Organo
from register.events import FAILURE_TTL
from register.export import export_rows, fill_anexo1_sheet
from register.models import ReportSending
from register.reports import (
    Period,
    add_table,
    build_report,
    missed_text,
    organo_counts,
    organo_line,
    pct,
    period_of_month,
    period_of_quarter,
    render_text,
    write_report_xlsx,
)
from register.xlsx_charts import add_chart

log = logging.getLogger(__name__)

MONTHLY, QUARTERLY = "mensual", "trimestral"
SIGNATURE = "Este mensaje lo envía la Red de Atención al Usuario del MEF; no lo responda."
STATUS_ES = {"en_cola": "en cola", "enviado": "enviado", "fallido": "falló (rq lo reintenta)"}


@dataclass(frozen=True)
class Recipient:
    address: str
    organo: str = ""  # "" for the quarterly report
    organo_nombre: str = ""
    rol: str | None = None
    nombre: str | None = None

    def label(self) -> str:
        who = f"{self.rol} {self.nombre} " if self.rol else ""
        return f"{self.organo + ' ' if self.organo else ''}{who}<{self.address}>"


@dataclass
class Outcome:
    recipient: Recipient
    sending: ReportSending
    queued: bool  # False: already recorded, nothing sent again


@dataclass
class Plan:
    kind: str
    period: Period
    outcomes: list[Outcome] = field(default_factory=list)
    without_address: list[str] = field(default_factory=list)  # órganos nobody could get

    @property
    def queued(self) -> int:
        return sum(1 for o in self.outcomes if o.queued)

    @property
    def already(self) -> int:
        return sum(1 for o in self.outcomes if not o.queued)


def monthly_recipients(session: Session) -> tuple[list[Recipient], list[str]]:
    """The serving titular and alterno (with an e-mail) of every active órgano, in menu order;
    and the active órganos with neither."""
    recipients: list[Recipient] = []
    nobody: list[str] = []
    organos = session.scalars(
        select(Organo).where(Organo.activo.is_(True)).order_by(Organo.orden, Organo.sigla)
    )
    for organo in organos:
        serving = [(rol, rep) for rol in ROLES if (rep := organo.current(rol)) and rep.correo]
        recipients += [
            Recipient(rep.correo, organo.sigla, organo.nombre, rol, rep.nombre_completo)
            for rol, rep in serving
        ]
        if not serving:
            nobody.append(organo.sigla)
    return recipients, nobody


def request_sendings(
    session: Session,
    queue: Queue,
    kind: str,
    period: Period,
    recipients: Sequence[Recipient],
    *,
    actor: str,
) -> list[Outcome]:
    """Record and queue the sending of each recipient not recorded yet (committed one by one:
    two runs at once still record each address once, by the table's unique constraint)."""
    outcomes = []
    for recipient in recipients:
        address = recipient.address.strip().lower()
        key = (
            ReportSending.kind == kind,
            ReportSending.period == period.label,
            ReportSending.organo == recipient.organo,
            ReportSending.recipient == address,
        )
        existing = session.scalars(select(ReportSending).where(*key)).first()
        if existing is not None:
            if existing.status != "enviado" and not _job_alive(queue, existing.job_id):
                # recorded, never sent, and its job is gone (Redis lost it, or the enqueue
                # itself failed): queued again, it is still sent only once
                outcomes.append(Outcome(recipient, _enqueue(session, queue, existing), True))
            else:
                outcomes.append(Outcome(recipient, existing, queued=False))
            continue
        sending = ReportSending(
            kind=kind,
            period=period.label,
            organo=recipient.organo,
            recipient=address,
            rol=recipient.rol,
            nombre=recipient.nombre,
            status="en_cola",
            requested_by=actor,
            attempts=0,
        )
        session.add(sending)
        try:
            session.commit()
        except IntegrityError:  # another run recorded it a moment ago
            session.rollback()
            outcomes.append(
                Outcome(recipient, session.scalars(select(ReportSending).where(*key)).one(), False)
            )
            continue
        outcomes.append(Outcome(recipient, _enqueue(session, queue, sending), queued=True))
    return outcomes


def _job_alive(queue: Queue, job_id: str | None) -> bool:
    return job_id is not None and Job.exists(job_id, connection=queue.connection)


def _enqueue(session: Session, queue: Queue, sending: ReportSending) -> ReportSending:
    """Queue the mail job of a recorded sending, and keep its id (committed)."""
    sending_id = sending.id
    who = f"{sending.organo + ' ' if sending.organo else ''}<{sending.recipient}>"
    job = queue.enqueue(
        "register.jobs.send_report",
        sending_id,
        job_timeout=180,
        retry=mailer.MAIL_RETRY,
        failure_ttl=FAILURE_TTL,
        meta={"mail": sending.kind, "sending_id": sending_id},
        description=f"envío {sending.kind} {sending.period} {who}",
    )
    sending.job_id = job.id
    session.commit()
    return sending


def send_monthly(session: Session, queue: Queue, month: str, *, actor: str) -> Plan:
    """Queue the month's Anexo 1 for every active órgano's titular and alterno."""
    period = period_of_month(month)
    recipients, nobody = monthly_recipients(session)
    outcomes = request_sendings(session, queue, MONTHLY, period, recipients, actor=actor)
    return Plan(MONTHLY, period, outcomes, without_address=nobody)


def send_quarterly(
    session: Session, queue: Queue, quarter: str, addresses: Sequence[str], *, actor: str
) -> Plan:
    """Queue the quarterly report for each address (REPORT_QUARTERLY_TO)."""
    period = period_of_quarter(quarter)
    recipients = [Recipient(a) for a in addresses]
    outcomes = request_sendings(session, queue, QUARTERLY, period, recipients, actor=actor)
    return Plan(QUARTERLY, period, outcomes)


# --- When the worker sends them ------------------------------------------------------------


def first_business_day_from(day: date) -> date:
    return day if is_business_day(day) else next_business_day(day)


def due_periods(today: date) -> list[tuple[str, str]]:
    """The periods whose reports are due on ``today`` (Lima dates): the last month, and the
    last quarter while the month after it runs, from the first business day after they ended.
    The later days of that month stay due, so a worker that was down on the day sends them
    when it is back; what was sent is never sent again."""
    this_month = today.replace(day=1)
    last_month = (this_month - timedelta(days=1)).replace(day=1)
    due = []
    if today >= first_business_day_from(this_month):
        due.append((MONTHLY, f"{last_month:%Y-%m}"))
    quarter_start = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    if today.month == quarter_start.month and today >= first_business_day_from(quarter_start):
        ended = quarter_start - timedelta(days=1)
        due.append((QUARTERLY, f"{ended.year}-Q{(ended.month - 1) // 3 + 1}"))
    return due


def schedule_due(
    session: Session, queue: Queue, today: date, quarterly_to: Sequence[str]
) -> list[Plan]:
    """The worker's periodic check: queue the reports due today that are not recorded yet."""
    plans = []
    for kind, label in due_periods(today):
        if kind == MONTHLY:
            plans.append(send_monthly(session, queue, label, actor="worker"))
        elif quarterly_to:
            plans.append(send_quarterly(session, queue, label, quarterly_to, actor="worker"))
        else:
            log.warning("quarterly report %s not sent: REPORT_QUARTERLY_TO is not set", label)
    for plan in plans:
        if plan.queued:
            log.info("%s report %s: %d sendings queued", plan.kind, plan.period.label, plan.queued)
    return plans


# --- The messages --------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    subject: str
    body: str
    attachment: mailer.Attachment
    rows: int | None = None


def organo_figures(report: dict[str, Any], sigla: str) -> dict[str, Any]:
    """The órgano's line of the month's report (zeros when it had no technical call)."""
    for o in report["por_organo"]:
        if o["organo"] == sigla:
            return dict(o)
    return organo_line(organo_counts(sigla))


def _figure_rows(f: dict[str, Any]) -> list[tuple[str, Any]]:
    return [
        ("Atendidas por el titular", f["titular"]),
        ("Atendidas por el alterno", f["alterno"]),
        ("Derivadas a la Plataforma", f["plataforma"]),
        ("Sin atender", f["sin_atender"]),
        ("Consultas técnicas", f["ofrecidas"]),
        ("Atendidas por la Red", f["tasa_red"]),
        *((f"No contestó ({rol})", missed_text(f["no_contesta"][rol]) or "-") for rol in ROLES),
    ]


def organo_workbook(
    rows: list[dict[str, Any]], figures: dict[str, Any], by_day: dict[str, dict[str, int]]
) -> bytes:
    """The XLSX file: Anexo 1 (PRODUCT.md's columns), Resumen (the órgano's figures, a chart
    beside) and Por día (its calls per day, a chart beside)."""
    wb = Workbook()
    anexo = wb.active
    assert anexo is not None
    fill_anexo1_sheet(anexo, rows)
    summary = add_table(wb, "Resumen", ["Indicador", "Valor"], _figure_rows(figures), [30, 40])
    for label, value in summary.iter_rows(min_row=2, max_col=2):
        if label.value == "Atendidas por la Red":
            value.number_format = "0.0%"
    add_chart(
        summary,
        "bar",
        title="Consultas técnicas: quién las atendió",
        series_cols=(2, 2),
        last_row=5,  # the four rows of who took the calls
        anchor="D2",
    )
    days = add_table(
        wb,
        "Por día",
        ["Fecha", "Atendidas por la Red", "No atendidas por la Red"],
        [[date.fromisoformat(day), v["red"], v["no_red"]] for day, v in by_day.items()],
        [12],
    )
    add_chart(days, "stacked", title="Consultas técnicas por día", series_cols=(2, 3), anchor="E2")
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def monthly_message(session: Session, sending: ReportSending) -> Message:
    period = period_of_month(sending.period)
    sigla = sending.organo
    organo = session.scalars(select(Organo).where(Organo.sigla == sigla)).first()
    nombre = organo.nombre if organo is not None else sigla
    figures = organo_figures(build_report(session, period), sigla)
    rows = list(export_rows(session, sending.period, organo=sigla, role="red"))
    by_day = {
        day.isoformat(): {"red": 0, "no_red": 0} for day in days_between(period.start, period.end)
    }
    for row in rows:
        if row["tipo_consulta"] == "tecnica":
            took = row["resultado"] == "atendida" and row["derivacion"] in ROLES
            by_day[row["fecha"].isoformat()]["red" if took else "no_red"] += 1
    lines = [
        f"Estimado(a) {sending.nombre or 'integrante de la Red'}:",
        "",
        f"Le enviamos el registro de atenciones telefónicas (Anexo 1) de {nombre} ({sigla}) de "
        f"{period.title}, como dispone el numeral 4.2.4 c de la Directiva N° 001-2020-EF/45.01.",
        f"El archivo adjunto trae una fila por llamada ({len(rows)} en el mes) y las hojas Resumen "
        "y Por día, con sus gráficos.",
        "",
        f"Consultas técnicas de {sigla} en {period.title}:",
    ]
    lines += [
        f"  {label}: {pct(value) if label == 'Atendidas por la Red' else value}"
        for label, value in _figure_rows(figures)
    ]
    lines += [
        "",
        "Los números telefónicos van enmascarados (Ley 29733).",
        "",
        SIGNATURE,
    ]
    return Message(
        subject=f"Registro de atenciones de {sigla}, {period.title} - Red de Atención MEF",
        body="\n".join(lines) + "\n",
        attachment=mailer.Attachment(
            f"anexo1-{sigla}-{sending.period}.xlsx", organo_workbook(rows, figures, by_day)
        ),
        rows=len(rows),
    )


def quarterly_message(session: Session, sending: ReportSending) -> Message:
    period = period_of_quarter(sending.period)
    report = build_report(session, period)
    buffer = io.BytesIO()
    write_report_xlsx(report, buffer)
    body = "\n".join(
        [
            "Oficina General de Servicios al Usuario:",
            "",
            f"Le enviamos el reporte trimestral de la atención telefónica ({period.title}), "
            "como dispone la Responsabilidad 5.2 de la Directiva N° 001-2020-EF/45.01. "
            "El libro adjunto trae las tablas y sus gráficos.",
            "",
            render_text(report),
            "",
            SIGNATURE,
        ]
    )
    return Message(
        subject=f"Reporte trimestral {period.label} - Red de Atención MEF",
        body=body + "\n",
        attachment=mailer.Attachment(f"reporte-{period.label}.xlsx", buffer.getvalue()),
    )


def deliver(session: Session, settings: mailer.SmtpSettings, sending: ReportSending) -> str:
    """Build and send one recorded sending, and mark it sent (the caller commits). Raises
    what the SMTP server or the network raise."""
    build = monthly_message if sending.kind == MONTHLY else quarterly_message
    message = build(session, sending)
    sending.attempts = (sending.attempts or 0) + 1
    message_id = mailer.send(
        settings,
        [sending.recipient],
        message.subject,
        message.body,
        message_id=f"<report-{sending.id}-{sending.kind}-{sending.period}@red-atencion.mef.gob.pe>",
        attachments=[message.attachment],
    )
    sending.status = "enviado"
    sending.sent_at = utcnow()
    sending.message_id = message_id
    sending.rows = message.rows
    sending.last_error = None
    return message_id


def mark_failed(session: Session, sending_id: int, exc: BaseException) -> None:
    """A try that failed: counted, its error kept (rq retries the job)."""
    sending = session.get(ReportSending, sending_id)
    if sending is not None and sending.status != "enviado":
        sending.attempts = (sending.attempts or 0) + 1
        sending.status = "fallido"
        sending.last_error = f"{type(exc).__name__}: {exc}"[:1000]
