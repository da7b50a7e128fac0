"""The fault suite: ``python -m faults`` (``make faults``; ``.ci/run`` runs it too).

It starts the service as production runs it (faults/stack.py: its own redis-server, its own
PostgreSQL database, the Procfile's gunicorn web, rq worker and sweep), and for each fault
(faults/injections.py) drives concurrent signed calls (faults/callers.py) while the fault is
injected and then taken away. Once every fault is over it waits for the register to catch up
and counts each fault's rows (faults/rows.py). It prints a table (faults/report.py) and exits
1 unless every request was answered within 5 s, no caller was left without a route and every
call was registered complete and once. About two minutes; it gives up at 290 s.

Settings: FAULTS_DATABASE_URL, any database of the PostgreSQL server to use (default
postgresql://postgres@127.0.0.1:5432/postgres; the suite creates and drops its own).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from faults.callers import Call, Signer, drive
from faults.injections import FAULTS, Fault
from faults.report import Outcome, table, verdict
from faults.rows import count, engine_for, wait_until_complete
from faults.stack import TOKEN, Stack, running

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
TOTAL_SECONDS = 290  # the suite's own bound (the issue allows 5 minutes)


async def phase(stack: Stack, fault: Fault, prefix: str, args: argparse.Namespace) -> list[Call]:
    """Callers for ``args.seconds``; the fault from ``args.at`` for ``args.hold`` seconds (or
    the fault's own), the callers going on 2 s past it."""
    hold = fault.hold or args.hold
    seconds = max(args.seconds, args.at + hold + 2)

    async def timeline() -> None:
        await asyncio.sleep(args.at)
        await asyncio.to_thread(fault.inject, stack)
        await asyncio.sleep(hold)
        await asyncio.to_thread(fault.restore, stack)

    injected = asyncio.create_task(timeline())
    calls = await drive(Signer(stack.port, TOKEN), fault.script(prefix), args.callers, seconds, 0)
    await injected
    return calls


def health(stack: Stack) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{stack.port}/health", timeout=5) as r:
            return json.dumps(json.loads(r.read()), ensure_ascii=False)
    except urllib.error.HTTPError as exc:
        return f"{exc.code} {exc.read().decode()}"
    except OSError as exc:
        return f"no answer ({exc})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Red de Atención IVR: the fault suite")
    parser.add_argument("--callers", type=int, default=6, help="concurrent callers")
    parser.add_argument("--seconds", type=float, default=7.0, help="calling time per fault")
    parser.add_argument("--at", type=float, default=1.5, help="the fault starts after (s)")
    parser.add_argument("--hold", type=float, default=3.5, help="the fault lasts (s)")
    parser.add_argument("--only", help="run only the faults whose name contains this")
    args = parser.parse_args(argv)
    started = time.monotonic()
    faults = [f for f in FAULTS if not args.only or args.only.lower() in f.name.lower()]
    server = os.environ.get("FAULTS_DATABASE_URL", DEFAULT_SERVER)
    with tempfile.TemporaryDirectory(prefix="faults-") as tmp:
        try:
            with running(Path(tmp), server) as stack:
                print(f"faults: the service runs on 127.0.0.1:{stack.port} (logs in {stack.logs})")
                warm = argparse.Namespace(**{**vars(args), "seconds": 2.0})
                asyncio.run(phase(stack, FAULTS[0], "W", warm))  # not counted: each worker warm
                done: list[tuple[Fault, list[Call]]] = []
                for i, fault in enumerate(faults):
                    calls = asyncio.run(phase(stack, fault, f"F{i}", args))
                    done.append((fault, calls))
                    print(f"  {fault.name}: {len(calls)} calls", flush=True)
                engine = engine_for(stack.database_url)
                left = TOTAL_SECONDS - (time.monotonic() - started)
                rows = wait_until_complete(
                    lambda: [count(engine, calls) for _fault, calls in done], max(left, 10)
                )
                engine.dispose()
                outcomes = [
                    Outcome(fault.name, calls, found)
                    for (fault, calls), found in zip(done, rows, strict=True)
                ]
                print()
                print(table(outcomes))
                print()
                print(f"/health at the end: {health(stack)}")
                print(verdict(outcomes) + f" ({time.monotonic() - started:.0f} s)")
                if not all(o.ok for o in outcomes):
                    for name in ("web", "worker", "sweep"):
                        log = stack.logs / f"{name}.log"
                        print(f"--- last lines of {name}.log", file=sys.stderr)
                        lines = log.read_text(errors="replace").splitlines() if log.exists() else []
                        print("\n".join(lines[-15:]), file=sys.stderr)
                    return 1
        except RuntimeError as exc:
            print(f"faults: could not start the service: {exc}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
