"""From a call's journey events to its Anexo 1 row (a pure function), and phone masking.

The row is derived from ALL the stored events of the call, sorted by time, every time: the
same events in any order, with any duplicates, give the same row. The vocabulary is the table
in ivr/journey.py's docstring.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from clock import to_lima

COLUMNS = (
    "fecha",
    "hora_inicio",
    "hora_fin",
    "call_sid",
    "canal",
    "telefono",
    "region",
    "idioma",
    "tipo_usuario",
    "preferencial",
    "tipo_consulta",
    "detalle",
    "expediente",
    "organo",
    "derivacion",
    "atendido_por",
    "resultado",
    "espera_seg",
    "duracion_seg",
    "encuesta",
)

RESULTADOS = (
    "atendida",
    "abandonada",
    "devolucion_solicitada",
    "mensaje_de_voz",
    "fuera_de_horario",
)
FINAL_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})
_RECORDING_SID = re.compile(r"RE[0-9a-fA-F]{32}")


def parse_at(value: Any) -> datetime:
    """An event's ``at`` (ISO 8601 string or datetime) as an aware UTC datetime."""
    if value.__class__ is str:
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is UTC:  # "+00:00", as ivr.journey.record_event writes it
            return moment
    else:
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def mask_phone(number: str | None) -> str | None:
    """``+51987654321`` → ``+51 9** *** 321``: country code, first digit and last three kept.

    Masking a masked number gives it back unchanged; text without digits is kept as is.
    """
    if not number:
        return number
    if "*" in number:
        return number
    digits = re.sub(r"\D", "", number)
    if len(digits) < 5:
        return "*" * len(digits) if digits else number
    country = ""
    national = digits
    if number.strip().startswith("+"):
        import phonenumbers

        try:
            parsed = phonenumbers.parse(number, None)
            country = str(parsed.country_code)
            national = str(parsed.national_number)
        except phonenumbers.NumberParseException:
            country, national = digits[:2], digits[2:]
    if len(national) < 5:
        return (f"+{country} " if country else "") + "*" * len(national)
    head = national[0] + "*" * (len(national) - 4)
    groups = [head[i : i + 3] for i in range(0, len(head), 3)]
    masked = " ".join([*groups, national[-3:]])
    return f"+{country} {masked}" if country else masked


def recording_sid_of(url: str | None) -> str | None:
    """The RE… sid inside a Twilio recording URL, if any."""
    if not url:
        return None
    match = _RECORDING_SID.search(url)
    return match.group(0) if match else None


def _seconds(value: Any) -> int | None:
    try:
        return max(0, int(float(value)))
    except (TypeError, ValueError):
        return None


# An ISO 8601 UTC time exactly as datetime.isoformat() writes it (with microseconds when they
# are not zero): such an ``at`` is its own canonical text, no need to format it again.
_CANONICAL_UTC = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{6})?\+00:00"
).fullmatch


def _ordered(events: Iterable[Mapping[str, Any]]) -> list[tuple[datetime, str, dict[str, Any]]]:
    """Unique by event id, ordered by time (then id, so equal times are stable); each event
    with its parsed time and that time as ISO 8601 text (UTC), kept JSON-ready (``at`` as
    ISO 8601 text)."""
    unique: dict[str, tuple[datetime, str, Mapping[str, Any]]] = {}
    for event in events:
        event_id = str(event["id"])
        unique[event_id] = (parse_at(event["at"]), event_id, event)
    out = []
    # Sorted by (time, id): ids are unique, so the events themselves are never compared.
    for at, _id, event in sorted(unique.values()):
        raw = event["at"]
        if isinstance(raw, str) and _CANONICAL_UTC(raw) and (at.microsecond or len(raw) == 25):
            stamp = raw
        else:
            stamp = at.isoformat()
        if isinstance(raw, str) and isinstance(event, dict):
            out.append((at, stamp, event))
        else:
            out.append((at, stamp, {**event, "at": stamp}))
    return out


def sort_events(events: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Unique by event id, ordered by time (then id, so equal times are stable)."""
    return [event for _at, _stamp, event in _ordered(events)]


def build_row(call_sid: str, events: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The register row of one call (Anexo 1 columns + what is kept beside them, including
    the call's journey itself: ``events``, unique by id and sorted by time)."""
    timed = _ordered(events)
    if not timed:
        raise ValueError(f"no events for {call_sid}")
    ordered = [event for _at, _stamp, event in timed]
    start = timed[0][0]
    end = timed[-1][0]

    telefono: str | None = None
    region_from_number: str | None = None
    region_chosen: str | None = None
    idioma = "es"
    detalle: str | None = None
    expediente: str | None = None
    organo: str | None = None
    preferencial: str | None = None
    authority = False
    technical = False
    plataforma = False
    closed = False
    voicemail = False
    callback = False
    final_status: str | None = None
    status_duration: int | None = None
    status_at: datetime | None = None
    queued_at: datetime | None = None
    answered_at: datetime | None = None
    atendido_por: str | None = None
    derivacion_red: str | None = None
    espera: int | None = None
    first_dial_at: datetime | None = None
    encuesta: int | None = None
    path: list[list[Any]] = []
    dials: list[dict[str, Any]] = []
    transfers: list[dict[str, Any]] = []
    recordings: list[dict[str, Any]] = []
    callbacks: list[dict[str, Any]] = []
    survey: dict[str, Any] | None = None
    names: dict[str, str] = {}

    for at, stamp, event in timed:
        step = event["step"]
        choice = event.get("choice")
        data = event.get("data") or {}
        path.append([stamp, step, choice])
        if step == "incoming":
            telefono = data.get("from") or telefono
            region_from_number = data.get("region") or region_from_number
            start = min(start, at)
        elif step == "closed":
            closed = True
        elif step == "callback_requested":
            callback = True
            callbacks.append({"at": stamp, "source": data.get("source")})
        elif step == "voicemail":
            voicemail = True
            recordings.append(
                {
                    "kind": "voicemail",
                    "recording_sid": data.get("recording_sid"),
                    "recording_url": data.get("recording_url"),
                    "duration": data.get("duration"),
                }
            )
        elif step == "language" and choice:
            idioma = str(choice)
        elif step == "main_menu":
            detalle = data.get("detalle") or detalle
            if detalle == "autoridad":
                authority = True
            if detalle == "consulta_tecnica":
                technical = True
        elif step == "expediente":
            expediente = data.get("expediente") or expediente
        elif step == "preferential" and choice:
            preferencial = str(choice)
        elif step == "organo" and choice:
            organo = str(choice)
            technical = True
        elif step == "region" and choice:
            region_chosen = str(choice)
        elif step == "summary":
            if data.get("recording_url"):
                recordings.append(
                    {
                        "kind": "summary",
                        "recording_sid": recording_sid_of(data.get("recording_url")),
                        "recording_url": data.get("recording_url"),
                    }
                )
        elif step == "dial" and choice:
            first_dial_at = first_dial_at or at
            names[str(choice)] = data.get("nombre") or names.get(str(choice), "")
            dials.append(
                {
                    "at": stamp,
                    "rol": choice,
                    "anexo": data.get("anexo"),
                    "nombre": data.get("nombre"),
                }
            )
        elif step == "dial_result" and choice:
            outcome = data.get("outcome")
            dials.append(
                {
                    "at": stamp,
                    "rol": choice,
                    "outcome": outcome,
                    "duration": data.get("duration"),
                }
            )
            if outcome == "accepted" and derivacion_red is None:
                derivacion_red = str(choice)
                talk = _seconds(data.get("duration"))
                answered = at
                if talk is not None and at > (first_dial_at or start):
                    # The result may come at the end of the bridged conversation.
                    answered = max(first_dial_at or start, at - timedelta(seconds=talk))
                answered_at = answered_at or answered
                atendido_por = atendido_por or names.get(str(choice)) or str(choice)
                if first_dial_at is not None:
                    espera = int((answered - first_dial_at).total_seconds())
        elif step == "plataforma":
            plataforma = True
            reason = data.get("reason")
            if reason == "authority":
                authority = True
        elif step == "queued":
            plataforma = True
            queued_at = queued_at or at
            if data.get("priority") == "authority":
                authority = True
        elif step == "agent_answered":
            plataforma = True
            if answered_at is None or derivacion_red is None:
                answered_at = answered_at or at
            atendido_por = (
                atendido_por
                or data.get("nombre")
                or (f"agente {data.get('agent_id')}" if data.get("agent_id") else None)
            )
            wait = _seconds(data.get("wait_seconds"))
            if wait is None and queued_at is not None:
                wait = int((at - queued_at).total_seconds())
            if derivacion_red is None:
                espera = wait
        elif step == "queue_left":
            if espera is None and answered_at is None:
                espera = _seconds(data.get("wait_seconds"))
            if choice == "callback":
                callback = True
        elif step == "transfer":
            transfers.append(
                {
                    "at": stamp,
                    "to": data.get("to"),
                    "kind": data.get("kind"),
                    "by": data.get("by"),
                }
            )
        elif step == "survey":
            score = _seconds(choice) if choice is not None else None
            if score is not None and 1 <= score <= 5:
                encuesta = score
            survey = {"at": stamp, "score": encuesta}
        elif step == "status":
            final_status = str(choice) if choice else final_status
            if choice in FINAL_STATUSES or choice is None:
                status_at = at
                status_duration = _seconds(data.get("duration"))

    if status_at is not None:
        end = status_at
    if status_duration is not None:
        end = max(end, start + timedelta(seconds=status_duration))
    duracion = (
        status_duration if status_duration is not None else int((end - start).total_seconds())
    )

    if answered_at is not None:
        resultado = "atendida"
    elif voicemail:
        resultado = "mensaje_de_voz"
    elif callback:
        resultado = "devolucion_solicitada"
    elif closed:
        resultado = "fuera_de_horario"
    else:
        resultado = "abandonada"

    if derivacion_red is not None:
        derivacion: str | None = derivacion_red
    elif plataforma or (technical and dials):
        derivacion = "plataforma"
    else:
        derivacion = None

    if technical and preferencial is None:
        tipo_consulta: str | None = "tecnica"
    elif detalle is not None or plataforma:
        tipo_consulta = "administrativa"
    else:
        tipo_consulta = None

    atencion = int((end - answered_at).total_seconds()) if answered_at is not None else None
    start_lima = to_lima(start)
    end_lima = to_lima(end)
    return {
        "call_sid": call_sid,
        "fecha": start_lima.date(),
        "hora_inicio": start_lima.time().replace(microsecond=0, tzinfo=None),
        "hora_fin": end_lima.time().replace(microsecond=0, tzinfo=None),
        "canal": "telefonico",
        "telefono": telefono,
        "region": region_chosen or region_from_number,
        "idioma": idioma,
        "tipo_usuario": "autoridad" if authority else "ciudadano",
        "preferencial": preferencial,
        "tipo_consulta": tipo_consulta,
        "detalle": detalle,
        "expediente": expediente,
        "organo": organo,
        "derivacion": derivacion,
        "atendido_por": atendido_por,
        "resultado": resultado,
        "espera_seg": espera,
        "duracion_seg": max(0, duracion),
        "encuesta": encuesta,
        "started_at": start,
        "ended_at": end,
        "queued_at": queued_at,
        "answered_at": answered_at,
        "atencion_seg": max(0, atencion) if atencion is not None else None,
        "final_status": final_status,
        "journey": {
            "path": path,
            "queued_at": queued_at.isoformat() if queued_at else None,
            "answered_by": atendido_por,
            "dials": dials,
            "transfers": transfers,
            "survey": survey,
            "recordings": recordings,
            "callbacks": callbacks,
        },
        "events": ordered,
        "event_count": len(ordered),
    }
