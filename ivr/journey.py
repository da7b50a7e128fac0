"""The call's journey: every step appends an event (CallSid, step, choice, time, data).

Shared contract between the call flow, routing and the register: everyone records through
``record_event``; the register package delivers the events to the rq worker that writes the
Anexo 1 row (see register/events.py). This function never raises: an event that cannot be
queued is kept for later, never dropped, and the call goes on.
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
