"""The Plataforma's waiting line in Redis: who waits, in which order, and who leaves.

Order: preferential callers first, then authorities, then everyone else; arrival order within
a class; a lower-class caller who has waited ``aging_seconds`` longer than a higher-class one is
ahead of them (score = arrival - class offset, see routing/scripts.py). Every function takes the
Redis client and the time explicitly, so jobs, the CLI, tests and the bench call them directly.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import redis

from ivr.state import CallState
from register.events import Journal
from routing.scripts import CALLER_TTL_SECONDS, PREFIX, scripts, text
from routing.settings import RoutingSettings

log = logging.getLogger(__name__)

WAITING_SETS = ("es", "x", "qu", "ay")


def now_ms() -> int:
    return int(time.time() * 1000)


def priority_of(state: CallState) -> str:
    """The caller's class: preferential, authority or normal."""
    if state.preferencial:
        return "preferential"
    if state.tipo_usuario == "autoridad":
        return "authority"
    return "normal"


@dataclass(frozen=True)
class Entry:
    call_sid: str
    state: str  # queued (new), or the state it already had: waiting, offered, bridged
    score: float
    arrival_ms: int

    @property
    def is_new(self) -> bool:
        return self.state == "queued"


def enqueue(
    r: redis.Redis,
    call_sid: str,
    *,
    language: str,
    priority: str,
    now: int,
    settings: RoutingSettings,
) -> Entry:
    """Put a caller in line. Idempotent: a caller already in line keeps their entry."""
    reply = scripts(r).enqueue(
        args=[
            call_sid,
            language,
            priority,
            now,
            settings.class_offset_ms(priority),
            CALLER_TTL_SECONDS,
        ]
    )
    return Entry(call_sid, text(reply[0]), float(reply[1]), int(float(reply[2])))


def requeue(r: redis.Redis, call_sid: str, *, now: int) -> str:
    """Put back a caller who left with an agent (no answer, failed transfer): same place.

    Returns requeued, waiting (already back) or missing (unknown caller: enqueue anew)."""
    return text(scripts(r).requeue(args=[call_sid, CALLER_TTL_SECONDS, now]))


def caller_info(r: redis.Redis, call_sid: str) -> dict[str, str]:
    raw = r.hgetall(f"{PREFIX}c:{call_sid}")
    return {text(k): text(v) for k, v in raw.items()}


def position(r: redis.Redis, call_sid: str) -> int | None:
    """1-based place in OUR order among every waiting caller (None when not waiting)."""
    info = caller_info(r, call_sid)
    if info.get("st") != "waiting":
        return None
    score = info["score"]
    pipe = r.pipeline(transaction=False)
    for name in WAITING_SETS:
        pipe.zcount(f"{PREFIX}q:{name}", "-inf", f"({score}")
    return 1 + sum(int(n) for n in pipe.execute())


def waiting_count(r: redis.Redis) -> int:
    return int(r.zcard(f"{PREFIX}w"))


def average_handle_seconds(r: redis.Redis, default: int) -> float:
    values = [float(v) for v in r.lrange(f"{PREFIX}ht", 0, -1)]
    return sum(values) / len(values) if values else float(default)


def expected_wait_minutes(r: redis.Redis, place: int, settings: RoutingSettings) -> int:
    """Expected wait from recent handle times and the agents staffing the line."""
    staffed = max(1, int(r.scard(f"{PREFIX}on")))
    handle = average_handle_seconds(r, settings.default_handle_seconds)
    rounds = math.ceil(place / staffed)
    return max(1, math.ceil(rounds * handle / 60))


def leave(r: redis.Redis, call_sid: str, *, now: int, new_state: str) -> tuple[str, int]:
    """Take a waiting (or offered) caller out of line. Returns (previous state, wait ms)."""
    reply = scripts(r).leave(args=[call_sid, now, new_state])
    return text(reply[0]), int(reply[1])


def caller_hung_up(r: redis.Redis, journal: Journal, call_sid: str, *, now: int) -> bool:
    """A caller hung up: out of line at once, registered abandoned with their wait.

    For /voice/status (CallStatus completed, busy, failed, no-answer, canceled) and the Enqueue
    action (QueueResult=hangup). Idempotent; returns True when the caller was in line.
    Never raises: a Redis failure is logged.
    """
    try:
        previous, wait_ms = leave(r, call_sid, now=now, new_state="gone")
    except redis.RedisError:
        log.exception("could not take %s out of the queue", call_sid)
        return False
    if previous not in ("waiting", "offered"):
        return False
    journal.record(call_sid, "queue_left", "hangup", wait_seconds=round(wait_ms / 1000))
    return True


def timed_out(
    r: redis.Redis, *, now: int, settings: RoutingSettings, limit: int = 100
) -> list[str]:
    """Callers who reached the wait limit, taken out of line (state timeout)."""
    reply = scripts(r).timeouts(args=[now, settings.wait_limit_seconds * 1000, limit])
    return [text(sid) for sid in reply]


def waiting_snapshot(r: redis.Redis, limit: int = 200) -> list[dict[str, str]]:
    """The waiting callers in OUR order (for the console and the CLI)."""
    rows: list[tuple[float, str, str]] = []
    for name in WAITING_SETS:
        for sid, score in r.zrange(f"{PREFIX}q:{name}", 0, limit - 1, withscores=True):
            rows.append((float(score), text(sid), name))
    rows.sort()
    out = []
    for score, sid, name in rows[:limit]:
        info = caller_info(r, sid)
        out.append(
            {
                "call_sid": sid,
                "priority": info.get("cls", ""),
                "language": info.get("lang", ""),
                "line": name,
                "score": str(int(score)),
                "arrival_ms": info.get("arr", ""),
            }
        )
    return out
