"""The rq worker: `python worker.py [--burst]`.

Builds the app once; each job runs inside its own app context (its own database session) and
its log lines carry the job id and, when the job has one, the CallSid. SIGTERM is a warm
shutdown: the current job finishes, nothing new is taken.

Jobs run in the worker's own process (rq's ``SimpleWorker``), not in a work horse forked for
each one: the register's drain jobs and routing's dispatch jobs are short and come several a
second under load, and a fork of the app (about 200 MB) with a new database connection (a new
PostgreSQL backend) for each took more CPU than the jobs themselves (bench.line: the worker
0.5 cores at 500 calls) and held dispatch back by hundreds of milliseconds. A job's timeout
is still enforced (rq's SIGALRM death penalty, the worker's main thread); a job that kills
the process takes the worker with it, and the process supervisor starts it again: rq then
moves the job to its failed registry, and a drain's unacknowledged stream entries are claimed
by the next drain (register.jobs.read_batches).
"""

from __future__ import annotations

import argparse
import gc
import logging
import time
from collections.abc import Callable

import redis
from flask import Flask
from rq import SimpleWorker
from rq.job import Job
from rq.queue import Queue

from app import create_app
from extensions import call_context, check_redis_persistence, redis_store
from register.maintenance import run_maintenance_once, start_maintenance_thread

log = logging.getLogger("worker")
# Priority order: an e-mail waits at most one drain job (which hands over every 60 s on a busy
# line), the register's drain, then the routing's jobs (which the `routing` worker runs too).
QUEUES = ("mail", "register", "default")


class AppWorker(SimpleWorker):
    """An rq worker that runs every job, in its own process, inside an app context of one
    Flask app (the database pool and the Redis client are the app's, kept between jobs)."""

    flask_app: Flask

    def perform_job(self, job: Job, queue: Queue) -> bool:
        # the running job's id and CallSid on every log line
        call_context.job_id = job.id
        call_context.call_sid = str(job.meta.get("call_sid") or "-")
        try:
            with self.flask_app.app_context():
                return super().perform_job(job, queue)
        finally:
            call_context.job_id = call_context.call_sid = "-"


# rq's maintenance (registries cleaned; the scheduler started if no worker runs it, e.g. after
# one was killed and its lock expired) every this many seconds, not rq's default ten minutes.
MAINTENANCE_SECONDS = 10
RECONNECT_BACKOFF = (1, 2, 4, 8, 15, 30)  # seconds between tries while Redis is away


def build_worker(app: Flask, queues: tuple[str, ...] = QUEUES) -> AppWorker:
    worker = AppWorker(
        [redis_store.queue(name) for name in queues],
        connection=redis_store.client,
        maintenance_interval=MAINTENANCE_SECONDS,
    )
    worker.flask_app = app
    return worker


def freeze_app_objects() -> None:
    """The app's objects (modules, SQLAlchemy's metadata…) leave the cyclic collector's reach:
    the collections during a job scan only what the job allocates (the register's batches)."""
    gc.collect()
    gc.freeze()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Red de Atención IVR: rq worker")
    parser.add_argument("--burst", action="store_true", help="empty the queues, then exit")
    parser.add_argument(
        "--queues",
        default=",".join(QUEUES),
        help="comma-separated queues, in priority order (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    queues = tuple(name.strip() for name in args.queues.split(",") if name.strip())
    unknown = set(queues) - set(QUEUES)
    if not queues or unknown:
        parser.error(f"colas desconocidas: {', '.join(sorted(unknown)) or '(ninguna)'}")
    app = create_app()
    if app.config["ENV_NAME"] == "production":
        check_redis_persistence(redis_store.client, allow_no_aof=app.config["REDIS_ALLOW_NO_AOF"])
    freeze_app_objects()
    if args.burst:
        run_maintenance_once(app)
        work_until_stopped(app, queues=queues, burst=True)
        return 0
    if "register" not in queues:  # e.g. the Procfile's `routing` worker: jobs only
        work_until_stopped(app, queues=queues)
        return 0
    # The register's periodic work: outbox/spool flush, a drain that died, retention purge.
    stop_maintenance = start_maintenance_thread(app)
    try:
        work_until_stopped(app, queues=queues)
    finally:
        stop_maintenance.set()
    return 0


def work_until_stopped(
    app: Flask,
    sleep: Callable[[float], None] = time.sleep,
    *,
    queues: tuple[str, ...] = QUEUES,
    burst: bool = False,
) -> None:
    """Run the worker; when Redis goes away (or a Sentinel failover demotes the master under
    it), wait (backing off) and start a new one, instead of exiting and leaving the queues
    unworked. Returns on a clean stop (SIGTERM), or with `burst` when the queues are empty."""
    failures = 0
    while True:
        try:
            build_worker(app, queues).work(burst=burst, with_scheduler=True)
            return
        except (redis.ConnectionError, redis.TimeoutError):
            pause = RECONNECT_BACKOFF[min(failures, len(RECONNECT_BACKOFF) - 1)]
            log.warning("Redis is not answering; the worker starts again in %s s", pause)
            failures += 1
            sleep(pause)


if __name__ == "__main__":
    raise SystemExit(main())
