"""What the call flow knows about a call, kept in Redis between webhooks (keyed by CallSid).

The call flow (ivr/) writes it, at the end of each webhook step (webhooks/steps.py); routing
reads it for whispers and priority. The register does not: it reads the journey events.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import orjson
from redis import Redis
from redis.client import Pipeline

STATE_TTL_SECONDS = 6 * 3600


@dataclass
class CallState:
    call_sid: str
    from_number: str = ""
    to_number: str = ""
    started_at: str = ""  # ISO 8601, UTC
    language: str = "es"  # or "qu", "ay"
    tipo_usuario: str = "ciudadano"  # or "autoridad"
    preferencial: str | None = None  # gestante, adulto_mayor or discapacidad
    detalle: str | None = None  # estado_tramite, informacion, consulta_tecnica, conectamef, asesor
    expediente: str | None = None
    organo_sigla: str | None = None
    region: str | None = None  # department, from the number or the caller's choice
    summary_url: str | None = None  # the caller's short recorded summary, technical route
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> bytes:
        return orjson.dumps({name: getattr(self, name) for name in _FIELDS})

    @classmethod
    def from_json(cls, raw: str | bytes) -> CallState:
        data = orjson.loads(raw)
        return cls(**{k: v for k, v in data.items() if k in _KNOWN})


_FIELDS = tuple(f.name for f in fields(CallState))
_KNOWN = frozenset(_FIELDS)


def state_key(call_sid: str) -> str:
    return f"call:{call_sid}:state"


def load(r: Redis, call_sid: str) -> CallState | None:
    raw = r.get(state_key(call_sid))
    return CallState.from_json(raw) if raw else None


def save(r: Redis | Pipeline, state: CallState) -> None:
    r.set(state_key(state.call_sid), state.to_json(), ex=STATE_TTL_SECONDS)
