"""The register's periodic work, run by worker.py in a background thread:

- every ``FLUSH_SECONDS``: move the spool file and the outbox onto the events stream (events
  kept while Redis or the database was down), and queue a drain when the stream holds events
  and none is queued (a drain that died);
- every ``PURGE_SECONDS``: the retention purge (REGISTER_RETENTION_MONTHS);
- every ``REPORTS_SECONDS``, when REPORT_AUTO_SEND: the monthly and quarterly reports due
  (the first business day after their period, register/sendings.py), queued once each.

It uses an engine of its own (never the pool of the jobs running beside it) and never raises.
"""

from __future__ import annotations

import logging
import threading
import time

from flask import Flask
from sqlalchemy.orm import Session

from clock import lima_now
from extensions import make_engine, redis_store
from register import sink_of
from register.events import flush_outbox, wake_if_waiting
from register.retention import purge as run_purge
from register.sendings import schedule_due

log = logging.getLogger(__name__)

FLUSH_SECONDS = 30.0
PURGE_SECONDS = 24 * 3600.0
REPORTS_SECONDS = 600.0


def run_once(app: Flask, session: Session, *, purge: bool, reports: bool = False) -> None:
    """One round of the periodic work (each part on its own: one failing skips only itself)."""
    try:
        moved = flush_outbox(session, sink_of(app))
        if moved:
            log.info("outbox: %d events moved into the register queue", moved)
    except Exception:
        session.rollback()
        log.warning("outbox flush failed; will retry", exc_info=True)
    try:
        wake_if_waiting(sink_of(app))
    except Exception:
        log.warning("could not wake the register drain", exc_info=True)
    if purge:
        try:
            counts = run_purge(session, int(app.config["REGISTER_RETENTION_MONTHS"]))
            log.info("retention purge: %s", counts)
        except Exception:
            session.rollback()
            log.warning("retention purge failed; will retry", exc_info=True)
    if reports and app.config.get("REPORT_AUTO_SEND"):
        try:  # the reports due today (Lima) that were never queued
            schedule_due(
                session,
                redis_store.queue(app.config.get("RQ_MAIL_QUEUE", "mail")),
                lima_now().date(),
                app.config.get("REPORT_QUARTERLY_TO") or (),
            )
        except Exception:
            session.rollback()
            log.warning("could not queue the reports due; will retry", exc_info=True)


def maintenance_loop(app: Flask, stop: threading.Event) -> None:
    engine = make_engine(app.config["DATABASE_URL"])
    last_purge, last_reports = 0.0, -REPORTS_SECONDS  # the reports' check at once
    try:
        while not stop.is_set():
            now = time.monotonic()
            purge = now - last_purge >= PURGE_SECONDS
            reports = now - last_reports >= REPORTS_SECONDS
            with app.app_context(), Session(engine) as session:
                run_once(app, session, purge=purge, reports=reports)
            if purge:
                last_purge = now
            if reports:
                last_reports = now
            stop.wait(FLUSH_SECONDS)
    finally:
        engine.dispose()


def run_maintenance_once(app: Flask) -> None:
    """One round without the purge (``python worker.py --burst`` does it before emptying)."""
    engine = make_engine(app.config["DATABASE_URL"])
    try:
        with app.app_context(), Session(engine) as session:
            run_once(app, session, purge=False, reports=True)
    finally:
        engine.dispose()


def start_maintenance_thread(app: Flask) -> threading.Event:
    """Start the loop in a daemon thread; set the returned event to stop it."""
    stop = threading.Event()
    thread = threading.Thread(
        target=maintenance_loop, args=(app, stop), name="register-maintenance", daemon=True
    )
    thread.start()
    return stop
