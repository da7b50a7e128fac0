"""The rq worker: `python worker.py [--burst]`.

Builds the app once; each job runs inside its own app context (its own database session) and
its log lines carry the job id and, when the job has one, the CallSid. SIGTERM is a warm
shutdown: the current job finishes, nothing new is taken.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
from typing import Any

from flask import Flask
from rq import Worker
from rq.job import Job
from rq.queue import Queue

from app import create_app
from extensions import db, redis_store

QUEUES = ("register", "default")


class JobLogFilter(logging.Filter):
    """Adds ``job_id`` and ``call_sid`` of the running job to every log record."""

    job_id = "-"
    call_sid = "-"

    def filter(self, record: logging.LogRecord) -> bool:
        record.job_id = self.job_id
        record.call_sid = self.call_sid
        return True


job_log_filter = JobLogFilter()


_connections_pid: int | None = None


def forget_inherited_connections() -> None:
    """In a forked work horse: never reuse the parent's database connections (a socket shared
    by two processes corrupts both); drop them without closing, the horse opens its own."""
    global _connections_pid
    if db.engine is not None and _connections_pid != os.getpid():
        db.session.registry.clear()
        db.engine.dispose(close=False)
        _connections_pid = os.getpid()


class AppWorker(Worker):
    """An rq worker that runs every job inside an app context of one Flask app."""

    flask_app: Flask

    def perform_job(self, job: Job, queue: Queue) -> bool:
        forget_inherited_connections()
        job_log_filter.job_id = job.id
        call_sid: Any = job.meta.get("call_sid") or "-"
        job_log_filter.call_sid = str(call_sid)
        try:
            with self.flask_app.app_context():
                return super().perform_job(job, queue)
        finally:
            job_log_filter.job_id = job_log_filter.call_sid = "-"


def build_worker(app: Flask, queues: tuple[str, ...] = QUEUES) -> AppWorker:
    worker = AppWorker([redis_store.queue(name) for name in queues], connection=redis_store.client)
    worker.flask_app = app
    # The app's objects (modules, SQLAlchemy's metadata…) leave the cyclic collector's reach, as
    # Python's docs advise before forking: each work horse rq forks shares them untouched, and
    # its collections scan only what its job allocates (the register's batches).
    gc.collect()
    gc.freeze()
    return worker


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Red de Atención IVR: rq worker")
    parser.add_argument("--burst", action="store_true", help="empty the queues, then exit")
    args = parser.parse_args(argv)
    app = create_app()
    handler = logging.StreamHandler()
    handler.addFilter(job_log_filter)
    handler.setFormatter(
        logging.Formatter(
            "%(asctime)s %(levelname)s job=%(job_id)s call=%(call_sid)s %(name)s: %(message)s"
        )
    )
    logging.getLogger().handlers = [handler]
    worker = build_worker(app)
    stop_maintenance = None
    if not args.burst:
        # The register's periodic work: outbox/spool flush, abandoned batches, retention purge.
        from register.maintenance import start_maintenance_thread

        stop_maintenance = start_maintenance_thread(app)
    else:
        from register.maintenance import run_maintenance_once

        run_maintenance_once(app)
    worker.work(burst=args.burst, with_scheduler=True)
    if stop_maintenance is not None:
        stop_maintenance.set()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
