"""The call's journey: every step appends an event (CallSid, step, choice, time, data).

Shared contract between the call flow, routing and the register: everyone records through
``record_event``; the register package delivers the events to the rq worker that writes the
Anexo 1 row (see register/events.py). This function never raises: an event that cannot be
queued is kept for later, never dropped, and the call goes on.

The vocabulary (step, choice, data) that the register turns into one Anexo 1 row per CallSid:

| step | choice | data |
| --- | --- | --- |
| incoming | - | from, to, region (department from the number, or None) |
| closed | - | reason: fuera_de_horario, feriado or cierre |
| closed_option | "1" / "2" / None | - |
| callback_requested | - | source (fuera_de_horario, cola, ruta_fallida, limite_espera), telefono |
| voicemail | - | recording_sid, recording_url, duration |
| language | es / qu / ay | - |
| main_menu | the key | detalle (estado_tramite, informacion, consulta_tecnica, conectamef, autoridad, preferencial, asesor) |
| expediente | - | expediente |
| preferential | gestante / adulto_mayor / discapacidad | - |
| organo | sigla | - |
| region | departamento | - |
| conectamef | centro | telefono |
| summary | - | recording_url (None when skipped) |
| dial | titular / alterno | anexo, nombre |
| dial_result | titular / alterno | outcome (accepted, no-answer, busy, failed, canceled, not-accepted), duration |
| plataforma | - | reason (menu, route_failed, wrong_input, fallback, preferential, authority, language) |
| queued | - | priority (preferential, authority, normal), language |
| agent_answered | - | agent_id, nombre, wait_seconds |
| queue_left | bridged / hangup / callback / timeout | wait_seconds |
| transfer | - | to, kind (red, plataforma, presencial), by |
| survey | "1".."5" or None (skipped) | - |
| status | CallStatus | duration (CallDuration), at the final status callback |

Data values are JSON-serialisable plain values.
"""

from __future__ import annotations

import uuid
from typing import Any

from clock import utcnow
from register.events import emit


def record_event(
    call_sid: str, step: str, choice: str | None = None, **data: Any
) -> dict[str, Any]:
    """Append an event to the call's journey and hand it to the register. Returns the event."""
    event = {
        "id": uuid.uuid4().hex,
        "call_sid": call_sid,
        "step": step,
        "choice": choice,
        "at": utcnow().isoformat(),
        "data": data,
    }
    emit(event)
    return event
