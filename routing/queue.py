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
from enum import StrEnum
from typing import Any

import redis

import livebus
from ivr.state import CallState
from register.events import Journal
from routing.scripts import CALLER_TTL_SECONDS, PREFIX, scripts, text
from routing.settings import RoutingSettings

log = logging.getLogger(__name__)

WAITING_SETS = ("es", "x", "qu", "ay")
PLATAFORMA_QUEUE = "plataforma"  # Twilio's queue, by friendly name until its QueueSid is known


class CallerStatus(StrEnum):
    """Where a caller of the line is (the ``st`` field of their hash)."""

    WAITING = "waiting"  # in line
    OFFERED = "offered"  # matched to an agent whose phone rings
    BRIDGED = "bridged"  # talking with the agent
    DONE = "done"  # the conversation with the agent is over
    GONE = "gone"  # hung up, or Twilio's queue failed
    CALLBACK = "callback"  # pressed 1 for a callback
    TIMEOUT = "timeout"  # reached the wait limit


@dataclass(frozen=True)
class WaitingCaller:
    """A caller of the Plataforma line, as kept in the ``rt:c:{CallSid}`` hash (the field
    names are in routing/scripts.py's table; only this module and the Lua scripts use them)."""

    call_sid: str
    status: CallerStatus
    language: str  # es, qu or ay
    priority: str  # preferential, authority or normal
    score: float  # arrival ms - class offset: lower is served first
    arrival_ms: int
    line: str  # the waiting set: es, x (overflowed), qu, ay
    agent_id: int | None  # the agent offered (or talking with) the caller
    interpreter: bool  # the agent does not speak the caller's language: a conference
    bridge_served: bool  # the bridge TwiML was served (a connect retry must not redirect)
    timeout_logged: bool  # the wait limit's queue_left event was recorded
    handoff: str | None  # red or presencial, once the agent handed the caller on

    def is_offered_to(self, agent_id: int) -> bool:
        return self.status is CallerStatus.OFFERED and self.agent_id == agent_id

    @property
    def connected_agent(self) -> int | None:
        """The agent talking (or who talked) with the caller."""
        if self.status in (CallerStatus.BRIDGED, CallerStatus.DONE):
            return self.agent_id
        return None


def announce(r: redis.Redis) -> None:
    """Tell the live channel's ``line`` topic that the line or the agents' presence changed
    (the supervisor's board recomputes; board/publisher.py)."""
    livebus.publish(r, "line", "changed", {})


def _key(call_sid: str) -> str:
    return f"{PREFIX}c:{call_sid}"


def _parse(call_sid: str, raw: dict[Any, Any]) -> WaitingCaller | None:
    f = {text(k): text(v) for k, v in raw.items()}
    if "st" not in f:
        return None
    agent = f.get("agent", "")
    return WaitingCaller(
        call_sid=call_sid,
        status=CallerStatus(f["st"]),
        language=f.get("lang", "es"),
        priority=f.get("cls", "normal"),
        score=float(f.get("score", 0)),
        arrival_ms=int(float(f.get("arr", 0))),
        line=f.get("q", ""),
        agent_id=int(agent) if agent.isdigit() else None,
        interpreter=f.get("interp") == "1",
        bridge_served=bool(f.get("bs")),
        timeout_logged=bool(f.get("tl")),
        handoff=f.get("handoff") or None,
    )


def caller(r: redis.Redis, call_sid: str) -> WaitingCaller | None:
    """The caller's record in the line (None: never queued, or expired)."""
    return _parse(call_sid, r.hgetall(_key(call_sid)))


def mark_bridge_served(r: redis.Redis, call_sid: str) -> None:
    r.hset(_key(call_sid), "bs", "1")


def claim_timeout_log(r: redis.Redis, call_sid: str) -> bool:
    """True once per caller: whoever gets it records the wait limit's event."""
    return bool(r.hsetnx(_key(call_sid), "tl", "1"))


def claim_conference_calls(r: redis.Redis, call_sid: str) -> bool:
    """True once per offer: whoever gets it places the interpreter conference's calls (a
    requeue clears it, see routing/scripts.py put_in_queue)."""
    return bool(r.hsetnx(_key(call_sid), "confcalls", "1"))


def claim_handoff(r: redis.Redis, call_sid: str, kind: str) -> bool:
    """True for the first hand-off (red or presencial) of a caller by their agent."""
    return bool(r.hsetnx(_key(call_sid), "handoff", kind))


def remember_twilio_queue(r: redis.Redis, queue_sid: str) -> None:
    """The QueueSid Twilio reports on the wait URL (so jobs need not look it up)."""
    r.set(f"{PREFIX}qsid", queue_sid)


def twilio_queue(r: redis.Redis) -> str:
    """Twilio's queue: its QueueSid when known, else its friendly name."""
    return text(r.get(f"{PREFIX}qsid") or PLATAFORMA_QUEUE)


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
    is_new: bool  # False: the caller was in line already (waiting, offered or bridged)
    score: float
    arrival_ms: int


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
    entry = Entry(call_sid, text(reply[0]) == "queued", float(reply[1]), int(float(reply[2])))
    if entry.is_new:
        announce(r)
    return entry


def requeue(r: redis.Redis, call_sid: str, *, now: int) -> str:
    """Put back a caller who left with an agent (no answer, failed transfer): same place.

    Returns requeued, waiting (already back) or missing (unknown caller: enqueue anew)."""
    outcome = text(scripts(r).requeue(args=[call_sid, CALLER_TTL_SECONDS, now]))
    if outcome == "requeued":
        announce(r)
    return outcome


def position(r: redis.Redis, call_sid: str) -> int | None:
    """1-based place in OUR order among every waiting caller (None when not waiting)."""
    found = caller(r, call_sid)
    if found is None or found.status is not CallerStatus.WAITING:
        return None
    pipe = r.pipeline(transaction=False)
    _count_ahead(pipe, found)
    return 1 + sum(int(n) for n in pipe.execute())


def _count_ahead(pipe: redis.client.Pipeline, found: WaitingCaller) -> None:
    """One ZCOUNT a waiting set: the callers served before ``found``."""
    for name in WAITING_SETS:
        pipe.zcount(f"{PREFIX}q:{name}", "-inf", f"({found.score!r}")


def waiting_count(r: redis.Redis) -> int:
    return int(r.zcard(f"{PREFIX}w"))


@dataclass(frozen=True)
class WaitEstimate:
    """What the wait URL tells a waiting caller."""

    place: int  # 1-based, in OUR order among every waiting caller
    staffed: int  # agents staffing the line: not offline, not paused
    minutes: int  # expected wait, from recent handle times and the staffed agents


def wait_estimate(
    r: redis.Redis, found: WaitingCaller, settings: RoutingSettings
) -> WaitEstimate | None:
    """The place and expected wait of a caller read from the line a moment ago, in one round
    trip (None when they no longer wait: a dispatch in between offered them to an agent)."""
    pipe = r.pipeline(transaction=False)
    pipe.hget(_key(found.call_sid), "st")
    _count_ahead(pipe, found)
    pipe.scard(f"{PREFIX}on")
    pipe.lrange(f"{PREFIX}ht", 0, -1)
    status, *ahead, staffed, handle_times = pipe.execute()
    if text(status or "") != CallerStatus.WAITING:
        return None
    place = 1 + sum(int(n) for n in ahead)
    recent = [float(v) for v in handle_times]
    handle = sum(recent) / len(recent) if recent else float(settings.default_handle_seconds)
    rounds = math.ceil(place / max(1, int(staffed)))
    return WaitEstimate(place, int(staffed), max(1, math.ceil(rounds * handle / 60)))


def leave(
    r: redis.Redis, call_sid: str, *, now: int, new_state: CallerStatus
) -> tuple[CallerStatus | None, int]:
    """Take a waiting (or offered) caller out of line. Returns (previous status, or None for
    an unknown caller; wait ms)."""
    reply = scripts(r).leave(args=[call_sid, now, new_state.value])
    previous = text(reply[0])
    if previous in (CallerStatus.WAITING, CallerStatus.OFFERED):
        announce(r)
    return (CallerStatus(previous) if previous else None), int(reply[1])


def promote(r: redis.Redis, call_sid: str, *, step_ms: int = 1000) -> bool:
    """Move a waiting caller ahead of everyone waiting (a supervisor's decision); False when
    the caller is not waiting."""
    moved = bool(text(scripts(r).promote(args=[call_sid, step_ms])))
    if moved:
        announce(r)
    return moved


def caller_hung_up(r: redis.Redis, journal: Journal, call_sid: str, *, now: int) -> bool:
    """A caller hung up: out of line at once, registered abandoned with their wait.

    For /voice/status (CallStatus completed, busy, failed, no-answer, canceled) and the Enqueue
    action (QueueResult=hangup). Idempotent; returns True when the caller was in line.
    Never raises: a Redis failure is logged.
    """
    try:
        r.set(_ended_key(call_sid), 1, ex=CALLER_TTL_SECONDS)
        previous, wait_ms = leave(r, call_sid, now=now, new_state=CallerStatus.GONE)
    except redis.RedisError:
        log.exception("could not take %s out of the queue", call_sid)
        return False
    if previous not in (CallerStatus.WAITING, CallerStatus.OFFERED):
        return False
    journal.record(call_sid, "queue_left", "hangup", wait_seconds=round(wait_ms / 1000))
    return True


def _ended_key(call_sid: str) -> str:
    return f"{PREFIX}ended:{call_sid}"


def has_hung_up(r: redis.Redis, call_sid: str) -> bool:
    """Whether Twilio already said the call is over (a step's request may arrive after it)."""
    return bool(r.exists(_ended_key(call_sid)))


def timed_out(
    r: redis.Redis, *, now: int, settings: RoutingSettings, limit: int = 100
) -> list[str]:
    """Callers who reached the wait limit, taken out of line (state timeout)."""
    reply = scripts(r).timeouts(args=[now, settings.wait_limit_seconds * 1000, limit])
    if reply:
        announce(r)
    return [text(sid) for sid in reply]


def waiting_by_priority(r: redis.Redis) -> dict[str, int]:
    """How many callers wait, by class (preferential, authority, normal)."""
    sids = [text(sid) for sid in r.zrange(f"{PREFIX}w", 0, -1)]
    pipe = r.pipeline(transaction=False)
    for sid in sids:
        pipe.hget(_key(sid), "cls")
    counts = dict.fromkeys(("preferential", "authority", "normal"), 0)
    for priority in pipe.execute() if sids else ():
        name = text(priority) if priority else "normal"
        counts[name] = counts.get(name, 0) + 1
    return counts


@dataclass(frozen=True)
class LineCounts:
    total: int
    by_priority: dict[str, int]  # preferential, authority, normal
    by_language: dict[str, int]  # es, qu, ay


def _ask_heads(pipe: redis.client.Pipeline, limit: int) -> None:
    """The first ``limit`` callers of each waiting set, with their scores (see _in_order)."""
    for name in WAITING_SETS:
        pipe.zrange(f"{PREFIX}q:{name}", 0, limit - 1, withscores=True)


def _in_order(heads: list[Any]) -> list[tuple[float, str]]:
    """The waiting sets' heads merged: (score, CallSid), first served first."""
    return sorted((float(score), text(sid)) for found in heads for sid, score in found)


def _records(r: redis.Redis, ordered: list[tuple[float, str]]) -> list[WaitingCaller]:
    """The records of these callers, in this order (those whose record expired: left out)."""
    pipe = r.pipeline(transaction=False)
    for _score, sid in ordered:
        pipe.hgetall(_key(sid))
    replies = pipe.execute() if ordered else []
    found = (_parse(sid, raw) for (_score, sid), raw in zip(ordered, replies, strict=True))
    return [record for record in found if record is not None]


@dataclass(frozen=True)
class LineView:
    """The supervisor's view of the line (board/data.py)."""

    counts: LineCounts
    head: list[WaitingCaller]  # the first callers, in the order they will be served
    oldest_arrival_ms: int | None  # the caller waiting longest (None: nobody waits)
    waiting_since_before: int  # callers who arrived before the moment asked about


def line_view(r: redis.Redis, shown: int, *, arrived_before_ms: int) -> LineView:
    """Every waiting caller counted, the first ``shown`` of them, the longest wait and how
    many arrived before ``arrived_before_ms`` (past the alert's limit), in two round trips."""
    pipe = r.pipeline(transaction=False)
    scripts(r).line_counts(client=pipe)
    _ask_heads(pipe, shown)
    pipe.zrange(f"{PREFIX}w", 0, 0, withscores=True)
    pipe.zcount(f"{PREFIX}w", "-inf", arrived_before_ms)
    counts, *heads, oldest, over = pipe.execute()
    total, pref, auth, normal, es, qu, ay = (int(v) for v in counts)
    return LineView(
        counts=LineCounts(
            total,
            {"preferential": pref, "authority": auth, "normal": normal},
            {"es": es, "qu": qu, "ay": ay},
        ),
        head=_records(r, _in_order(heads)[:shown]),
        oldest_arrival_ms=int(oldest[0][1]) if oldest else None,
        waiting_since_before=int(over),
    )


def waiting_snapshot(r: redis.Redis, limit: int = 200) -> list[dict[str, str]]:
    """The first ``limit`` waiting callers in OUR order (for the console and the CLI), in two
    round trips: the heads of the waiting sets, then their records."""
    pipe = r.pipeline(transaction=False)
    _ask_heads(pipe, limit)
    return [
        {
            "call_sid": found.call_sid,
            "priority": found.priority,
            "language": found.language,
            "line": found.line,
            "score": str(int(found.score)),
            "arrival_ms": str(found.arrival_ms),
        }
        for found in _records(r, _in_order(pipe.execute())[:limit])
    ]
