"""What the call flow knows about a call, kept in Redis between webhooks (keyed by CallSid).

Shared contract: the call flow (ivr/) writes it, routing (routing/) reads it for whispers and
priority, the register reads the journey events, not this. A Redis failure raises
``redis.RedisError``; callers on the webhook path catch it and fall back to a safe route.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import orjson

from extensions import redis_store

STATE_TTL_SECONDS = 6 * 3600
LANGUAGES = ("es", "qu", "ay")
PREFERENTIAL_REASONS = ("gestante", "adulto_mayor", "discapacidad")


@dataclass
class CallState:
    call_sid: str
    from_number: str = ""
    to_number: str = ""
    started_at: str = ""  # ISO 8601, UTC
    language: str = "es"
    tipo_usuario: str = "ciudadano"  # or "autoridad"
    preferencial: str | None = None  # one of PREFERENTIAL_REASONS
    tipo_consulta: str | None = None  # "administrativa" or "tecnica"
    detalle: str | None = None  # estado_tramite, informacion, consulta_tecnica, conectamef, asesor
    expediente: str | None = None
    organo_sigla: str | None = None
    region: str | None = None  # department, from the number or the caller's choice
    summary_url: str | None = None  # the caller's short recorded summary, technical route
    derivacion: str | None = None  # titular, alterno, plataforma
    attempts: dict[str, int] = field(default_factory=dict)  # wrong/no input per step
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> bytes:
        # The fields by name, not dataclasses.asdict: no deep copy on every webhook.
        return orjson.dumps({name: getattr(self, name) for name in _FIELDS})

    @classmethod
    def from_json(cls, raw: str | bytes) -> CallState:
        data = orjson.loads(raw)
        return cls(**{k: v for k, v in data.items() if k in _KNOWN})


_FIELDS = tuple(f.name for f in fields(CallState))
_KNOWN = frozenset(_FIELDS)


def state_key(call_sid: str) -> str:
    return f"call:{call_sid}:state"


_key = state_key


def load(call_sid: str) -> CallState | None:
    raw = redis_store.client.get(_key(call_sid))
    return CallState.from_json(raw) if raw else None


def load_or_new(call_sid: str, **defaults: Any) -> CallState:
    return load(call_sid) or CallState(call_sid=call_sid, **defaults)


def save(state: CallState) -> None:
    redis_store.client.set(_key(state.call_sid), state.to_json(), ex=STATE_TTL_SECONDS)
