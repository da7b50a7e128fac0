"""Journey events as the call flow and routing record them (register/events.py's vocabulary)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

T0 = datetime(2026, 10, 14, 15, 0, 0, tzinfo=UTC)  # 10:00 in Lima


def event(
    call_sid: str, step: str, choice: str | None = None, *, at: datetime, **data: Any
) -> dict[str, Any]:
    return {
        "id": uuid.uuid4().hex,
        "call_sid": call_sid,
        "step": step,
        "choice": choice,
        "at": at.isoformat(),
        "data": data,
    }


def plataforma_answered(call_sid: str, start: datetime = T0) -> list[dict[str, Any]]:
    """Estado de un trámite: expediente, Plataforma, answered after 15 s, survey 4."""
    s = start
    return [
        event(
            call_sid,
            "incoming",
            at=s,
            **{"from": "+51987654321", "to": "+5113115930", "region": "Lima"},
        ),
        event(call_sid, "language", "es", at=s + timedelta(seconds=8)),
        event(call_sid, "main_menu", "1", at=s + timedelta(seconds=15), detalle="estado_tramite"),
        event(call_sid, "expediente", at=s + timedelta(seconds=30), expediente="2026-0012345"),
        event(call_sid, "plataforma", at=s + timedelta(seconds=31), reason="menu"),
        event(call_sid, "queued", at=s + timedelta(seconds=32), priority="normal", language="es"),
        event(
            call_sid,
            "agent_answered",
            at=s + timedelta(seconds=47),
            agent_id=3,
            nombre="Rosa Quispe",
            wait_seconds=15,
        ),
        event(call_sid, "queue_left", "bridged", at=s + timedelta(seconds=47), wait_seconds=15),
        event(call_sid, "survey", "4", at=s + timedelta(seconds=227)),
        event(call_sid, "status", "completed", at=s + timedelta(seconds=240), duration=240),
    ]


def technical_alterno(call_sid: str, start: datetime = T0) -> list[dict[str, Any]]:
    """Consulta técnica: the titular does not answer, the alterno accepts."""
    s = start
    return [
        event(
            call_sid,
            "incoming",
            at=s,
            **{"from": "+51912345678", "to": "+5113115930", "region": "Cusco"},
        ),
        event(call_sid, "language", "qu", at=s + timedelta(seconds=6)),
        event(call_sid, "main_menu", "3", at=s + timedelta(seconds=12), detalle="consulta_tecnica"),
        event(call_sid, "organo", "DGPP", at=s + timedelta(seconds=20)),
        event(
            call_sid,
            "summary",
            at=s + timedelta(seconds=40),
            recording_url="https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE" + "a" * 32,
        ),
        event(
            call_sid,
            "dial",
            "titular",
            at=s + timedelta(seconds=41),
            anexo="1201",
            nombre="Ana Torres",
        ),
        event(
            call_sid,
            "dial_result",
            "titular",
            at=s + timedelta(seconds=61),
            outcome="no-answer",
            duration=0,
        ),
        event(
            call_sid,
            "dial",
            "alterno",
            at=s + timedelta(seconds=62),
            anexo="1202",
            nombre="Luis Mamani",
        ),
        event(
            call_sid,
            "dial_result",
            "alterno",
            at=s + timedelta(seconds=70),
            outcome="accepted",
            duration=0,
        ),
        event(call_sid, "survey", None, at=s + timedelta(seconds=300)),
        event(call_sid, "status", "completed", at=s + timedelta(seconds=305), duration=305),
    ]


def abandoned_in_queue(call_sid: str, start: datetime = T0) -> list[dict[str, Any]]:
    s = start
    return [
        event(call_sid, "incoming", at=s, **{"from": "+51999888777", "region": None}),
        event(call_sid, "language", "es", at=s + timedelta(seconds=5)),
        event(call_sid, "main_menu", "9", at=s + timedelta(seconds=10), detalle="preferencial"),
        event(call_sid, "preferential", "adulto_mayor", at=s + timedelta(seconds=14)),
        event(call_sid, "plataforma", at=s + timedelta(seconds=15), reason="preferential"),
        event(
            call_sid, "queued", at=s + timedelta(seconds=15), priority="preferential", language="es"
        ),
        event(call_sid, "queue_left", "hangup", at=s + timedelta(seconds=75), wait_seconds=60),
        event(call_sid, "status", "completed", at=s + timedelta(seconds=75), duration=75),
    ]


def closed_voicemail(call_sid: str, start: datetime = T0) -> list[dict[str, Any]]:
    s = start
    return [
        event(call_sid, "incoming", at=s, **{"from": "+51987000111", "region": "Puno"}),
        event(call_sid, "closed", at=s + timedelta(seconds=1), reason="fuera_de_horario"),
        event(call_sid, "closed_option", "2", at=s + timedelta(seconds=12)),
        event(
            call_sid,
            "voicemail",
            at=s + timedelta(seconds=50),
            recording_sid="RE" + "b" * 32,
            recording_url="https://api.twilio.com/Recordings/RE" + "b" * 32,
            duration=35,
        ),
        event(call_sid, "status", "completed", at=s + timedelta(seconds=52), duration=52),
    ]


def technical_call(
    call_sid: str,
    start: datetime,
    organo: str,
    legs: list[tuple[str, str, str, str]],
    *,
    caller: str = "+51987654321",
    summary_url: str | None = None,
) -> list[dict[str, Any]]:
    """A technical query for ``organo``: each leg (rol, nombre, anexo, outcome) dialed in
    turn; none accepted → the Plataforma answers."""
    s = start
    events = [
        event(call_sid, "incoming", at=s, **{"from": caller, "region": "Lima"}),
        event(call_sid, "language", "es", at=s + timedelta(seconds=5)),
        event(call_sid, "main_menu", "3", at=s + timedelta(seconds=10), detalle="consulta_tecnica"),
        event(call_sid, "organo", organo, at=s + timedelta(seconds=15)),
    ]
    if summary_url:
        events.append(
            event(call_sid, "summary", at=s + timedelta(seconds=30), recording_url=summary_url)
        )
    t = s + timedelta(seconds=31)
    accepted = False
    for rol, nombre, anexo, outcome in legs:
        events.append(event(call_sid, "dial", rol, at=t, anexo=anexo, nombre=nombre))
        t += timedelta(seconds=20)
        events.append(event(call_sid, "dial_result", rol, at=t, outcome=outcome, duration=0))
        t += timedelta(seconds=1)
        accepted = accepted or outcome == "accepted"
    if not accepted:
        events.append(event(call_sid, "plataforma", at=t, reason="route_failed"))
        events.append(event(call_sid, "queued", at=t, priority="normal", language="es"))
        events.append(
            event(call_sid, "agent_answered", at=t + timedelta(seconds=9), agent_id=1,
                  nombre="Rosa Huamán Quispe", wait_seconds=9)
        )  # fmt: skip
    events.append(
        event(call_sid, "status", "completed", at=t + timedelta(seconds=200), duration=250)
    )
    return events
