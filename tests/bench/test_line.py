"""bench.line keeps working: a tiny run (20 calls, a 5 s window) through the Procfile's real
processes, PostgreSQL, a Redis of its own and the Twilio REST fake."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from bench.line import postgres_server

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def test_the_line_bench_runs_at_a_tiny_size() -> None:
    try:
        psycopg.connect(postgres_server(), connect_timeout=3).close()
    except psycopg.Error:
        pytest.skip("no PostgreSQL server for the bench's own database")
    done = subprocess.run(
        [sys.executable, "-m", "bench.line", "--calls", "20", "--agents", "4"]
        + ["--duration", "5", "--ramp", "3"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "errors: webhooks 0, agents' API 0, REST requests off Twilio's spec 0" in out, out
    rows = re.search(r"rows written (\d+) = calls ended (\d+): yes", out)
    assert rows is not None and int(rows[1]) >= 20, out
    hooks = re.search(r"all webhooks +(\d+)", out)
    assert hooks is not None and int(hooks[1]) > 0, out
    last = out.strip().splitlines()[-1]
    assert re.fullmatch(r"RESULT line value=\d+ unit=calls ratio=\d+\.\d{3}", last), last
