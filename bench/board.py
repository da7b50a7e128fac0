"""Benchmark of the supervisor's board (python -m bench.board).

The board's data (board.data.snapshot: the whole line, every agent, today's figures, the open
callbacks, the Erlang C need) for 200 agents and 5,000 waiting callers, with 2,000 register rows
for today, timed twice: with no other register rows this month, and with 50,000 more on the
month's other days (the last four same weekdays among them). It must take under 50 ms at the
99th percentile, and the same in both cases: today's figures read today's rows only.

Beside it, in the same run and on the same servers, the baseline: the raw Redis reads the board
needs (the four waiting sets with their scores, each waiting caller's class, language and
arrival, each agent's state), pipelined as the board does, with nothing computed.

Runs on a fresh embedded Redis and a SQLite file in a temp dir (or on DATABASE_URL, a
PostgreSQL database, in a schema of its own dropped at the end). The last line is
``RESULT board value=<p99 ms, 50,000 rows> unit=ms ratio=<ours/baseline>``.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import redis
from sqlalchemy import event, insert, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import caller_kind, embedded_redis  # noqa: E402
from board.data import NEED_KEY, snapshot  # noqa: E402
from board.settings import BoardSettings  # noqa: E402
from clock import LIMA  # noqa: E402
from directory.models import Agent  # noqa: E402
from extensions import Base, make_engine  # noqa: E402
from ivr import state as call_state  # noqa: E402
from register.models import RegisterCall  # noqa: E402
from routing import agents  # noqa: E402
from routing import queue as line  # noqa: E402
from routing.queue import WAITING_SETS  # noqa: E402
from routing.scripts import PREFIX  # noqa: E402
from routing.settings import RoutingSettings  # noqa: E402

AGENTS = 200
WAITING = 5_000
TODAY_ROWS = 2_000
MONTH_ROWS = 50_000
ROUNDS = int(os.environ.get("BENCH_BOARD_ROUNDS", "200"))
TARGET_MS = 50.0
R = RoutingSettings()
SETTINGS = BoardSettings(routing=R)


@contextlib.contextmanager
def database(tmp: str, name: str) -> Iterator[Engine]:
    """A database of its own: a SQLite file, or a schema of DATABASE_URL dropped at the end."""
    url = os.environ.get("DATABASE_URL")
    schema = f"bench_board_{name}_{os.getpid()}"
    engine = make_engine(url or f"sqlite:///{tmp}/{name}.db")  # as the app builds it
    if url:
        with engine.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))

        @event.listens_for(engine, "connect")
        def _in_schema(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute(f"SET search_path TO {schema}")
            cursor.close()
            dbapi_connection.commit()

        engine.dispose()  # the connection that made the schema had the default path
    Base.metadata.create_all(engine)
    try:
        yield engine
    finally:
        if url:
            with engine.begin() as conn:
                conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()


@contextlib.contextmanager
def servers() -> Iterator[tuple[redis.Redis, Engine, Engine]]:
    """A fresh Redis; two databases (without and with the month's other rows)."""
    with (
        tempfile.TemporaryDirectory(prefix="bench-board-") as tmp,
        embedded_redis(tmp) as url,
        database(tmp, "empty") as empty,
        database(tmp, "month") as month,
    ):
        yield redis.Redis.from_url(url), empty, month


def fill_line(r: redis.Redis, session: Session, now: int) -> None:
    session.execute(
        insert(Agent),
        [
            {"nombre": f"Agente {n:03d}", "canal": "client", "destino": f"a{n}", "activo": True}
            for n in range(AGENTS)
        ],
    )
    session.commit()
    ids = [row[0] for row in session.execute(text("SELECT id FROM agents ORDER BY id"))]
    for n, agent_id in enumerate(ids):
        langs = ["qu"] if n % 20 == 0 else []
        target = "available" if n % 10 == 0 else "paused" if n % 10 == 1 else "wrap_up"
        agents.set_state(r, agent_id, target, languages=langs, now=now - n * 1000, settings=R)
    for n in range(WAITING):
        sid = f"CA{n:032x}"
        priority, language = caller_kind(n)
        line.enqueue(
            r, sid, language=language, priority=priority, now=now - (WAITING - n) * 100, settings=R
        )
        if n < SETTINGS.callers_shown:
            call_state.save(r, call_state.CallState(call_sid=sid, from_number="+51987654321"))


def rows(day: date, count: int, offset: int) -> list[dict[str, Any]]:
    out = []
    for n in range(count):
        start = datetime(day.year, day.month, day.day, 8, 0, tzinfo=LIMA) + timedelta(
            seconds=(n * 29) % (8 * 3600)
        )
        technical = n % 5 == 0
        out.append(
            {
                "call_sid": f"CAb{offset + n:031x}",
                "fecha": day,
                "hora_inicio": start.time(),
                "resultado": "atendida" if n % 7 else "abandonada",
                "started_at": start.astimezone(UTC),
                "queued_at": None if technical else start.astimezone(UTC),
                "answered_at": start.astimezone(UTC) if n % 7 else None,
                "espera_seg": n % 60,
                "atencion_seg": 120 + n % 200,
                "atendido_por": f"Agente {n % AGENTS:03d}" if n % 7 else None,
                "agent_id": n % AGENTS + 1 if n % 7 else None,  # the agents' ids in a new database
                "derivacion": ("titular", "alterno", "plataforma")[n % 3]
                if technical
                else "plataforma",
                "organo": f"ORG{n % 25}" if technical else None,
                "tipo_consulta": "tecnica" if technical else "administrativa",
                "final_status": "completed",
                "journey": {
                    "dials": [
                        {"rol": "titular", "nombre": f"Titular {n % 25}"},
                        {"rol": "titular", "outcome": "no-answer"},
                    ]
                },
                "events": [],
            }
        )
    return out


def add_month(session: Session, today: date) -> None:
    """MONTH_ROWS rows on the month's other days (the 30 days before today)."""
    per_day = MONTH_ROWS // 30
    for back in range(1, 31):
        day = today - timedelta(days=back)
        session.execute(insert(RegisterCall), rows(day, per_day, 1_000_000 * back))
    session.commit()


Run = tuple[Callable[[], object], Callable[[], object]]  # (untimed set-up, the timed run)


def timed(runs: dict[str, Run]) -> dict[str, list[float]]:
    """Each run ROUNDS times, interleaved (so a busy moment of the machine hits them all)."""
    out: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(ROUNDS):
        for name, (setup, run) in runs.items():
            setup()
            t = time.perf_counter()
            run()
            out[name].append((time.perf_counter() - t) * 1000)
    return out


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98]


def baseline(r: redis.Redis, agent_ids: list[int]) -> None:
    """The raw reads: the waiting sets, each caller's fields, each agent's fields."""
    pipe = r.pipeline(transaction=False)
    for name in WAITING_SETS:
        pipe.zrange(f"{PREFIX}q:{name}", 0, -1, withscores=True)
    sids = [sid for found in pipe.execute() for sid, _score in found]
    pipe = r.pipeline(transaction=False)
    for sid in sids:
        pipe.hmget(f"{PREFIX}c:{sid.decode()}", "cls", "lang", "arr")
    for agent_id in agent_ids:
        pipe.hmget(f"{PREFIX}a:{agent_id}", "st", "since", "call")
    pipe.execute()


def main() -> None:
    now = line.now_ms()
    today = datetime.now(LIMA).date()
    with servers() as (r, empty_db, month_db):
        with Session(empty_db) as session:
            fill_line(r, session, now)  # the line and the agents, in Redis: shared
            session.execute(insert(RegisterCall), rows(today, TODAY_ROWS, 0))
            session.commit()
            agent_ids = [row[0] for row in session.execute(text("SELECT id FROM agents"))]
        with Session(month_db) as session:
            session.execute(
                insert(Agent),
                [
                    {"id": i, "nombre": f"Agente {n:03d}", "canal": "client", "destino": f"a{n}"}
                    for n, i in enumerate(sorted(agent_ids))
                ],
            )
            session.execute(insert(RegisterCall), rows(today, TODAY_ROWS, 0))
            add_month(session, today)
        empty, month = Session(empty_db), Session(month_db)

        need_key = NEED_KEY.format(day=today.isoformat())

        def ours(session: Session) -> Run:
            """The snapshot of one database; the set-up puts back that database's need (as
            computed once a day, and cached), so the other's is never read."""
            r.delete(need_key)
            board = snapshot(session, r, SETTINGS, now_ms=line.now_ms())  # computes the need
            session.rollback()
            assert board["cola"]["total"] == WAITING, board["cola"]["total"]
            assert len(board["agentes"]) == AGENTS
            assert board["hoy"]["ofrecidas"] == TODAY_ROWS * 4 // 5
            need = r.get(need_key)
            assert need is not None

            def run() -> object:
                found = snapshot(session, r, SETTINGS, now_ms=line.now_ms())
                session.rollback()
                return found

            return (lambda: r.set(need_key, need), run)

        got = timed(
            {
                "empty": ours(empty),
                "month": ours(month),
                "baseline": (lambda: None, lambda: baseline(r, agent_ids)),
            }
        )
        for name, label in (
            ("empty", "0 other rows this month"),
            ("month", f"{MONTH_ROWS:,} other rows this month"),
            ("baseline", "baseline: the raw Redis reads"),
        ):
            values = got[name]
            print(f"{label:32s} p50 {statistics.median(values):6.2f} ms  p99 {p99(values):6.2f} ms")
        growth = p99(got["month"]) / p99(got["empty"])
        print(
            f"{AGENTS} agents, {WAITING:,} waiting, {TODAY_ROWS:,} rows today, {ROUNDS} rounds "
            f"interleaved; p99 with the month / without: {growth:.2f} "
            f"(target: under {TARGET_MS:.0f} ms, flat)"
        )
        value = p99(got["month"])
        print(f"RESULT board value={value:.2f} unit=ms ratio={value / p99(got['baseline']):.2f}")


if __name__ == "__main__":
    main()
