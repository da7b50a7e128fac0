"""`flask register …` and `flask report …` commands (messages in Spanish for the operators)."""

from __future__ import annotations

from pathlib import Path

import click
from flask import Flask, current_app
from rq.job import Job
from rq.registry import FailedJobRegistry

from extensions import db, redis_store
from register.events import REGISTER_QUEUE, flush_outbox


def _failed_registries() -> list[FailedJobRegistry]:
    return [
        FailedJobRegistry(name, connection=redis_store.client)
        for name in (REGISTER_QUEUE, current_app.config.get("RQ_DEFAULT_QUEUE", "default"))
    ]


def init_app(app: Flask) -> None:
    @app.cli.group("register")
    def register_group() -> None:
        """El registro de atenciones (Anexo 1)."""

    @register_group.command("export")
    @click.option("--month", required=True, help="Mes AAAA-MM (hora de Lima).")
    @click.option("--organo", default=None, help="Solo las llamadas de este órgano (sigla).")
    @click.option("--output", required=True, type=click.Path(dir_okay=False, path_type=Path))
    @click.option(
        "--role",
        default="lector",
        type=click.Choice(["admin", "supervisor", "agente", "red", "lector"]),
        help="Rol del lector: solo admin y supervisor ven los números completos (Ley 29733).",
    )
    def export(month: str, organo: str | None, output: Path, role: str) -> None:
        """Exporta el registro de un mes a CSV o XLSX."""
        from register.export import export_month

        try:
            count = export_month(db.session(), month, output, organo=organo, role=role)
        except ValueError as exc:
            raise click.UsageError(str(exc)) from exc
        click.echo(f"{count} llamadas exportadas a {output}.")

    @register_group.command("flush-outbox")
    def flush_outbox_cmd() -> None:
        """Pasa a la cola los eventos guardados mientras Redis no respondía."""
        count = flush_outbox(db.session())
        click.echo(f"{count} eventos pasados a la cola.")

    @register_group.command("failed")
    def failed() -> None:
        """Lista los trabajos fallidos (se pueden reintentar con `register retry`)."""
        total = 0
        for registry in _failed_registries():
            for job_id in registry.get_job_ids():
                job = (
                    Job.fetch(job_id, connection=redis_store.client)
                    if Job.exists(job_id, connection=redis_store.client)
                    else None
                )
                if job is None:
                    continue
                total += 1
                last = (job.exc_info or "").strip().splitlines()
                click.echo(
                    f"{job_id}\t{registry.name}\t{job.meta.get('call_sid', '-')}\t"
                    f"{job.description}\t{last[-1] if last else ''}"
                )
        click.echo(f"{total} trabajos fallidos.")

    @register_group.command("retry")
    @click.argument("job_id", required=False)
    @click.option("--all", "retry_all", is_flag=True, help="Reintenta todos los fallidos.")
    def retry(job_id: str | None, retry_all: bool) -> None:
        """Vuelve a poner en cola un trabajo fallido (o todos con --all)."""
        if not job_id and not retry_all:
            raise click.UsageError("Indique JOB_ID o --all.")
        count = 0
        for registry in _failed_registries():
            for jid in registry.get_job_ids():
                if retry_all or jid == job_id:
                    registry.requeue(jid)
                    count += 1
        if job_id and not count:
            raise click.ClickException(f"No hay un trabajo fallido {job_id}.")
        click.echo(f"{count} trabajos reintentados.")

    @register_group.command("purge")
    @click.option(
        "--months",
        type=int,
        default=None,
        help="Meses de retención (por defecto REGISTER_RETENTION_MONTHS).",
    )
    def purge_cmd(months: int | None) -> None:
        """Borra grabaciones y enmascara números con más meses que la retención."""
        from register.retention import purge

        keep = (
            months if months is not None else int(current_app.config["REGISTER_RETENTION_MONTHS"])
        )
        counts = purge(db.session(), keep)
        click.echo(
            f"Retención de {keep} meses: {counts['llamadas']} llamadas depuradas, "
            f"{counts['pendientes']} pendientes (grabación no borrada), "
            f"{counts['mensajes_de_voz']} mensajes de voz, {counts['devoluciones']} devoluciones."
        )

    @register_group.command("demo")
    @click.option("--months", type=int, default=2, help="Meses de llamadas hasta hoy.")
    @click.option("--per-day", type=int, default=60, help="Llamadas por día hábil, en promedio.")
    def demo(months: int, per_day: int) -> None:
        """Genera llamadas de demostración (deterministas; repetirlo no duplica nada)."""
        from register.demo import seed_demo_calls

        count = seed_demo_calls(db.session(), months=months, per_day=per_day)
        click.echo(f"{count} llamadas de demostración en el registro.")

    @app.cli.group("report")
    def report_group() -> None:
        """Reportes mensual y trimestral de la atención telefónica."""

    @report_group.command("monthly")
    @click.option("--month", required=True, help="Mes AAAA-MM.")
    @click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None)
    def monthly(month: str, output: Path | None) -> None:
        """Reporte mensual (§4.2.4 c): texto, o XLSX con --output."""
        from register.reports import build_report, period_of_month, render_text, write_report_xlsx

        try:
            period = period_of_month(month)
        except ValueError as exc:
            raise click.UsageError(str(exc)) from exc
        report = build_report(db.session(), period)
        if output:
            write_report_xlsx(report, output)
            click.echo(f"Reporte escrito en {output}.")
        else:
            click.echo(render_text(report))

    @report_group.command("quarterly")
    @click.option("--quarter", required=True, help="Trimestre AAAA-Qn, p. ej. 2026-Q3.")
    @click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None)
    def quarterly(quarter: str, output: Path | None) -> None:
        """Reporte trimestral (5.2): texto, o XLSX con --output."""
        from register.reports import (
            build_report,
            period_of_quarter,
            render_text,
            write_report_xlsx,
        )

        try:
            period = period_of_quarter(quarter)
        except ValueError as exc:
            raise click.UsageError(str(exc)) from exc
        report = build_report(db.session(), period)
        if output:
            write_report_xlsx(report, output)
            click.echo(f"Reporte escrito en {output}.")
        else:
            click.echo(render_text(report))
