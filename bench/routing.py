"""Benchmark of the routing engine: enqueue + dispatch with 10,000 callers waiting and 500 agents,
beside raw Redis ZADD/ZPOPMIN round trips on the same server in the same run.

    python -m bench.routing [--ops N]

One "op" of ours: a new caller enters the line (the ENQUEUE script), then one dispatch (the
MATCH script) hands the first caller in our order to the longest-idle eligible agent. That is
two round trips, as the baseline's op (one ZADD, one ZPOPMIN on a sorted set of 10,000
members). The agents' side (answering and ending the offered calls, and their wrap-up ending) is
done between blocks of 500 ops, pipelined and not timed.
Also: the time per dispatch with 100, 1,000 and 10,000 waiting (it must stay flat), and Redis
memory per waiting caller (INFO used_memory delta / callers).

Runs on a fresh embedded Redis in a temp dir, or on REDIS_URL when set (refusing a database
that holds live routing keys). The last line is ``RESULT routing value=<ops/s> unit=ops/s
ratio=<ours/raw>``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import tempfile
import time
from collections import deque
from collections.abc import Iterator

import redis

from bench.common import caller_kind, embedded_redis
from routing import agents, dispatch
from routing import queue as line
from routing.scripts import ANSWERED, ENDED, ENQUEUE, MATCH, PREFIX, scripts
from routing.settings import RoutingSettings

AGENTS = 500
WAITING = 10_000
SETTINGS = RoutingSettings(aging_seconds=300, language_wait_seconds=3600, wrap_up_seconds=0)
T0 = 1_800_000_000_000


@contextlib.contextmanager
def bench_redis() -> Iterator[redis.Redis]:
    url = os.environ.get("REDIS_URL")
    if url:
        r = redis.Redis.from_url(url)
        if next(iter(r.scan_iter(match=f"{PREFIX}*", count=1000)), None) is not None:
            raise SystemExit(f"{url} holds routing keys (rt:*): refusing to benchmark on it.")
        try:
            yield r
        finally:
            clean(r)
        return
    with tempfile.TemporaryDirectory(prefix="bench-routing-") as tmp, embedded_redis(tmp) as url:
        yield redis.Redis.from_url(url)


def clean(r: redis.Redis) -> None:
    for pattern in (f"{PREFIX}*", "bench:*"):
        batch = list(r.scan_iter(match=pattern, count=5000))
        for i in range(0, len(batch), 1000):
            r.delete(*batch[i : i + 1000])


def caller(n: int) -> str:
    return f"CA{n:032x}"


def fill(r: redis.Redis, first: int, count: int, now: int) -> None:
    s = scripts(r)
    pipe = r.pipeline(transaction=False)
    for n in range(first, first + count):
        priority, language = caller_kind(n)
        s.enqueue(
            args=[caller(n), language, priority, now + n, SETTINGS.class_offset_ms(priority), 3600],
            client=pipe,
        )
        if len(pipe) >= 1000:
            pipe.execute()
    pipe.execute()


def staff(r: redis.Redis, now: int) -> deque[tuple[str, int]]:
    """500 agents (10 % quechua, 10 % aymara speakers), each offered a caller."""
    for a in range(1, AGENTS + 1):
        langs = ["qu"] if a % 10 == 0 else ["ay"] if a % 10 == 1 else []
        agents.set_state(r, a, "available", languages=langs, now=now + a, settings=SETTINGS)
    return deque(
        (m.call_sid, m.agent_id)
        for m in dispatch.match(r, now=now + AGENTS + 1, settings=SETTINGS, max_pairs=AGENTS)
    )


def run_ops(
    r: redis.Redis,
    ops: int,
    next_caller: int,
    ringing: deque[tuple[str, int]],
    now: int,
    raw: RawBaseline | None = None,
) -> tuple[float, list[float], int]:
    """``ops`` times: one caller enters the line (one round trip), then one dispatch (one
    round trip). Between blocks, untimed, the agents offered a caller answer and end their
    calls (pipelined) and their wrap-up ends; with ``raw``, a block of as many raw ops runs
    after each of ours (interleaved, so both see the same load). Returns (timed seconds,
    per-dispatch seconds, matches)."""
    sources = {"enqueue": ENQUEUE, "answered": ANSWERED, "ended": ENDED, "match": MATCH}
    sha = {name: str(r.script_load(source)) for name, source in sources.items()}
    lw = SETTINGS.language_wait_seconds * 1000
    per_dispatch: list[float] = []
    matched = 0
    timed = 0.0
    done = 0
    t = now
    while done < ops:
        # untimed: the agents' side of the previous offers
        pipe = r.pipeline(transaction=False)
        while ringing:
            call, agent = ringing.popleft()
            pipe.evalsha(sha["answered"], 0, call, agent, t)
            pipe.evalsha(sha["ended"], 0, call, agent, t, t, 60)
        pipe.evalsha(sha["match"], 0, t, lw, 0)  # wrap-ups over: agents available
        pipe.execute()
        block = min(AGENTS, ops - done)
        start = time.perf_counter()
        for i in range(done, done + block):
            t += 1
            priority, language = caller_kind(next_caller + i)
            offset = SETTINGS.class_offset_ms(priority)
            r.evalsha(
                sha["enqueue"], 0, caller(next_caller + i), language, priority, t, offset, 3600
            )
            d0 = time.perf_counter()
            found = r.evalsha(sha["match"], 0, t, lw, 1)
            per_dispatch.append(time.perf_counter() - d0)
            for j in range(0, len(found), 3):
                ringing.append((found[j].decode(), int(found[j + 1])))
                matched += 1
        timed += time.perf_counter() - start
        if raw is not None:
            raw.run(block)
        done += block
    return timed, per_dispatch, matched


class RawBaseline:
    """The same number of round trips: ZADD then ZPOPMIN on a 10,000-member sorted set."""

    key = "bench:raw"

    def __init__(self, r: redis.Redis) -> None:
        self.r = r
        self.next = WAITING
        self.seconds = 0.0
        self.ops = 0
        pipe = r.pipeline(transaction=False)
        for n in range(WAITING):
            pipe.zadd(self.key, {caller(n): T0 + n})
        pipe.execute()

    def run(self, ops: int) -> None:
        r, key = self.r, self.key
        start = time.perf_counter()
        for i in range(self.next, self.next + ops):
            r.zadd(key, {caller(i): T0 + i})
            r.zpopmin(key)
        self.seconds += time.perf_counter() - start
        self.next += ops
        self.ops += ops


def dispatch_time_at(r: redis.Redis, waiting: int, ops: int) -> float:
    """Median seconds per dispatch with ``waiting`` callers in line and 500 agents."""
    clean(r)
    fill(r, 0, waiting + AGENTS, T0)  # 500 are offered to the agents, ``waiting`` stay
    ringing = staff(r, T0 + waiting + AGENTS)
    _, per, _ = run_ops(r, ops, waiting + AGENTS, ringing, T0 + waiting + 2 * AGENTS + 10)
    return statistics.median(per)


def memory_per_caller(r: redis.Redis) -> float:
    clean(r)
    before = int(r.info("memory")["used_memory"])
    fill(r, 0, WAITING, T0)
    after = int(r.info("memory")["used_memory"])
    assert line.waiting_count(r) == WAITING
    return (after - before) / WAITING


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=20_000)
    args = parser.parse_args(argv)
    with bench_redis() as r:
        per_caller = memory_per_caller(r)
        print(f"memory: {per_caller:.0f} bytes per waiting caller ({WAITING} waiting)")

        # five rounds, sizes interleaved; the least disturbed median of each size counts
        flat: dict[int, float] = {}
        sizes = [100, 1_000, 10_000]
        for round_ in range(5):
            for n in sizes[round_ % 3 :] + sizes[: round_ % 3]:  # a different order each round
                seconds = dispatch_time_at(r, n, 2000)
                flat[n] = min(flat.get(n, seconds), seconds)
        for n, seconds in flat.items():
            print(f"dispatch with {n:>6} waiting, {AGENTS} agents: {seconds * 1e6:7.1f} µs")
        spread = max(flat.values()) / min(flat.values()) - 1
        print(f"dispatch time spread 100 → 10,000 waiting: {spread * 100:.1f} %")

        clean(r)
        fill(r, 0, WAITING + AGENTS, T0)
        ringing = staff(r, T0 + WAITING + AGENTS)
        start = T0 + WAITING + 2 * AGENTS + 10
        baseline = RawBaseline(r)
        ours_s, _, matched = run_ops(r, args.ops, WAITING + AGENTS, ringing, start, baseline)
        assert matched == args.ops, (matched, args.ops)
        assert line.waiting_count(r) == WAITING
        assert baseline.ops == args.ops and r.zcard(baseline.key) == WAITING
        ours = args.ops / ours_s
        raw = baseline.ops / baseline.seconds
        print(
            f"enqueue+dispatch: {ours:,.0f} ops/s; raw ZADD+ZPOPMIN: {raw:,.0f} ops/s "
            f"({args.ops} ops each, 2 round trips per op, interleaved in blocks of {AGENTS})"
        )
        print(
            "targets: ratio >= 0.5: "
            + ("ok" if ours / raw >= 0.5 else "MISSED")
            + f"; flat within 20 %: {'ok' if spread <= 0.2 else 'MISSED'}"
            + f"; < 1 KB per caller: {'ok' if per_caller < 1024 else 'MISSED'}"
        )
        print(f"RESULT routing value={ours:.0f} unit=ops/s ratio={ours / raw:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
