"""Plataforma agents' presence in Redis: offline, available, ringing, on_call, wrap_up, paused.

Available agents are kept by the time they became idle, so the longest idle is offered the
next caller. Every transition is one Lua script (routing/scripts.py); each change made here is
published on the live channel (``state`` on ``agent:<id>``, ``agent`` on ``line``).

An agent whose audio is the console's softphone (channel ``client``) and who set their state
from the console (``mark_console``) is offered callers only while the console is open: the
live process keeps ``livebus.here_key("agent:<id>")`` alive while its stream is, and
``drop_absent`` (the sweep) and ``routing.jobs.connect_caller`` take an agent without it offline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis
from sqlalchemy.orm import Session

import livebus
from directory.models import Agent
from routing.scripts import PREFIX, SPEAKER_LANGUAGES, scripts, text
from routing.settings import RoutingSettings

AGENT_STATES = ("offline", "available", "ringing", "on_call", "wrap_up", "paused")
SETTABLE_STATES = ("offline", "available", "wrap_up", "paused")
# Why an agent is paused (chosen on the console) or went offline (set by the engine).
PAUSE_REASONS = ("refrigerio", "capacitacion", "gestion", "bano")
ENGINE_REASONS = ("sin_respuesta", "consola_cerrada", "sin_softphone")


class StateRefused(Exception):
    """The agent is ringing or on a call: the change must wait."""

    def __init__(self, current: str) -> None:
        super().__init__(f"the agent is {current}")
        self.current = current


@dataclass(frozen=True)
class AgentPresence:
    agent_id: int
    state: str
    languages: tuple[str, ...]
    since_ms: int
    misses: int
    call_sid: str | None
    reason: str | None = None  # PAUSE_REASONS while paused; ENGINE_REASONS when the engine set it
    wrap_until_ms: int | None = None  # while in wrap-up: when it ends
    console: bool = False  # must keep the console open to be offered callers

    def as_event(self) -> dict[str, object]:
        """The ``state`` event's data (and /agente/api/estado's ``presencia``)."""
        return {
            "agent_id": self.agent_id,
            "estado": self.state,
            "motivo": self.reason,
            "desde_ms": self.since_ms,
            "llamada": self.call_sid,
            "fin_cierre_ms": self.wrap_until_ms,
            "fallos": self.misses,
        }


def set_state(
    r: redis.Redis,
    agent_id: int,
    target: str,
    *,
    languages: list[str],
    now: int,
    settings: RoutingSettings,
    reason: str | None = None,
) -> str:
    """Move an agent to ``target`` (paused or offline: with an optional ``reason``); raises
    StateRefused while ringing or on a call. Published on the live channel."""
    if target not in SETTABLE_STATES:
        raise ValueError(f"unknown agent state {target!r}")
    if reason is not None and reason not in PAUSE_REASONS + ENGINE_REASONS:
        raise ValueError(f"unknown reason {reason!r}")
    wrap_until = now + settings.wrap_up_seconds * 1000
    langs = ",".join(c for c in languages if c in SPEAKER_LANGUAGES)  # those routing knows
    verdict, state = scripts(r).agent_set(args=[agent_id, target, now, langs, wrap_until])
    if text(verdict) != "ok":
        raise StateRefused(text(state))
    key = f"{PREFIX}a:{agent_id}"
    if reason and target in ("paused", "offline"):
        r.hset(key, "reason", reason)
    else:
        r.hdel(key, "reason")
    publish_state(r, agent_id)
    return text(state)


def publish_state(r: redis.Redis, agent_id: int) -> AgentPresence:
    """Tell the agent's console and the board (``line``) the agent's presence now."""
    found = presence(r, agent_id)
    data = found.as_event()
    with r.pipeline(transaction=False) as pipe:
        livebus.publish_in(pipe, f"agent:{agent_id}", "state", data)
        livebus.publish_in(pipe, "line", "agent", data)
        pipe.execute()
    return found


def mark_console(r: redis.Redis, agent_id: int, *, softphone: bool) -> None:
    """The agent works from the console; with the softphone (channel ``client``) they are
    offered callers only while it is open."""
    r.hset(f"{PREFIX}a:{agent_id}", "console", "1" if softphone else "0")


def is_absent(r: redis.Redis, agent_id: int) -> bool:
    """A softphone agent whose console is not open (the live process keeps no key)."""
    flag = r.hget(f"{PREFIX}a:{agent_id}", "console")
    if flag is None or text(flag) != "1":
        return False
    return not livebus.is_listening(r, f"agent:{agent_id}")


def drop_absent(r: redis.Redis, *, now: int, settings: RoutingSettings) -> list[int]:
    """Softphone agents available or in wrap-up whose console closed: offline now (reason
    ``consola_cerrada``), so no caller is offered to them. Returns their ids."""
    dropped = []
    for raw in r.smembers(f"{PREFIX}on"):
        agent_id = int(text(raw))
        found = presence(r, agent_id)
        if found.state not in ("available", "wrap_up") or not is_absent(r, agent_id):
            continue
        if console_closed(r, found, now=now, settings=settings):
            dropped.append(agent_id)
    return dropped


def console_closed(
    r: redis.Redis,
    found: AgentPresence,
    *,
    now: int,
    settings: RoutingSettings,
    reason: str = "consola_cerrada",
) -> bool:
    """An agent whose console closed (or lost its softphone: ``reason``) goes offline.
    False when refused: offered a caller meanwhile (connect_caller sees the console is gone)."""
    try:
        set_state(
            r,
            found.agent_id,
            "offline",
            languages=list(found.languages),
            now=now,
            settings=settings,
            reason=reason,
        )
    except StateRefused:
        return False
    return True


def set_state_from_directory(
    session: Session,
    r: redis.Redis,
    agent_id: int,
    target: str,
    *,
    now: int,
    settings: RoutingSettings,
    reason: str | None = None,
) -> str:
    """Same as set_state, with the agent's languages from the directory; the agent must be
    active to become available."""
    agent = session.get(Agent, agent_id)
    if agent is None:
        raise LookupError(f"agent {agent_id} does not exist")
    if target in ("available", "wrap_up") and not agent.activo:
        raise StateRefused("inactive")
    r.hset(f"{PREFIX}a:{agent_id}", "name", agent.nombre)
    return set_state(
        r,
        agent_id,
        target,
        languages=agent.language_codes,
        now=now,
        settings=settings,
        reason=reason,
    )


def presence(r: redis.Redis, agent_id: int) -> AgentPresence:
    return presences(r, [agent_id])[0]


def presences(r: redis.Redis, agent_ids: list[int]) -> list[AgentPresence]:
    """The presence of each of these agents, in one round trip."""
    with r.pipeline(transaction=False) as pipe:
        for agent_id in agent_ids:
            pipe.hgetall(f"{PREFIX}a:{agent_id}")
            pipe.zscore(f"{PREFIX}wrap", agent_id)
        replies = pipe.execute() if agent_ids else []
    return [
        _presence(agent_id, replies[2 * n], replies[2 * n + 1])
        for n, agent_id in enumerate(agent_ids)
    ]


def _presence(agent_id: int, fields: dict[Any, Any], wrap_until: Any) -> AgentPresence:
    raw = {text(k): text(v) for k, v in fields.items()}
    state = raw.get("st", "offline")
    return AgentPresence(
        agent_id=agent_id,
        state=state,
        languages=tuple(x for x in raw.get("langs", "").split(",") if x),
        since_ms=int(float(raw.get("since", "0") or 0)),
        misses=int(raw.get("misses", "0") or 0),
        call_sid=raw.get("call") or None,
        reason=(raw.get("reason") or None) if state in ("paused", "offline") else None,
        wrap_until_ms=int(wrap_until) if wrap_until is not None and state == "wrap_up" else None,
        console=raw.get("console") == "1",
    )


def name_of(r: redis.Redis, agent_id: int) -> str | None:
    """The agent's name as the directory had it when they last changed state."""
    name = r.hget(f"{PREFIX}a:{agent_id}", "name")
    return text(name) if name is not None else None


def answered(r: redis.Redis, call_sid: str, agent_id: int, *, now: int) -> int | None:
    """The agent picked up the offered caller. Returns the caller's wait in ms, or None when
    this offer is no longer current (a retry, or the caller left)."""
    wait = int(scripts(r).answered(args=[call_sid, agent_id, now]))
    if wait < 0:
        return None
    publish_state(r, agent_id)
    return wait


def missed(
    r: redis.Redis, call_sid: str, agent_id: int, *, now: int, settings: RoutingSettings
) -> tuple[bool, str]:
    """The agent did not answer: the caller goes back to their place; the agent is paused
    after ``max_misses`` misses in a row. Returns (caller requeued, agent state)."""
    requeued, state = scripts(r).no_answer(args=[call_sid, agent_id, now, settings.max_misses])
    if text(state) == "paused":
        r.hset(f"{PREFIX}a:{agent_id}", "reason", "sin_respuesta")
    if int(requeued):
        publish_state(r, agent_id)
    return bool(int(requeued)), text(state)


def conversation_ended(
    r: redis.Redis,
    call_sid: str,
    agent_id: int,
    *,
    now: int,
    handle_seconds: int,
    settings: RoutingSettings,
) -> bool:
    """The conversation is over: the agent goes to wrap-up; the handle time is recorded."""
    wrap_until = now + settings.wrap_up_seconds * 1000
    done = bool(
        int(scripts(r).ended(args=[call_sid, agent_id, now, wrap_until, max(0, handle_seconds)]))
    )
    if done:
        publish_state(r, agent_id)
    return done


def hand_over(r: redis.Redis, call_sid: str, to_agent: int, *, now: int) -> bool:
    """A cold transfer to another agent: the caller now talks with ``to_agent`` (who must be
    available: they are on this call from now on, and end it in wrap-up like any call)."""
    return bool(int(scripts(r).handover(args=[call_sid, to_agent, now])))


def stuck_ringing(r: redis.Redis, *, now: int, older_than_ms: int) -> list[tuple[int, str]]:
    """Agents offered a caller long ago whose call never reached them: (agent, call)."""
    out = []
    for a in r.zrangebyscore(f"{PREFIX}ring", "-inf", now - older_than_ms):
        p = presence(r, int(text(a)))
        if p.state == "ringing" and p.call_sid:
            out.append((p.agent_id, p.call_sid))
    return out
