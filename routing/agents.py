"""Plataforma agents' presence in Redis: offline, available, ringing, on_call, wrap_up, paused.

Available agents are kept by the time they became idle, so the longest idle is offered the
next caller. Every transition is one Lua script (routing/scripts.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import redis
from sqlalchemy.orm import Session

from directory.models import Agent
from routing.queue import announce
from routing.scripts import PREFIX, SPEAKER_LANGUAGES, scripts, text
from routing.settings import RoutingSettings

AGENT_STATES = ("offline", "available", "ringing", "on_call", "wrap_up", "paused")
SETTABLE_STATES = ("offline", "available", "wrap_up", "paused")


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


def speaker_languages(codes: list[str]) -> list[str]:
    """The languages besides Spanish that matter for routing."""
    return [c for c in codes if c in SPEAKER_LANGUAGES]


def set_state(
    r: redis.Redis,
    agent_id: int,
    target: str,
    *,
    languages: list[str],
    now: int,
    settings: RoutingSettings,
) -> str:
    """Move an agent to ``target``; raises StateRefused while ringing or on a call."""
    if target not in SETTABLE_STATES:
        raise ValueError(f"unknown agent state {target!r}")
    wrap_until = now + settings.wrap_up_seconds * 1000
    langs = ",".join(speaker_languages(languages))
    verdict, state = scripts(r).agent_set(args=[agent_id, target, now, langs, wrap_until])
    if text(verdict) != "ok":
        raise StateRefused(text(state))
    announce(r)
    return text(state)


def set_state_from_directory(
    session: Session,
    r: redis.Redis,
    agent_id: int,
    target: str,
    *,
    now: int,
    settings: RoutingSettings,
) -> str:
    """Same as set_state, with the agent's languages from the directory; the agent must be
    active to become available."""
    agent = session.get(Agent, agent_id)
    if agent is None:
        raise LookupError(f"agent {agent_id} does not exist")
    if target in ("available", "wrap_up") and not agent.activo:
        raise StateRefused("inactive")
    state = set_state(
        r, agent_id, target, languages=agent.language_codes, now=now, settings=settings
    )
    r.hset(f"{PREFIX}a:{agent_id}", "name", agent.nombre)
    return state


def presence(r: redis.Redis, agent_id: int) -> AgentPresence:
    raw = {text(k): text(v) for k, v in r.hgetall(f"{PREFIX}a:{agent_id}").items()}
    return AgentPresence(
        agent_id=agent_id,
        state=raw.get("st", "offline"),
        languages=tuple(x for x in raw.get("langs", "").split(",") if x),
        since_ms=int(float(raw.get("since", "0") or 0)),
        misses=int(raw.get("misses", "0") or 0),
        call_sid=raw.get("call") or None,
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
    announce(r)
    return wait


def missed(
    r: redis.Redis, call_sid: str, agent_id: int, *, now: int, settings: RoutingSettings
) -> tuple[bool, str]:
    """The agent did not answer: the caller goes back to their place; the agent is paused
    after ``max_misses`` misses in a row. Returns (caller requeued, agent state)."""
    requeued, state = scripts(r).no_answer(args=[call_sid, agent_id, now, settings.max_misses])
    if int(requeued):
        announce(r)
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
    args = [call_sid, agent_id, now, wrap_until, max(0, handle_seconds)]
    changed = bool(int(scripts(r).ended(args=args)))
    if changed:
        announce(r)
    return changed


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
