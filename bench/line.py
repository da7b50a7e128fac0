"""The whole line under load: N concurrent calls through the processes the Procfile runs.

    python -m bench.line [--calls N[,N...]] [--agents M] [--duration S] [--time-factor F]

What runs (all on 127.0.0.1, all stopped at the end): a Redis server of its own (redis-server,
a free port, appendonly yes as production wants), a PostgreSQL database of its own on the
machine's server (created, then dropped), the schema and the demo directory (``flask db
upgrade``, ``flask seed demo --without-calls``) plus the bench's Plataforma agents, and every
line of the Procfile (web: gunicorn with the Procfile's flags; worker; sweep; live when it is
there), in RED_ENV=production, bound to 127.0.0.1 instead of 0.0.0.0. Beside them, the same
gunicorn command serving bench/bare_app.py: the baseline.

The load (asyncio, aiohttp's connection pool): N caller slots, each placing one call after
another, in the demo register's proportions (register/demo.py: language, the main menu's
options, preferential reasons, technical calls whose titular or alterno take them or not,
CONECTAMEF, and a few calls on a closed day for callbacks and voice messages); callers think
between keys, wait in the Plataforma's line while Twilio fetches the wait URL whenever its TwiML
is over, hang up when their patience ends, or press 1 for a callback; M agents set themselves
available through the agents' API, take the callers the engine offers them (the REST dequeue
reaches bench/_line_twilio.py, which plays Twilio's side: the bridge, the whisper, the key,
the talk, the Dial action), transfer a few, wrap up and become available again through the API.
Every caller hangs up into the register (the status callback). Every webhook is signed; every
REST request is checked against Twilio's OpenAPI description by the tests' fake.

The sizes are a staircase on the same running service: before each size's window
(``--duration``), its agents join the line and the callers it adds arrive at the rate that keeps
N calls up (N / the mean call's duration, MEAN_CALL_SECONDS times the time factor; ``--ramp``
caps that time), so there is no crowd arriving at once. After the last window every caller
still on the line hangs up, and the bench waits for the register. Then the baseline: the bare
handler at each size's request rate. The last line is ``RESULT line value=<the largest N met,
with every smaller N met too: webhook p99 < 100 ms, register lag p99 < 2 s, no error and every
call registered> unit=calls ratio=<ours / the bare handler's largest N with p99 < 100 ms at the
same request rate>``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import psutil
import psycopg
import redis
from aiosmtpd.controller import Controller
from honcho.environ import parse_procfile

from app import create_app
from bench._line_twilio import Interrupted, Leg, Party, RestEdge, Traffic, Voice, Webhooks
from bench.common import ACCOUNT, HOST, ROOT, free_port, percentile
from directory.registry import add_agent
from extensions import db
from faults.servers import RedisServer, own_database, wait_for_port
from ivr.hours import close_day
from routing.api import agent_token

TOKEN = "bench-line-auth-token"
SECRET = "bench-line-secret-key"
SIZES = (500, 1000, 2000, 5000)
TARGET_P99_MS = 100.0
TARGET_LAG_S = 2.0
SIMULATION_FIELD = "RedSimulacion"  # ivr.flow.SIMULATION_FIELD: a closed day's moment
HOLD_SECONDS = 30.0  # the hold music clip: the wait URL is fetched again when it ends
# A call's mean duration in real time (the IVR, then mostly the line until the agent or the
# caller's patience, the talk, the survey): callers arrive at N / this to keep N calls up.
MEAN_CALL_SECONDS = 180.0

# The demo register's proportions (register/demo.py).
MENU = (("1", 30), ("2", 22), ("3", 20), ("4", 6), ("8", 7), ("9", 7), ("0", 8))
LANGUAGES = (("1", 92), ("2", 5), ("3", 3))  # es, qu, ay
PREFERENTIAL = (("1", 25), ("2", 55), ("3", 20))
SURVEY = (("1", 3), ("2", 5), ("3", 14), ("4", 38), ("5", 40))
CLOSED_SHARE = 0.04
RED_REACH = 0.65
SIGLAS = ("DGPP", "DGETP", "DGCP", "DGA", "DGPMI", "DGPIP")


def pick(rng: random.Random, weighted: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([k for k, _ in weighted], [w for _, w in weighted])[0]


# --- Callers, Red members, agents ---------------------------------------------------------------


@dataclass
class Plan:
    """One caller's call, drawn in the demo register's proportions."""

    keys: list[str]
    dials: list[str]  # outcomes of the Red members or centers this caller's call rings
    patience: float
    callback_after: float | None
    transfer: bool
    closed: bool
    phone: str


def draw_plan(rng: random.Random) -> Plan:
    phone = f"+519{rng.randrange(10**7, 10**8):08d}"
    survey = pick(rng, SURVEY) if rng.random() < 0.65 else "-"
    patience = rng.expovariate(1 / 150)
    callback = rng.uniform(10, 40) if rng.random() < 0.04 else None
    if rng.random() < CLOSED_SHARE:
        option = rng.choices(["1", "2", "-"], [45, 30, 25])[0]
        closed = {"1": ["1", "1"], "2": ["2", f"rec:{rng.randint(15, 60)}"], "-": ["-"] * 3}
        return Plan(closed[option], [], patience, None, False, True, phone)
    language = pick(rng, LANGUAGES)
    menu = pick(rng, MENU)
    keys = [language, menu]
    dials: list[str] = []
    if menu == "1":
        keys += [f"{rng.randrange(10**9, 10**10)}#", "1"]
    elif menu == "9":
        keys.append(pick(rng, PREFERENTIAL))
    elif menu == "3" and language == "1":
        keys.append(str(rng.randint(1, 8)))
        keys.append(f"rec:{rng.randint(10, 25)}" if rng.random() < 0.5 else "#")
        for _ in ("titular", "alterno"):
            if rng.random() < RED_REACH:
                dials.append("accept")
                break
            dials.append(rng.choices(["no-answer", "busy", "reject"], [70, 20, 10])[0])
    elif menu == "4":
        keys.append(str(rng.randint(1, 8)))  # a mobile: the department menu
        dials.append("accept")
    keys.append(survey)
    transfer = rng.random() < (0.3 if menu == "8" else 0.04)
    return Plan(keys, dials, patience, callback, transfer, False, phone)


class Caller(Party):
    def __init__(self, run: LineRun, plan: Plan, rng: random.Random) -> None:
        self.run = run
        self.plan = plan
        self.rng = rng
        self.keys = list(plan.keys)
        self.dials = list(plan.dials)
        self.callback_pressed = False

    def key(self, leg: Leg, gather: Any) -> tuple[str | None, float]:
        if leg.in_queue:
            waited = (time.monotonic() - leg.queued_at) / self.run.f
            after = self.plan.callback_after
            if after is not None and not self.callback_pressed and waited >= after:
                self.callback_pressed = True
                return "1", 1.0
            return None, 0.0
        key = self.keys.pop(0) if self.keys else "-"
        if key in ("-", "") or key.startswith("rec:"):
            return None, 0.0
        return key, self.rng.uniform(2, 6)

    def record(self, leg: Leg) -> float | None:
        key = self.keys.pop(0) if self.keys else "#"
        return float(key.split(":")[1]) if key.startswith("rec:") else None

    def queued(self, voice: Voice, leg: Leg) -> None:
        self.run.queued_at[leg.sid] = time.monotonic()
        patience = self.plan.patience * self.run.f
        asyncio.get_running_loop().call_later(patience, self._give_up, leg)

    def _give_up(self, leg: Leg) -> None:
        if leg.in_queue:
            leg.interrupt("hangup")

    def ended(self, voice: Voice, leg: Leg) -> None:
        self.run.call_ended(leg)


class Remote(Party):
    """A Red member's anexo or a CONECTAMEF center: the caller's plan says what happens."""

    def __init__(self, outcome: str, rng: random.Random, talk: float) -> None:
        self.outcome = outcome
        self.rng = rng
        self.talk_seconds = talk

    def key(self, leg: Leg, gather: Any) -> tuple[str | None, float]:
        return ("1" if self.outcome == "accept" else None), self.rng.uniform(1, 3)

    def answers(self, leg: Leg) -> tuple[str, float]:
        if self.outcome in ("accept", "reject"):
            return "answer", self.rng.uniform(4, 15)
        return self.outcome, self.rng.uniform(15, 20) if self.outcome == "no-answer" else 3.0

    async def talk(self, voice: Voice, caller: Leg, callee: Leg) -> float:
        await voice.pause(caller, self.talk_seconds)
        return self.talk_seconds


class Interpreter(Remote):
    """A speaker of the registry dialed into a caller's conference: stays until it ends."""

    async def talk(self, voice: Voice, caller: Leg, callee: Leg) -> float:
        if callee.room is not None:
            await voice.until(callee, callee.room.over)
        return 0.0


class Agent(Party):
    """A Plataforma agent: available through the API, answers, talks, wraps up."""

    def __init__(self, run: LineRun, agent_id: int, token: str, rng: random.Random) -> None:
        self.run = run
        self.agent_id = agent_id
        self.token = token
        self.rng = rng
        self.busy = False

    def key(self, leg: Leg, gather: Any) -> tuple[str | None, float]:
        return "1", self.rng.uniform(1, 3)

    def answers(self, leg: Leg) -> tuple[str, float]:
        self.busy = True
        return "answer", self.rng.uniform(2, 6)

    async def talk(self, voice: Voice, caller: Leg, callee: Leg) -> float:
        handle = self.rng.lognormvariate(math.log(170), 0.5)
        plan = getattr(caller.party, "plan", None)
        if plan is not None and plan.transfer:
            await voice.pause(caller, handle / 2)
            ok = await self.run.api(
                "POST",
                f"/api/calls/{caller.sid}/transfer",
                self.token,
                {"organo": self.rng.choice(SIGLAS)},
            )
            if ok:  # the engine redirects the caller (a REST call): Interrupted
                await voice.pause(caller, 600)
        else:
            await voice.pause(caller, handle)
        return handle

    def ended(self, voice: Voice, leg: Leg) -> None:
        voice.spawn(self.wrap_up())

    async def wrap_up(self) -> None:
        await asyncio.sleep(self.rng.uniform(5, 15) * self.run.f)
        self.busy = False
        if self.run.active:
            await self.available()

    async def available(self) -> None:
        if await self.run.api(
            "POST", f"/api/agents/{self.agent_id}/state", self.token, {"state": "available"}
        ):
            self.run.available_at[self.agent_id] = time.monotonic()


# --- One size: N concurrent calls ---------------------------------------------------------------


@dataclass
class SizeResult:
    calls: int
    agents: int
    window: float
    in_flight: float
    requests: int
    latencies: dict[str, list[float]]
    errors: dict[str, int]
    error_samples: list[str]
    api_errors: int
    violations: int
    rest: dict[str, int]  # REST requests the service made, by operation
    dispatch: list[float]
    redis_per_call: float
    cpu: dict[str, float]  # seconds in the window, by process
    machine_busy: float  # of all cores, in the window
    ramp: float = 0.0
    lags: list[float] = field(default_factory=list)  # calls that ended in the window
    ended: int = 0  # calls that ended in this size's ramp and window (and, the last, after)
    rows: int = 0  # their rows, with the final status
    final_lag: float = 0.0  # the last size: everyone hangs up at once; the last row after
    final_calls: int = 0
    bare_p50: float = float("nan")
    bare_p99: float = float("nan")
    bare_errors: int = 0

    @property
    def rate(self) -> float:
        return self.requests / self.window

    def webhook_latencies(self) -> list[float]:
        return [x for route, v in self.latencies.items() if route.startswith("/voice") for x in v]

    @property
    def p99_ms(self) -> float:
        return percentile(self.webhook_latencies(), 0.99) * 1000

    @property
    def lag_p99(self) -> float:
        return percentile(self.lags, 0.99)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values()) + self.api_errors + self.violations

    @property
    def ok(self) -> bool:
        lag_ok = (not self.lags) or self.lag_p99 < TARGET_LAG_S
        return (
            self.p99_ms < TARGET_P99_MS
            and lag_ok
            and self.error_count == 0
            and self.rows == self.ended
        )


class LineRun:
    """The load against the running service: a staircase of sizes. Before each size's window,
    the callers it adds arrive at the rate that keeps N calls up (N / the mean call's
    duration), not all at once; its agents join the line first."""

    def __init__(self, svc: Service, sizes: list[int], args: argparse.Namespace) -> None:
        self.svc = svc
        self.sizes = sizes
        self.requested_agents = args.agents
        self.f = args.time_factor
        self.window = args.duration
        self.max_ramp = args.ramp
        self.rng = random.Random(sum(sizes))
        self.active = True
        self.stopping = False
        self.traffic = Traffic()
        self.api_errors = 0
        self.api_error_samples: list[str] = []
        self.available_at: dict[int, float] = {}
        self.queued_at: dict[str, float] = {}
        self.dispatch: list[float] = []
        self.phase = 0  # the size being ramped up to or measured (its index)
        self.hangups: dict[str, tuple[float, int, bool]] = {}  # sid: (time, phase, in a window)
        self.sids = 0
        self.session: aiohttp.ClientSession | None = None
        self.agents: list[Agent] = []
        self.by_address: dict[str, Agent] = {}
        self.legs: dict[str, Leg] = {}

    # the engine's side ---------------------------------------------------------------------

    def callee_for(self, leg: Leg, address: str) -> Party:
        agent = self.by_address.get(address)
        if agent is not None:
            return agent
        caller = leg.party
        outcome = caller.dials.pop(0) if isinstance(caller, Caller) and caller.dials else "accept"
        talk = self.rng.lognormvariate(math.log(300), 0.4)
        return Remote(outcome, self.rng, talk)

    def party_for_rest_call(self, to: str) -> Party:
        agent = self.by_address.get(to)
        if agent is not None:
            return agent
        outcome = "accept" if self.rng.random() < 0.85 else "no-answer"
        return Interpreter(outcome, self.rng, 0.0)

    def on_dequeue(self, call_sid: str, url: str) -> None:
        leg = self.legs.get(call_sid)
        plan = getattr(leg.party, "plan", None) if leg is not None else None
        if plan is None or plan.keys[0] != "1":  # quechua and aymara callers wait for a speaker
            return
        query = parse_qs(urlsplit(url).query)
        agent = int(query.get("agent", ["0"])[0] or 0)
        ready = max(self.available_at.get(agent, 0.0), self.queued_at.get(call_sid, 0.0))
        if self.traffic.recording and ready:
            self.dispatch.append(time.monotonic() - ready)

    def call_ended(self, leg: Leg) -> None:
        self.hangups[leg.sid] = (leg.hangup_at, self.phase, self.traffic.recording)

    async def api(self, method: str, path: str, token: str, body: dict[str, str]) -> bool:
        assert self.session is not None
        route = re.sub(r"/\d+/", "/<id>/", re.sub(r"/CA[0-9a-f]+/", "/<sid>/", path))
        started = time.perf_counter()
        try:
            async with self.session.request(
                method,
                self.svc.base + path,
                json=body,
                headers={"Authorization": f"Bearer {token}"},
            ) as response:
                await response.read()
                status = response.status
        except (TimeoutError, aiohttp.ClientError) as exc:
            status, detail = 0, repr(exc)
        else:
            detail = f"HTTP {status}"
        self.traffic.add(route, time.perf_counter() - started, True)
        if status != 200:
            # 409 on a transfer: the caller hung up meanwhile (the end of the run)
            if not (status == 409 and self.stopping):
                self.api_errors += 1
                if len(self.api_error_samples) < 5:
                    self.api_error_samples.append(f"{method} {route}: {detail}")
            return False
        return True

    # the callers -----------------------------------------------------------------------------

    def new_sid(self) -> str:
        self.sids += 1
        return f"CA{self.sids:08d}{self.rng.getrandbits(96):024x}"

    async def slot(self, voice: Voice, delay: float) -> None:
        await asyncio.sleep(delay)
        rng = random.Random(self.rng.random())
        while not self.stopping:
            plan = draw_plan(rng)
            extra = {}
            if plan.closed:  # a closed day's moment (the bench's closure day)
                extra[SIMULATION_FIELD] = self.svc.closed_day.isoformat()
            leg = Leg(
                sid=self.new_sid(),
                party=Caller(self, plan, rng),
                from_number=plan.phone,
                to_number="+5113115930",
                extra=extra,
            )
            await voice.run(leg, "/voice/incoming", leg.params(CallStatus="ringing"))
            await asyncio.sleep(rng.uniform(0, 1) * self.f)

    async def go(self) -> list[SizeResult]:
        svc = self.svc
        connector = aiohttp.TCPConnector(limit=2000, force_close=True)
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            self.session = session
            hooks = Webhooks(session, svc.base, TOKEN, self.traffic)
            voice = Voice(
                hooks,
                self.f,
                HOLD_SECONDS,
                self.callee_for,
                self.party_for_rest_call,
                self.on_dequeue,
            )
            self.legs = voice.legs
            edge = RestEdge(voice, ACCOUNT, TOKEN)
            await edge.start(HOST, svc.edge_port)
            try:
                return await self._go(hooks, voice, edge)
            finally:
                await edge.stop()

    async def _go(self, hooks: Webhooks, voice: Voice, edge: RestEdge) -> list[SizeResult]:
        svc = self.svc
        used0 = svc.redis_used()
        slots: list[asyncio.Task[None]] = []
        results: list[SizeResult] = []
        mean_call = MEAN_CALL_SECONDS * self.f
        for phase, n in enumerate(self.sizes):
            self.phase = phase
            self.traffic = hooks.traffic = Traffic()
            api0, violations0, rest0 = self.api_errors, len(edge.violations), dict(edge.requests)
            samples0 = len(self.api_error_samples)
            m = agents_for(n, self.requested_agents)
            joining = []
            for agent_id, token, address in svc.agents[len(self.agents) : m]:
                agent = Agent(self, agent_id, token, random.Random(agent_id))
                self.agents.append(agent)
                self.by_address[address] = agent
                joining.append(agent.available())
            await asyncio.gather(*joining)
            rate = n / mean_call  # arrivals per second that keep n calls up
            adding = n - len(slots)
            if self.max_ramp:
                rate = max(rate, adding / self.max_ramp)
            ramp = adding / rate
            loop = asyncio.get_running_loop()
            slots += [loop.create_task(self.slot(voice, i / rate)) for i in range(adding)]
            await asyncio.sleep(ramp)
            # the window
            self.dispatch = []
            probe = Probe(svc)
            probe.start()
            self.traffic.recording = True
            samples: list[tuple[int, int]] = []
            started = time.monotonic()
            while time.monotonic() - started < self.window:
                await asyncio.sleep(1.0)
                in_flight = sum(1 for leg in voice.legs.values() if leg.direction == "inbound")
                samples.append((svc.redis_used(), in_flight))
            self.traffic.recording = False
            window = time.monotonic() - started
            cpu, busy = probe.stop()
            used = statistics.median(u for u, _ in samples)
            flight = statistics.median(c for _, c in samples)
            rest = {k: v - rest0.get(k, 0) for k, v in edge.requests.items()}
            results.append(
                SizeResult(
                    calls=n,
                    agents=m,
                    ramp=ramp,
                    window=window,
                    in_flight=flight,
                    requests=self.traffic.requests,
                    latencies=dict(self.traffic.latencies),
                    errors=dict(self.traffic.errors),
                    error_samples=self.traffic.error_samples + self.api_error_samples[samples0:],
                    api_errors=self.api_errors - api0,
                    violations=len(edge.violations) - violations0,
                    rest={k: v for k, v in rest.items() if v},
                    dispatch=self.dispatch,
                    redis_per_call=(used - used0) / flight if flight else float("nan"),
                    cpu=cpu,
                    machine_busy=busy,
                )
            )
            print(
                f"  {n} calls: ramp {ramp:.0f} s, window {window:.0f} s, "
                f"{self.traffic.requests / window:.0f} req/s",
                flush=True,
            )
        # the end: everyone still on the line hangs up at once
        self.phase = len(self.sizes)
        self.traffic = hooks.traffic = Traffic()
        last = results[-1]
        self.stopping = True
        hung_up_at = time.time()
        for leg in list(voice.legs.values()):
            leg.interrupt("hangup")
        done, pending = await asyncio.wait(slots, timeout=90)
        for task in pending:
            task.cancel()
        for task in done:
            if task.exception() is not None and not isinstance(task.exception(), Interrupted):
                self.api_error_samples.append(f"caller task: {task.exception()!r}")
                last.api_errors += 1
        self.active = False
        if voice.tasks:
            await asyncio.wait(list(voice.tasks), timeout=30)
        api0 = self.api_errors
        await asyncio.gather(
            *(
                self.api("POST", f"/api/agents/{a.agent_id}/state", a.token, {"state": "offline"})
                for a in self.agents
            )
        )
        last.api_errors += self.api_errors - api0
        for route, count in self.traffic.errors.items():  # the hang-ups' own requests
            last.errors[route] = last.errors.get(route, 0) + count
        last.error_samples += self.traffic.error_samples
        rows = await asyncio.get_running_loop().run_in_executor(
            None, svc.wait_for_rows, list(self.hangups)
        )
        for phase, result in enumerate(results):
            mine = {s: v for s, v in self.hangups.items() if v[1] == phase}
            if result is last:
                mine |= {s: v for s, v in self.hangups.items() if v[1] == len(results)}
            result.lags = [
                max(0.0, rows[s] - t) for s, (t, _p, w) in mine.items() if w and s in rows
            ]
            result.ended = len(mine)
            result.rows = sum(1 for s in mine if s in rows)
        final = [
            rows[s] - hung_up_at
            for s, v in self.hangups.items()
            if v[1] == len(results) and s in rows
        ]
        last.final_lag = max(0.0, max(final, default=0.0))
        last.final_calls = sum(1 for v in self.hangups.values() if v[1] == len(results))
        return results


# --- Measuring the processes ----------------------------------------------------------------------


def tree_cpu(process: psutil.Process) -> float:
    """CPU seconds of a process and its descendants (those that exited and were waited for
    are in their parent's children times)."""
    total = 0.0
    with contextlib.suppress(psutil.Error):
        for p in [process, *process.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                t = p.cpu_times()
                total += t.user + t.system + t.children_user + t.children_system
    return total


class Probe:
    """CPU seconds by process over the window: each Procfile process's tree, Redis, the
    PostgreSQL backends of the bench's database (pg_stat_activity, sampled every 50 ms: a
    backend that lives less than that is missed), the
    load generator; and the machine's busy share."""

    def __init__(self, svc: Service) -> None:
        self.svc = svc
        self.stop_flag = threading.Event()
        self.pg_first: dict[int, float] = {}
        self.pg_last: dict[int, float] = {}
        self.thread = threading.Thread(target=self._pg_loop, daemon=True)

    def _snapshot(self) -> dict[str, float]:
        services = self.svc.processes()
        out = {name: tree_cpu(p) for name, p in services.items()}
        # the load generator: this process and its own children (the REST fake's validator),
        # not the service's processes, which it started
        theirs = {p.pid for p in services.values()} | {self.svc.bare_pid()}
        me = psutil.Process()
        t = me.cpu_times()
        mine = t.user + t.system
        for child in me.children():
            if child.pid not in theirs and child.pid != self.svc.redis_pid():
                mine += tree_cpu(child)
        out["load generator (not ours)"] = mine
        return out

    def _pg_loop(self) -> None:
        with psycopg.connect(self.svc.database_url, autocommit=True) as conn:
            known = {
                int(r[0])
                for r in conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                )
            }
            for pid in known:  # already there: only what they spend from now on
                with contextlib.suppress(psutil.Error):
                    t = psutil.Process(pid).cpu_times()
                    self.pg_first[pid] = self.pg_last[pid] = t.user + t.system
            own = conn.info.backend_pid
            while not self.stop_flag.wait(0.05):
                for (pid,) in conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                ):
                    if pid == own:
                        continue
                    with contextlib.suppress(psutil.Error):
                        t = psutil.Process(int(pid)).cpu_times()
                        self.pg_first.setdefault(int(pid), 0.0)
                        self.pg_last[int(pid)] = t.user + t.system

    def start(self) -> None:
        self.cpu0 = self._snapshot()
        self.redis0 = self.svc.redis_cpu()
        self.machine0 = psutil.cpu_times()
        self.thread.start()

    def stop(self) -> tuple[dict[str, float], float]:
        cpu1 = self._snapshot()
        redis1 = self.svc.redis_cpu()
        machine1 = psutil.cpu_times()
        self.stop_flag.set()
        self.thread.join(timeout=5)
        out = {k: cpu1[k] - self.cpu0.get(k, 0.0) for k in cpu1}
        out["redis"] = redis1 - self.redis0
        out["postgresql"] = sum(self.pg_last[p] - self.pg_first[p] for p in self.pg_last)
        idle = (machine1.idle + machine1.iowait) - (self.machine0.idle + self.machine0.iowait)
        total = sum(machine1) - sum(self.machine0)
        return out, 1 - idle / total if total else float("nan")


# --- The service ----------------------------------------------------------------------------------


def postgres_server() -> str:
    """Where the bench creates its database: BENCH_PG_URL, else DATABASE_URL's server when it
    is PostgreSQL, else the machine's (postgres@127.0.0.1:5432); always its maintenance
    database."""
    url = os.environ.get("BENCH_PG_URL") or os.environ.get("DATABASE_URL") or ""
    if not url.startswith("postgresql"):
        url = "postgresql://postgres@127.0.0.1:5432/postgres"
    parts = urlsplit(url)
    return parts._replace(path="/postgres", query="").geturl()


class MailSink:
    """Accepts every message (aiosmtpd's handler protocol)."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return "250 OK"


class Service:
    """Redis, the database, the Procfile's processes and the baseline's gunicorn."""

    def __init__(self, tmp: Path, agents: int, db_name: str, database_url: str) -> None:
        self.tmp = tmp
        self.n_agents = agents
        self.port = free_port()
        self.bare_port = free_port()
        self.edge_port = free_port()
        self.base = f"http://{HOST}:{self.port}"
        self.bare_base = f"http://{HOST}:{self.bare_port}"
        self.db_name = db_name
        self.database_url = database_url
        self.redis = RedisServer(tmp, appendfsync="everysec")
        self.r = redis.Redis.from_url(self.redis.url)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.agents: list[tuple[int, str, str]] = []  # (id, token, the address it is dialed at)
        today = datetime.now(UTC).date()
        self.closure = date(today.year + 1, today.month, min(today.day, 28))
        self.closed_day = datetime(
            self.closure.year, self.closure.month, self.closure.day, 15, 0, tzinfo=UTC
        )
        # the Red members' e-mails (calls they missed) go to a sink on loopback
        self.smtp = Controller(MailSink(), hostname=HOST, port=free_port())

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "RED_"))}
        return env | {
            "RED_ENV": "production",
            "PATH": f"{Path(sys.executable).parent}:{env.get('PATH', '')}",
            "PYTHONUNBUFFERED": "1",
            "PORT": str(self.port),
            "LIVE_PORT": str(free_port()),
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis.url,
            "SECRET_KEY": SECRET,
            "TWILIO_ACCOUNT_SID": ACCOUNT,
            "TWILIO_AUTH_TOKEN": TOKEN,
            "TWILIO_API_BASE": f"http://{HOST}:{self.edge_port}",
            "PUBLIC_BASE_URL": self.base,
            "SERVICE_HOURS": "mon-sun 00:00-24:00",
            "SERVICE_CLOSE_ON_HOLIDAYS": "false",
            "ROUTING_WRAP_UP_SECONDS": "3600",  # the agents end their wrap-up through the API
            "INSTANCE_DIR": str(self.tmp / "instance"),
            "SMTP_HOST": HOST,
            "SMTP_PORT": str(self.smtp.port),
            "RECORDINGS_DIR": str(self.tmp / "instance" / "recordings"),
        }

    def run_step(self, *command: str, env: dict[str, str] | None = None) -> None:
        done = subprocess.run(
            command, cwd=ROOT, env=env or self.env(), capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")

    def start(self, time_factor: float) -> None:
        self.redis.start()
        self.smtp.start()
        dev = self.env() | {"RED_ENV": "development"}
        flask = str(Path(sys.executable).parent / "flask")
        self.run_step(flask, "--app", "app", "db", "upgrade", env=dev)
        self.run_step(flask, "--app", "app", "seed", "demo", "--without-calls", env=dev)
        self._bench_directory(dev)
        env = self.env() | {
            "ROUTING_WAIT_LIMIT_SECONDS": str(max(60, round(900 * time_factor))),
            "ROUTING_LANGUAGE_WAIT_SECONDS": str(max(10, round(120 * time_factor))),
        }
        procfile = parse_procfile((ROOT / "Procfile").read_text())
        for name, command in procfile.processes.items():
            command = command.replace("0.0.0.0", HOST)  # loopback only
            self.procs[name] = self._spawn(name, command, env)
            if name == "web":
                bare = command.replace("'app:create_app()'", "bench.bare_app:app").replace(
                    "${PORT:-5000}", str(self.bare_port)
                )
                self.procs["bare"] = self._spawn(
                    "bare", bare, env | {"PORT": str(self.bare_port), "RED_ENV": "development"}
                )
        self._wait_ready()

    def _spawn(self, name: str, command: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = open(self.tmp / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        return subprocess.Popen(
            ["bash", "-c", f"exec {command}"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def _bench_directory(self, env: dict[str, str]) -> None:
        """The bench's Plataforma agents (anexo phones and softphones; some speak quechua or
        aymara) and its closure day, through the directory's and the hours' own functions."""
        saved = dict(os.environ)
        os.environ.update(env)
        try:
            app = create_app()
            with app.app_context():
                session = db.session()
                for i in range(self.n_agents):
                    langs = ["es", "qu"] if i % 10 == 3 else ["es", "ay"] if i % 10 == 7 else ["es"]
                    client = i % 4 == 3
                    destino = f"agente-carga-{i}" if client else str(50000 + i)
                    agent = add_agent(
                        session,
                        nombre=f"Agente de carga {i:04d}",
                        canal="client" if client else "anexo",
                        destino=destino,
                        languages=langs,
                        actor="bench",
                    )
                    address = destino if client else f"sip:{destino}@pbx.mef.gob.pe"
                    self.agents.append((agent.id, agent_token(SECRET, agent.id), address))
                session.commit()
                close_day(session, self.closure, "Carga de prueba", actor="bench")
                db.session.remove()
                assert db.engine is not None
                db.engine.dispose()
        finally:
            os.environ.clear()
            os.environ.update(saved)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 90
        last = ""
        while time.monotonic() < deadline:
            for name, p in self.procs.items():
                if p.poll() is not None:
                    tail = (self.tmp / f"{name}.log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"{name} exited with {p.returncode}:\n{tail}")
            try:
                with urllib.request.urlopen(self.base + "/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except Exception as exc:  # noqa: BLE001 - not up yet (503 until the worker beats)
                last = repr(exc)
            time.sleep(0.5)
        else:
            raise RuntimeError(f"the service did not become healthy: {last}")
        wait_for_port(self.bare_port)

    def processes(self) -> dict[str, psutil.Process]:
        out = {}
        for name, p in self.procs.items():
            if name != "bare":
                with contextlib.suppress(psutil.Error):
                    out[name] = psutil.Process(p.pid)
        return out

    def bare_pid(self) -> int:
        return self.procs["bare"].pid if "bare" in self.procs else -1

    def redis_pid(self) -> int:
        return self.redis.proc.pid if self.redis.proc is not None else -1

    def redis_cpu(self) -> float:
        t = psutil.Process(self.redis_pid()).cpu_times()
        return float(t.user + t.system)

    def redis_used(self) -> int:
        return int(self.r.info("memory")["used_memory"])

    def waiting(self) -> int:
        return int(self.r.zcard("rt:w"))

    def wait_for_rows(self, sids: list[str]) -> dict[str, float]:
        """Every ended call's row with its final status, by CallSid: when it was written."""
        seen: dict[str, float] = {}
        pending = list(sids)
        deadline = time.monotonic() + 90
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            while pending and time.monotonic() < deadline:
                for i in range(0, len(pending), 5000):
                    for sid, at in conn.execute(
                        "SELECT call_sid, updated_at FROM register_calls "
                        "WHERE final_status IS NOT NULL AND call_sid = ANY(%s)",
                        (pending[i : i + 5000],),
                    ):
                        seen[sid] = at.timestamp()
                pending = [s for s in pending if s not in seen]
                if pending:
                    time.sleep(0.5)
        return seen

    def stop(self) -> None:
        """SIGTERM (gunicorn's graceful stop, rq's warm shutdown); a second SIGTERM after 5 s
        (rq's cold shutdown: a drain job would otherwise run on for up to a minute); then
        SIGKILL."""
        for p in self.procs.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
        for signum, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 15)):
            deadline = time.monotonic() + wait
            for p in self.procs.values():
                with contextlib.suppress(subprocess.TimeoutExpired):
                    p.wait(timeout=max(0.1, deadline - time.monotonic()))
            for p in self.procs.values():
                if p.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(p.pid, signum)
        for p in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=5)
        with contextlib.suppress(Exception):
            self.smtp.stop()
        self.redis.stop()


@contextlib.contextmanager
def service(agents: int, time_factor: float) -> Iterator[Service]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-line-"))
    db_name = f"bench_line_{os.getpid()}"
    try:
        with own_database(postgres_server(), db_name) as database_url:
            svc = Service(tmp, agents, db_name, database_url)
            try:
                svc.start(time_factor)
                yield svc
            finally:
                svc.stop()
    finally:
        if os.environ.get("BENCH_LINE_KEEP_LOGS"):
            print(f"logs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


# --- The baseline ---------------------------------------------------------------------------------


async def bare_load(svc: Service, rate: float, seconds: float) -> tuple[float, float, int]:
    """Poisson arrivals at ``rate`` requests/s of signed POSTs to the bare handler."""
    traffic = Traffic(recording=True)
    connector = aiohttp.TCPConnector(limit=2000, force_close=True)
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=30)
    ) as session:
        hooks = Webhooks(session, svc.bare_base, TOKEN, traffic)
        rng = random.Random(1)
        tasks = []
        end = time.monotonic() + seconds
        n = 0
        while time.monotonic() < end:
            n += 1
            params = {"CallSid": f"CA{n:032x}", "AccountSid": ACCOUNT, "From": "+51987654321"}
            tasks.append(asyncio.get_running_loop().create_task(hooks.post("/voice/bare", params)))
            await asyncio.sleep(rng.expovariate(rate))
        await asyncio.gather(*tasks)
    values = traffic.latencies.get("/voice/bare", [])
    return (
        percentile(values, 0.5) * 1000,
        percentile(values, 0.99) * 1000,
        sum(traffic.errors.values()),
    )


# --- Output ---------------------------------------------------------------------------------------

PROCESS_LIMITS = {"worker": 1.0, "sweep": 1.0, "live": 1.0, "redis": 1.0}


def web_busy(result: SizeResult, workers: int) -> tuple[float, float, float]:
    """How busy the web's sync workers were (Little's law: requests in the system = rate x
    mean time in it, over the workers; 1 = always busy, more = requests queued in front of
    them), the wall time a request held a worker, and the CPU it took (ms)."""
    latencies = [x for v in result.latencies.values() for x in v]
    mean = statistics.fmean(latencies) if latencies else 0.0
    busy = result.rate * mean / workers
    cpu_ms = result.cpu.get("web", 0.0) / max(result.requests, 1) * 1000
    held_ms = min(mean, workers / result.rate if result.rate else 0.0) * 1000
    return busy, held_ms, cpu_ms


def saturated(result: SizeResult, workers: int) -> str:
    """The first resource to saturate: the web's sync workers when they were busy all the time
    (then why: their CPU, or waiting for the machine's cores or a server); else the process
    tree nearest its ceiling (the cores it can use); else what missed."""
    cores = psutil.cpu_count() or 1
    limits = PROCESS_LIMITS | {"web": float(min(workers, cores)), "postgresql": float(cores)}
    use = {
        k: v / result.window / limits.get(k, cores) for k, v in result.cpu.items() if k in limits
    }
    name, share = max(use.items(), key=lambda kv: kv[1])
    busy, held_ms, cpu_ms = web_busy(result, workers)
    machine = (
        f"the machine's {cores} cores were {result.machine_busy:.0%} busy (other work included)"
    )
    if busy >= 0.9:
        return (
            f"the web's {workers} sync workers (busy {min(busy, 1):.0%} of the time: a request "
            f"held a worker {held_ms:.0f} ms for {cpu_ms:.1f} ms of its own CPU; {machine}, "
            f"the web used {use.get('web', 0):.0%} of its share)"
        )
    if share > 0.8:
        return f"{name} ({share:.0%} of the {limits[name]:.0f} core(s) it can use; {machine})"
    if result.machine_busy > 0.9:
        return f"{machine}; of ours, {name} used most of its share ({share:.0%})"
    if result.lags and result.lag_p99 >= TARGET_LAG_S:
        return f"the register's drain in the worker ({use.get('worker', 0):.0%} of a core)"
    return f"nothing saturated (errors or missing rows, see above); {machine}"


def report(result: SizeResult) -> None:
    n = result.calls
    print(
        f"\n== {n} concurrent calls ({result.agents} agents): {result.in_flight:.0f} in flight "
        f"(median), window {result.window:.0f} s after a {result.ramp:.0f} s ramp"
    )
    print(
        f"requests/s served {result.rate:.1f} (webhooks and the agents' API); the bare handler "
        f"at the same rate: p50 {result.bare_p50:.1f} ms, p99 {result.bare_p99:.1f} ms, "
        f"errors {result.bare_errors}"
    )
    print(f"  {'route':<36} {'req':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'errors':>6}")
    routes = sorted(set(result.latencies) | set(result.errors))
    for route in routes:
        v = result.latencies.get(route, [])
        print(
            f"  {route:<36} {len(v):>6} {percentile(v, 0.5) * 1000:>8.1f} "
            f"{percentile(v, 0.99) * 1000:>8.1f} {max(v, default=0) * 1000:>8.1f} "
            f"{result.errors.get(route, 0):>6}"
        )
    hooks = result.webhook_latencies()
    print(
        f"  {'all webhooks':<36} {len(hooks):>6} {percentile(hooks, 0.5) * 1000:>8.1f} "
        f"{result.p99_ms:>8.1f} {max(hooks, default=0) * 1000:>8.1f}"
    )
    print(
        f"errors: webhooks {sum(result.errors.values())}, agents' API {result.api_errors}, "
        f"REST requests off Twilio's spec {result.violations}"
    )
    rest = ", ".join(f"{k} {v}" for k, v in sorted(result.rest.items())) or "none"
    print(f"REST requests to Twilio (the fake, checked against the OpenAPI description): {rest}")
    for sample in result.error_samples[:5]:
        print(f"  e.g. {sample}")
    print(
        f"dispatch (Spanish callers: agent free and caller waiting → the REST dequeue): p50 "
        f"{percentile(result.dispatch, 0.5) * 1000:.0f} ms, p99 "
        f"{percentile(result.dispatch, 0.99) * 1000:.0f} ms ({len(result.dispatch)} offers)"
    )
    print(
        f"hang-up → register row: p50 {percentile(result.lags, 0.5):.2f} s, p99 "
        f"{result.lag_p99:.2f} s ({len(result.lags)} calls ended in the window)"
    )
    if result.final_calls:
        print(
            f"the end: the {result.final_calls} callers still on the line hang up at once; "
            f"the last row {result.final_lag:.1f} s later"
        )
    print(
        f"rows written {result.rows} = calls ended {result.ended}: "
        + ("yes" if result.rows == result.ended else "NO")
    )
    print(f"Redis memory per call in flight: {result.redis_per_call / 1024:.1f} KiB")
    flight = max(result.in_flight, 1)
    parts = []
    for name, seconds in sorted(result.cpu.items()):
        cores = seconds / result.window
        per_call = seconds / result.window / flight * 1e6
        parts.append(f"{name} {cores:.2f} cores ({per_call:.0f} µs/s per call)")
    print("CPU: " + "; ".join(parts))
    print(f"machine: {result.machine_busy:.0%} of all cores busy (everything on it)")
    workers = int(os.environ.get("WEB_CONCURRENCY", "3"))
    busy, held_ms, cpu_ms = web_busy(result, workers)
    print(
        f"web: {busy * workers:.1f} requests in the service on average for its {workers} sync "
        f"workers (Little's law: busy {min(busy, 1):.0%} of the time); a request held one "
        f"{held_ms:.1f} ms for {cpu_ms:.1f} ms of its CPU"
    )
    verdict = "met" if result.ok else "MISSED"
    print(
        f"targets (webhook p99 < {TARGET_P99_MS:.0f} ms, lag p99 < {TARGET_LAG_S:.0f} s, "
        f"no errors, every call registered): {verdict}"
    )


def agents_for(n: int, requested: int | None) -> int:
    return requested if requested else max(10, n // 20)


async def run_sizes(svc: Service, sizes: list[int], args: argparse.Namespace) -> list[SizeResult]:
    results = await LineRun(svc, sizes, args).go()
    if svc.waiting():
        results[-1].error_samples.append(f"{svc.waiting()} callers left in the line")
        results[-1].api_errors += 1
    for result in results:  # the baseline at each size's request rate, after the line
        result.bare_p50, result.bare_p99, result.bare_errors = await bare_load(
            svc, max(result.rate, 1.0), min(10.0, args.duration)
        )
        report(result)
        sys.stdout.flush()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--calls", help="one size, or several (500,2000); default: 500, 1000, 2000 and 5000"
    )
    parser.add_argument("--agents", type=int, help="agents (default: N/20, at least 10)")
    parser.add_argument("--duration", type=float, default=30.0, help="the measured window, s")
    parser.add_argument(
        "--ramp",
        type=float,
        help="at most this long for a size's new callers to arrive, s (default: they arrive at "
        "the rate that keeps N calls up, N / the mean call's duration)",
    )
    parser.add_argument(
        "--time-factor",
        type=float,
        default=0.5,
        help="every caller's and agent's time is multiplied by this (1 = real time)",
    )
    args = parser.parse_args(argv)
    sizes = sorted(int(n) for n in args.calls.split(",")) if args.calls else list(SIZES)
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd's chatter
    workers = int(os.environ.get("WEB_CONCURRENCY", "3"))
    f = args.time_factor
    print(
        f"bench.line: sizes {', '.join(map(str, sizes))}; time factor {f} (callers think "
        f"{2 * f:.1f}-{6 * f:.1f} s between keys, hold music {HOLD_SECONDS * f:.0f} s between "
        f"wait-URL fetches, talks ~{170 * f:.0f} s): each call sends {1 / f:.1f}x the requests "
        f"per second of a real one, so N calls here load the web like {1 / f:.1f}N real calls "
        f"while the line holds N; new callers arrive at N / {MEAN_CALL_SECONDS * f:.0f} s "
        f"per second, then a {args.duration:.0f} s window per size"
    )
    print(
        f"machine: {psutil.cpu_count()} cores, load average "
        f"{', '.join(f'{x:.1f}' for x in os.getloadavg())} at the start (shared with other work)"
    )
    most_agents = max(agents_for(n, args.agents) for n in sizes)
    began = time.monotonic()
    with service(most_agents, f) as svc:
        print(
            f"service up in {time.monotonic() - began:.0f} s: "
            f"{', '.join(p for p in svc.procs if p != 'bare')} (the Procfile's lines, "
            f"RED_ENV=production, web on {svc.base}) and the baseline's gunicorn, "
            f"on PostgreSQL {svc.db_name} and redis-server :{svc.redis.port}; demo directory "
            f"+ {most_agents} bench agents; Twilio REST at :{svc.edge_port} (tests/twilio_fake.py)"
        )
        sys.stdout.flush()
        results = asyncio.run(run_sizes(svc, sizes, args))
    value = 0  # the largest size met with every smaller size met too
    for result in sorted(results, key=lambda r: r.calls):
        if not result.ok:
            break
        value = result.calls
    bare_passed = [r.calls for r in results if r.bare_p99 < TARGET_P99_MS and not r.bare_errors]
    baseline = max(bare_passed, default=0)
    failing = [r for r in results if not r.ok]
    print()
    if failing:
        first = failing[0]
        print(
            f"short of the targets from {first.calls} calls: the first resource to saturate is "
            f"{saturated(first, workers)}"
        )
    print(
        f"baseline: the bare handler at the same request rates meets p99 < 100 ms up to "
        f"{baseline}; {time.monotonic() - began:.0f} s in all, the service stopped"
    )
    ratio = value / baseline if baseline else 0.0
    print(f"RESULT line value={value} unit=calls ratio={ratio:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
