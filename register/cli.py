"""`flask register …` and `flask report …` commands (messages in Spanish for the operators)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
from flask import Flask, current_app
from rq.job import Job
from rq.registry import FailedJobRegistry
from sqlalchemy import select

from cli_support import FILE_OUT, Group, check_output, plural
from clock import to_lima
from directory.audit import default_actor
from extensions import db, redis_store
from register.demo import seed_demo_calls
from register.events import flush_outbox
from register.export import export_month
from register.models import ReportSending
from register.reports import (
    build_report,
    period_of_month,
    period_of_quarter,
    render_text,
    write_report_xlsx,
)
from register.retention import purge
from register.sendings import STATUS_ES, send_monthly, send_quarterly


def _failed_registries() -> list[FailedJobRegistry]:
    return [
        FailedJobRegistry(name, connection=redis_store.client)
        for name in (
            current_app.config["RQ_REGISTER_QUEUE"],
            current_app.config.get("RQ_DEFAULT_QUEUE", "default"),
            current_app.config.get("RQ_MAIL_QUEUE", "mail"),
        )
    ]


def _failed_jobs() -> Iterator[tuple[str, Job, str]]:
    """Every failed job still kept: its queue, the job, and the last line of its error."""
    for registry in _failed_registries():
        for job_id in registry.get_job_ids():
            if Job.exists(job_id, connection=redis_store.client):
                job = Job.fetch(job_id, connection=redis_store.client)
                last = (job.exc_info or "").strip().splitlines()
                yield registry.name, job, last[-1] if last else ""


SIMULATED = click.option(
    "--incluir-simuladas",
    "include_simulated",
    is_flag=True,
    help="Incluir las llamadas hechas con `flask simulate` (se dejan fuera por defecto).",
)


def _report(
    period_of: Callable[[str], Any],
    text: str,
    option: str,
    output: Path | None,
    include_simulated: bool = False,
) -> None:
    """Build the report of the period ``text`` names; print it, or write it as XLSX (an
    output not named .xlsx is refused before any work: never an XLSX under a .csv name)."""
    if output is not None:
        check_output(output, (".xlsx",))
    try:
        period = period_of(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=f"'{option}'") from exc
    report = build_report(db.session(), period, include_simulated=include_simulated)
    if output is None:
        click.echo(render_text(report))
        return
    write_report_xlsx(report, output)
    click.echo(f"Reporte escrito en {output}.")


def _print_plan(plan: Any) -> None:
    """What a send-* run did, recipient by recipient, in Spanish."""
    click.echo(f"Reporte {plan.kind} de {plan.period.title}:")
    for outcome in plan.outcomes:
        who, sending = outcome.recipient.label(), outcome.sending
        if outcome.queued:
            click.echo(f"  {who}: en cola; el worker lo envía.")
        elif sending.status == "enviado" and sending.sent_at is not None:
            click.echo(
                f"  {who}: ya enviado el {to_lima(sending.sent_at):%d/%m/%Y %H:%M}; "
                "no se envía de nuevo."
            )
        else:
            click.echo(
                f"  {who}: ya registrado ({STATUS_ES[sending.status]}); no se envía de nuevo."
            )
    for sigla in plan.without_address:
        click.echo(f"  {sigla}: sin titular ni alterno con correo en el directorio; no se envía.")
    if not plan.queued and plan.outcomes:
        click.echo(
            f"Nada nuevo que enviar: {plural(plan.already, 'envío ya registrado', 'envíos ya registrados')}; "
            "ningún reporte se envía dos veces."
        )
    else:
        click.echo(
            f"{plural(plan.queued, 'envío en cola', 'envíos en cola')}, "
            f"{plural(plan.already, 'ya registrado', 'ya registrados')}."
        )


REQUESTED_BY = click.option(
    "--actor",
    default=None,
    metavar="NOMBRE",
    help="Quién lo pide (por defecto cli:<usuario del sistema>).",
)


def _mail_queue() -> Any:
    return redis_store.queue(current_app.config.get("RQ_MAIL_QUEUE", "mail"))


def init_app(app: Flask) -> None:
    @app.cli.group("register", cls=Group)
    def register_group() -> None:
        """El registro de atenciones (Anexo 1)."""

    @register_group.command("export")
    @click.option("--month", required=True, metavar="AAAA-MM", help="Mes (hora de Lima).")
    @click.option(
        "--organo", default=None, metavar="SIGLA", help="Solo las llamadas de este órgano."
    )
    @click.option(
        "--output", required=True, type=FILE_OUT, help="Archivo .csv (UTF-8 con BOM) o .xlsx."
    )
    @click.option(
        "--role",
        default="lector",
        type=click.Choice(["admin", "supervisor", "agente", "red", "lector"]),
        show_default=True,
        help="Rol del lector: solo admin y supervisor ven los números completos (Ley 29733).",
    )
    @SIMULATED
    def export(
        month: str, organo: str | None, output: Path, role: str, include_simulated: bool
    ) -> None:
        """Exporta el registro de un mes a CSV o XLSX."""
        check_output(output, (".csv", ".xlsx"))
        try:
            count = export_month(
                db.session(),
                month,
                output,
                organo=organo,
                role=role,
                include_simulated=include_simulated,
            )
        except ValueError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"{plural(count, 'llamada exportada', 'llamadas exportadas')} a {output}.")

    @register_group.command("flush-outbox")
    def flush_outbox_cmd() -> None:
        """Pasa a la cola los eventos guardados mientras Redis no respondía."""
        count = flush_outbox(db.session(), current_app.extensions["register"])
        click.echo(f"{plural(count, 'evento pasado', 'eventos pasados')} a la cola.")

    @register_group.command("failed")
    def failed() -> None:
        """Lista los trabajos fallidos (se pueden reintentar con `register retry`)."""
        total = 0
        for queue_name, job, error in _failed_jobs():
            total += 1
            click.echo(
                f"{job.id}\t{queue_name}\t{job.meta.get('call_sid', '-')}\t"
                f"{job.description}\t{error}"
            )
        click.echo(f"{plural(total, 'trabajo fallido', 'trabajos fallidos')}.")

    @register_group.command("retry")
    @click.argument("job_id", required=False, metavar="[TRABAJO]")
    @click.option("--all", "retry_all", is_flag=True, help="Reintenta todos los fallidos.")
    def retry(job_id: str | None, retry_all: bool) -> None:
        """Vuelve a poner en cola un trabajo fallido (o todos con --all)."""
        if not job_id and not retry_all:
            raise click.UsageError("Indique el TRABAJO (su id) o --all.")
        count = 0
        for registry in _failed_registries():
            for jid in registry.get_job_ids():
                if retry_all or jid == job_id:
                    registry.requeue(jid)
                    count += 1
        if job_id and not count:
            raise click.ClickException(f"No hay un trabajo fallido {job_id}.")
        click.echo(f"{plural(count, 'trabajo reintentado', 'trabajos reintentados')}.")

    @register_group.command("purge")
    @click.option(
        "--months",
        type=int,
        default=None,
        metavar="N",
        help="Meses de retención (por defecto REGISTER_RETENTION_MONTHS).",
    )
    def purge_cmd(months: int | None) -> None:
        """Borra grabaciones y enmascara números con más meses que la retención."""
        keep = (
            months if months is not None else int(current_app.config["REGISTER_RETENTION_MONTHS"])
        )
        counts = purge(db.session(), keep)
        click.echo(
            f"Retención de {keep} meses: {counts['llamadas']} llamadas depuradas, "
            f"{counts['pendientes']} pendientes (grabación no borrada), "
            f"{counts['mensajes_de_voz']} mensajes de voz, {counts['devoluciones']} devoluciones, "
            f"{counts['auditoria']} registros de auditoría."
        )

    @register_group.command("demo")
    @click.option(
        "--months", type=int, default=2, show_default=True, help="Meses de llamadas hasta hoy."
    )
    @click.option(
        "--per-day",
        type=int,
        default=60,
        show_default=True,
        help="Llamadas por día hábil, en promedio.",
    )
    def demo(months: int, per_day: int) -> None:
        """Genera llamadas de demostración (deterministas; repetirlo no duplica nada)."""
        count = seed_demo_calls(db.session(), months=months, per_day=per_day)
        click.echo(f"{count} llamadas de demostración en el registro.")

    @app.cli.group("report", cls=Group)
    def report_group() -> None:
        """Reportes mensual y trimestral de la atención telefónica."""

    report_output = click.option(
        "--output", type=FILE_OUT, default=None, help="Escribirlo como libro .xlsx."
    )

    @report_group.command("monthly")
    @click.option("--month", required=True, metavar="AAAA-MM", help="Mes (hora de Lima).")
    @report_output
    @SIMULATED
    def monthly(month: str, output: Path | None, include_simulated: bool) -> None:
        """Reporte mensual (§4.2.4 c): texto, o XLSX con --output."""
        _report(period_of_month, month, "--month", output, include_simulated)

    @report_group.command("send-monthly")
    @click.option("--month", required=True, metavar="AAAA-MM", help="Mes (hora de Lima).")
    @REQUESTED_BY
    def send_monthly_cmd(month: str, actor: str | None) -> None:
        """Envía a cada titular y alterno de los órganos activos su Anexo 1 del mes (§4.2.4 c)."""
        try:
            plan = send_monthly(db.session(), _mail_queue(), month, actor=actor or default_actor())
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="'--month'") from exc
        _print_plan(plan)

    @report_group.command("send-quarterly")
    @click.option("--quarter", required=True, metavar="AAAA-Qn", help="Trimestre: 2026-Q4.")
    @REQUESTED_BY
    def send_quarterly_cmd(quarter: str, actor: str | None) -> None:
        """Envía el reporte trimestral (Responsabilidad 5.2) a REPORT_QUARTERLY_TO."""
        addresses = current_app.config.get("REPORT_QUARTERLY_TO") or ()
        if not addresses:
            raise click.ClickException(
                "REPORT_QUARTERLY_TO no está configurado: no hay a quién enviar el reporte."
            )
        try:
            plan = send_quarterly(
                db.session(), _mail_queue(), quarter, addresses, actor=actor or default_actor()
            )
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="'--quarter'") from exc
        _print_plan(plan)

    @report_group.command("sendings")
    @click.option("--periodo", default=None, metavar="AAAA-MM|AAAA-Qn", help="Solo ese periodo.")
    def sendings_cmd(periodo: str | None) -> None:
        """Lista los envíos de reportes registrados: a quién, cuándo y en qué estado."""
        stmt = select(ReportSending).order_by(ReportSending.id)
        if periodo:
            stmt = stmt.where(ReportSending.period == periodo.upper())
        found = list(db.session().scalars(stmt))
        for s in found:
            sent = f"{to_lima(s.sent_at):%d/%m/%Y %H:%M}" if s.sent_at else "-"
            click.echo(
                f"{s.id}\t{s.kind}\t{s.period}\t{s.organo or '-'}\t{s.recipient}\t"
                f"{STATUS_ES[s.status]}\t{sent}\t{s.attempts} intentos\t{s.requested_by}"
            )
        click.echo(f"{plural(len(found), 'envío', 'envíos')}.")

    @report_group.command("mail-failed")
    def mail_failed_cmd() -> None:
        """Lista los correos que fallaron: envíos de reportes y trabajos de correo fallidos."""
        total = 0
        listed = set()  # failed sendings; their jobs, once rq gives up, are not listed twice
        for s in db.session().scalars(
            select(ReportSending)
            .where(ReportSending.status == "fallido")
            .order_by(ReportSending.id)
        ):
            total += 1
            listed.add(s.id)
            click.echo(
                f"envío {s.id}\t{s.kind} {s.period}\t{s.organo or '-'}\t{s.recipient}\t"
                f"{s.attempts} intentos\t{s.last_error or ''}"
            )
        mail = _mail_queue().name  # every job that sends e-mail is on it
        for queue_name, job, error in _failed_jobs():
            if queue_name == mail and job.meta.get("sending_id") not in listed:
                total += 1
                click.echo(
                    f"trabajo {job.id}\t{job.func_name}\t{job.meta.get('call_sid', '-')}\t"
                    f"{job.description}\t{error}"
                )
        click.echo(
            f"{plural(total, 'correo fallido', 'correos fallidos')}"
            + (" (reintente los trabajos con `flask register retry`)." if total else ".")
        )

    @report_group.command("quarterly")
    @click.option("--quarter", required=True, metavar="AAAA-Qn", help="Trimestre: 2026-Q3.")
    @report_output
    @SIMULATED
    def quarterly(quarter: str, output: Path | None, include_simulated: bool) -> None:
        """Reporte trimestral (5.2): texto, o XLSX con --output."""
        _report(period_of_quarter, quarter, "--quarter", output, include_simulated)
