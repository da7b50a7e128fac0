"""The faults, each injected while callers are on the line and taken away a few seconds later:
Redis killed (SIGKILL, started again on its append-only file), Redis frozen (SIGSTOP, then
SIGCONT), the worker killed in the middle of a register batch (SIGKILL to its process group, started
again), PostgreSQL refusing connections, PostgreSQL accepting them and never answering
(the loopback proxy), and callbacks that come twice and out of order (no server fault)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from faults.callers import Script
from faults.stack import Stack

Action = Callable[[Stack], None]


def _nothing(_stack: Stack) -> None:
    return None


def _kill_worker_mid_batch(stack: Stack) -> None:
    """Wait (up to 3 s) until a register drain is running, then SIGKILL the worker's group."""
    queue = stack.register_queue()
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and not queue.started_job_registry.count:
        time.sleep(0.01)
    stack.worker.kill()


@dataclass(frozen=True)
class Fault:
    name: str
    inject: Action
    restore: Action
    duplicate: bool = False
    reorder: bool = False
    hold: float | None = None  # seconds, when not the suite's default

    def script(self, prefix: str) -> Script:
        return Script(prefix, duplicate=self.duplicate, reorder=self.reorder)


FAULTS = (
    Fault("none (control)", _nothing, _nothing),
    Fault("Redis killed", lambda s: s.redis.kill(), lambda s: s.redis.start()),
    Fault("Redis frozen (SIGSTOP)", lambda s: s.redis.freeze(), lambda s: s.redis.thaw()),
    Fault("worker killed mid-batch", _kill_worker_mid_batch, lambda s: s.worker.start()),
    # Longer than the web's caches live (15 s for the hours), so that callers meet it too.
    Fault("PostgreSQL refusing", lambda s: s.proxy.refuse(), lambda s: s.proxy.restore(), hold=16),
    Fault("PostgreSQL hanging", lambda s: s.proxy.hang(), lambda s: s.proxy.restore(), hold=16),
    Fault("callbacks twice, reordered", _nothing, _nothing, duplicate=True, reorder=True),
)
