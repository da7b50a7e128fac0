"""The Plataforma caller's conference and its legs, as kept in Redis.

Every caller taken from the line talks in a conference named for their call
(``flows.conference_name``). Its hash ``rt:cf:{CallSid}`` keeps the ConferenceSid (learnt from
the conference's status callback, or looked up by name), the agent and their leg's CallSid,
whether the caller is on hold, and the leg being consulted (a warm transfer). Each later leg
(a Red titular or alterno, another agent, a CONECTAMEF center) has its own hash
``rt:leg:{leg id}``: who it calls, in which role, its Twilio CallSid and its last status. Only
this module reads or writes those keys; every write is idempotent, so a webhook Twilio sends
twice changes nothing.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import redis

from register.events import NOT_CONNECTED
from routing.scripts import CALLER_TTL_SECONDS, PREFIX, text

MISSED = NOT_CONNECTED | {"not-accepted"}  # the whisper ended without the 1
# Twilio's CallStatus of a leg -> the state the console and the journey name.
STATUS_NAMES = {
    "initiated": "initiated",
    "queued": "initiated",
    "ringing": "ringing",
    "in-progress": "answered",
    "answered": "answered",
    "completed": "completed",
    "busy": "busy",
    "failed": "failed",
    "no-answer": "no-answer",
    "canceled": "canceled",
}


def conference_name(call_sid: str) -> str:
    """The caller's conference, named for their call."""
    return f"plataforma-{call_sid}"


def _cf(call_sid: str) -> str:
    return f"{PREFIX}cf:{call_sid}"


def _leg(leg_id: str) -> str:
    return f"{PREFIX}leg:{leg_id}"


def _fields(raw: dict[Any, Any]) -> dict[str, str]:
    return {text(k): text(v) for k, v in raw.items()}


@dataclass(frozen=True)
class Conference:
    call_sid: str
    sid: str | None  # the ConferenceSid (CF...), once Twilio told it
    agent_id: int | None
    agent_leg: str | None  # the agent's leg CallSid
    on_hold: bool
    consult: str | None  # the leg id of the transfer in progress
    mode: str | None  # consult, three_way, transferred, cold


def conference(r: redis.Redis, call_sid: str) -> Conference:
    f = _fields(r.hgetall(_cf(call_sid)))
    agent = f.get("agent", "")
    return Conference(
        call_sid=call_sid,
        sid=f.get("sid") or None,
        agent_id=int(agent) if agent.isdigit() else None,
        agent_leg=f.get("agent_leg") or None,
        on_hold=f.get("hold") == "1",
        consult=f.get("consult") or None,
        mode=f.get("mode") or None,
    )


def _set(r: redis.Redis, key: str, values: dict[str, Any]) -> None:
    with r.pipeline() as pipe:
        pipe.hset(key, mapping={k: "" if v is None else str(v) for k, v in values.items()})
        pipe.expire(key, CALLER_TTL_SECONDS)
        pipe.execute()


def remember_sid(r: redis.Redis, call_sid: str, conference_sid: str) -> None:
    _set(r, _cf(call_sid), {"sid": conference_sid})


def set_agent_leg(r: redis.Redis, call_sid: str, agent_id: int, leg_sid: str) -> None:
    """The agent's leg into this caller's conference (a new offer replaces the last one)."""
    r.hdel(_cf(call_sid), "consult", "mode", "hold")
    _set(r, _cf(call_sid), {"agent": agent_id, "agent_leg": leg_sid})


def set_hold(r: redis.Redis, call_sid: str, on: bool) -> None:
    _set(r, _cf(call_sid), {"hold": "1" if on else ""})


def start_consult(r: redis.Redis, call_sid: str, leg_id: str, mode: str = "consult") -> bool:
    """True when no other transfer is in progress for this caller (then this one is)."""
    if not r.hsetnx(_cf(call_sid), "consult", leg_id):
        return False
    _set(r, _cf(call_sid), {"mode": mode})
    return True


def set_mode(r: redis.Redis, call_sid: str, mode: str) -> None:
    _set(r, _cf(call_sid), {"mode": mode})


def end_consult(r: redis.Redis, call_sid: str, leg_id: str) -> bool:
    """Forget the transfer in progress if it is ``leg_id``'s; True when it was."""
    if text(r.hget(_cf(call_sid), "consult") or "") != leg_id:
        return False
    r.hdel(_cf(call_sid), "consult", "mode")
    return True


@dataclass(frozen=True)
class Leg:
    leg_id: str
    call_sid: str  # the caller's call
    kind: str  # red, agente, conectamef
    rol: str  # titular, alterno, agente, conectamef
    nombre: str  # who is called
    to: str  # the anexo, the agent id or the number (what the journey keeps)
    organo: str | None  # the órgano's sigla (red)
    agent_id: int  # the agent who placed the leg
    warm: bool  # a warm transfer (consult first); False: cold
    sid: str | None  # the leg's CallSid
    estado: str  # its last state (STATUS_NAMES, accepted, not-accepted, removed)
    accepted: bool
    target_agent: int | None  # kind agente: the agent called


def new_leg(
    r: redis.Redis,
    call_sid: str,
    *,
    kind: str,
    rol: str,
    nombre: str,
    to: str,
    agent_id: int,
    warm: bool,
    organo: str | None = None,
    target_agent: int | None = None,
) -> Leg:
    leg_id = "LG" + secrets.token_hex(8)
    _set(
        r,
        _leg(leg_id),
        {
            "call": call_sid,
            "kind": kind,
            "rol": rol,
            "nombre": nombre,
            "to": to,
            "organo": organo,
            "agent": agent_id,
            "warm": "1" if warm else "",
            "estado": "initiated",
            "seen:initiated": "1",  # told when placed: Twilio's "initiated" is no news
            "target_agent": target_agent,
        },
    )
    found = leg(r, leg_id)
    assert found is not None
    return found


def leg(r: redis.Redis, leg_id: str) -> Leg | None:
    f = _fields(r.hgetall(_leg(leg_id)))
    if "call" not in f:
        return None
    target = f.get("target_agent", "")
    return Leg(
        leg_id=leg_id,
        call_sid=f["call"],
        kind=f.get("kind", "red"),
        rol=f.get("rol", ""),
        nombre=f.get("nombre", ""),
        to=f.get("to", ""),
        organo=f.get("organo") or None,
        agent_id=int(f.get("agent") or 0),
        warm=f.get("warm") == "1",
        sid=f.get("sid") or None,
        estado=f.get("estado", ""),
        accepted=f.get("accepted") == "1",
        target_agent=int(target) if target.isdigit() else None,
    )


def set_leg_sid(r: redis.Redis, leg_id: str, sid: str) -> None:
    _set(r, _leg(leg_id), {"sid": sid})


def claim_leg_call(r: redis.Redis, leg_id: str) -> bool:
    """True once per leg: whoever gets it places the leg's call (a job's retry does not)."""
    return bool(r.hsetnx(_leg(leg_id), "placed", "1"))


def claim_state(r: redis.Redis, leg_id: str, state: str) -> bool:
    """Move the leg to ``state``; True the first time (a status Twilio sends twice: False).
    A leg that ended (missed, completed, removed) keeps its outcome."""
    if not r.hsetnx(_leg(leg_id), f"seen:{state}", "1"):
        return False
    if state == "accepted":
        r.hset(_leg(leg_id), "accepted", "1")
    current = text(r.hget(_leg(leg_id), "estado") or "")
    if current not in MISSED | {"completed", "removed"}:
        r.hset(_leg(leg_id), "estado", state)
    return True


def claim_agent_state(r: redis.Redis, call_sid: str, leg_sid: str, state: str) -> bool:
    """True the first time the agent's leg ``leg_sid`` reports ``state``."""
    key = f"{PREFIX}cf:{call_sid}:seen"
    with r.pipeline() as pipe:
        pipe.hsetnx(key, f"{leg_sid}:{state}", "1")
        pipe.expire(key, CALLER_TTL_SECONDS)
        first, _ = pipe.execute()
    return bool(first)


def remember_outbound(r: redis.Redis, call_sid: str, agent_id: int) -> None:
    """An agent's outbound call from the console (a return): who placed it."""
    r.set(f"{PREFIX}out:{call_sid}", agent_id, ex=CALLER_TTL_SECONDS)


def outbound_agent(r: redis.Redis, call_sid: str) -> int | None:
    value = text(r.get(f"{PREFIX}out:{call_sid}") or b"")
    return int(value) if value.isdigit() else None
