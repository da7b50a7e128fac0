"""The service's own processes, started as the Procfile starts them (its `web`, `worker` and
`sweep` lines, each under bash with the suite's environment), each in a process group of its
own so that a kill takes whatever a process started with it (rq's scheduler beside the
worker), as a crash of the machine would."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

from honcho.environ import parse_procfile

from bench.common import ROOT


class Process:
    """One Procfile process (``kind``), logging to ``logs/<kind>.log``."""

    def __init__(self, kind: str, env: dict[str, str], logs: Path) -> None:
        self.kind = kind
        self.command = parse_procfile((ROOT / "Procfile").read_text()).processes[kind]
        self.env = env | {"PATH": f"{Path(sys.executable).parent}:{env.get('PATH', '')}"}
        self.log_path = logs / f"{kind}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child keeps it open
        self.starts += 1
        log.write(f"--- start {self.starts}: {self.command}\n".encode())
        log.flush()
        self.proc = subprocess.Popen(
            ["bash", "-c", f"exec {self.command}"],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL to the whole process group, no warning."""
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.proc = None

    def stop(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=25)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None
