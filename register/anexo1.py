"""From a call's journey events to its Anexo 1 row (a pure function), and phone masking.

The row is derived from ALL the stored events of the call, every time: unique by id and sorted
by time, each event is folded into the call's ``Facts`` by the handler of its step
(``_HANDLERS``), and ``_row`` turns the facts into the row. The same events in any order, with
any duplicates, give the same row. The vocabulary is the table in register/events.py's docstring.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import phonenumbers

from clock import to_lima
from register.events import FINAL_CALL_STATUSES

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
DETALLE_PRESENCIAL = "atencion_presencial"  # an authority sent to the Módulo de Visitas (§5.5)
_RECORDING_SID = re.compile(r"RE[0-9a-fA-F]{32}")
# Control characters (C0, DEL, C1: NUL, line breaks, ...) dropped from the row's text values:
# PostgreSQL refuses NUL in text, and none belongs in an Anexo 1 cell. The call_sid is the key
# its stored journey is found by, and the journey and its events are kept as received (JSON).
_NO_CONTROL = dict.fromkeys([*range(0x20), *range(0x7F, 0xA0)])


def parse_at(value: Any) -> datetime:
    """An event's ``at`` (ISO 8601 string or datetime) as an aware UTC datetime."""
    if value.__class__ is str:
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is UTC:  # "+00:00", as register.events.Journal.record writes it
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
    if not number or "*" in number:
        return number
    digits = re.sub(r"\D", "", number)
    if len(digits) < 5:
        return "*" * len(digits) if digits else number
    country, national = "", digits
    if number.strip().startswith("+"):
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


def mask_phones_in(text: str | None) -> str | None:
    """Free text (a Red member's note) with every Peruvian or international phone number in it
    masked like ``mask_phone``; other numbers (an expediente) stay."""
    if not text:
        return text
    parts, end = [], 0
    for match in phonenumbers.PhoneNumberMatcher(text, "PE"):
        e164 = phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
        parts += [text[end : match.start], mask_phone(e164) or ""]
        end = match.end
    return "".join(parts) + text[end:]


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
    """Unique by event id, ordered by time (then id, so equal times are stable): each event
    with its parsed time and that time as ISO 8601 text (UTC), the event kept JSON-ready
    (``at`` as ISO 8601 text)."""
    unique: dict[str, tuple[datetime, str, Mapping[str, Any]]] = {}
    for event in events:
        event_id = str(event["id"])
        unique.setdefault(event_id, (parse_at(event["at"]), event_id, event))
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


class Event(NamedTuple):
    """One journey event as a step's handler reads it."""

    at: datetime
    stamp: str  # ``at`` as ISO 8601 text (UTC), as the journey keeps it
    choice: Any
    data: Mapping[str, Any]


@dataclass(slots=True)
class Facts:
    """What a call's events have told so far; each step's handler adds to it, in time order."""

    start: datetime  # the first event's time
    last_at: datetime  # the last event's time
    telefono: str | None = None
    region_from_number: str | None = None
    region_chosen: str | None = None
    idioma: str = "es"
    detalle: str | None = None
    expediente: str | None = None
    organo: str | None = None
    preferencial: str | None = None
    authority: bool = False
    technical: bool = False
    plataforma: bool = False
    closed: bool = False
    voicemail: bool = False
    callback: bool = False
    red_rol: str | None = None  # the Red member (titular, alterno) who accepted the call
    names: dict[str, str] = field(default_factory=dict)  # rol → nombre, from the dials
    first_dial_at: datetime | None = None
    queued_at: datetime | None = None
    answered_at: datetime | None = None
    atendido_por: str | None = None
    agent_id: int | None = None  # the Plataforma agent who answered
    espera: int | None = None
    encuesta: int | None = None
    final_status: str | None = None
    status_at: datetime | None = None  # the last final status callback
    status_duration: int | None = None  # its CallDuration
    # The journey kept beside the row.
    path: list[list[Any]] = field(default_factory=list)
    dials: list[dict[str, Any]] = field(default_factory=list)
    transfers: list[dict[str, Any]] = field(default_factory=list)
    interpreters: list[dict[str, Any]] = field(default_factory=list)  # every attempt
    interpreted_by: str | None = None  # the first speaker who joined the conference
    recordings: list[dict[str, Any]] = field(default_factory=list)
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    survey: dict[str, Any] | None = None
    # The console (routing.transfers, console.calls): each transfer leg's outcomes, the Red
    # member a warm transfer handed the caller to, the agent's wrap-up, a callback attempt.
    legs: list[dict[str, Any]] = field(default_factory=list)
    transferred: dict[str, Any] | None = None  # rol, nombre, organo of the Red member
    wrap_up: dict[str, Any] | None = None  # the last one the agent saved
    returns: dict[str, Any] | None = None  # callback_id, returned_call (its CallSid), kind


def _pick(data: Mapping[str, Any], *keys: str) -> dict[str, Any]:
    return {key: data.get(key) for key in keys}


def _incoming(f: Facts, e: Event) -> None:
    f.telefono = e.data.get("from") or f.telefono
    f.region_from_number = e.data.get("region") or f.region_from_number


def _closed(f: Facts, e: Event) -> None:
    f.closed = True


def _callback_requested(f: Facts, e: Event) -> None:
    f.callback = True
    f.callbacks.append({"at": e.stamp, **_pick(e.data, "source")})


def _voicemail(f: Facts, e: Event) -> None:
    f.voicemail = True
    keys = ("recording_sid", "recording_url", "duration")
    f.recordings.append({"kind": "voicemail", **_pick(e.data, *keys)})


def _language(f: Facts, e: Event) -> None:
    if e.choice:
        f.idioma = str(e.choice)


def _main_menu(f: Facts, e: Event) -> None:
    f.detalle = e.data.get("detalle") or f.detalle
    f.authority = f.authority or f.detalle == "autoridad"
    f.technical = f.technical or f.detalle == "consulta_tecnica"


def _expediente(f: Facts, e: Event) -> None:
    f.expediente = e.data.get("expediente") or f.expediente


def _preferential(f: Facts, e: Event) -> None:
    if e.choice:
        f.preferencial = str(e.choice)


def _organo(f: Facts, e: Event) -> None:
    if e.choice:
        f.organo = str(e.choice)
        f.technical = True


def _region(f: Facts, e: Event) -> None:
    if e.choice:
        f.region_chosen = str(e.choice)


def _summary(f: Facts, e: Event) -> None:
    if url := e.data.get("recording_url"):
        f.recordings.append(
            {"kind": "summary", "recording_sid": recording_sid_of(url), "recording_url": url}
        )


def _dial(f: Facts, e: Event) -> None:
    if e.choice:
        f.first_dial_at = f.first_dial_at or e.at
        if nombre := e.data.get("nombre"):
            f.names[str(e.choice)] = nombre
        f.dials.append({"at": e.stamp, "rol": e.choice, **_pick(e.data, "anexo", "nombre")})


def _dial_result(f: Facts, e: Event) -> None:
    if not e.choice:
        return
    f.dials.append({"at": e.stamp, "rol": e.choice, **_pick(e.data, "outcome", "duration")})
    if e.data.get("outcome") != "accepted" or f.red_rol is not None:
        return
    f.red_rol = rol = str(e.choice)
    # The result may come at the end of the bridged conversation: answered `duration` s before.
    dialed = f.first_dial_at or f.start
    talk = _seconds(e.data.get("duration"))
    answered = e.at
    if talk is not None and e.at > dialed:
        answered = max(dialed, e.at - timedelta(seconds=talk))
    f.answered_at = f.answered_at or answered
    f.atendido_por = f.atendido_por or f.names.get(rol) or rol
    if f.first_dial_at is not None:
        f.espera = int((answered - f.first_dial_at).total_seconds())


def _plataforma(f: Facts, e: Event) -> None:
    f.plataforma = True
    f.authority = f.authority or e.data.get("reason") == "authority"


def _queued(f: Facts, e: Event) -> None:
    f.plataforma = True
    f.queued_at = f.queued_at or e.at
    f.authority = f.authority or e.data.get("priority") == "authority"


def _agent_answered(f: Facts, e: Event) -> None:
    f.plataforma = True
    f.answered_at = f.answered_at or e.at
    agent = e.data.get("agent_id")
    f.atendido_por = (
        f.atendido_por or e.data.get("nombre") or (f"agente {agent}" if agent else None)
    )
    if f.agent_id is None and isinstance(agent, int):
        f.agent_id = agent
    if f.red_rol is None:  # else the wait is the Red member's
        wait = _seconds(e.data.get("wait_seconds"))
        if wait is None and f.queued_at is not None:
            wait = int((e.at - f.queued_at).total_seconds())
        f.espera = wait


def _queue_left(f: Facts, e: Event) -> None:
    if f.espera is None and f.answered_at is None:
        f.espera = _seconds(e.data.get("wait_seconds"))
    if e.choice == "callback":
        f.callback = True


def _transfer(f: Facts, e: Event) -> None:
    entry = {"at": e.stamp, **_pick(e.data, "to", "kind", "by")}
    entry |= {k: e.data[k] for k in ("rol", "nombre", "organo", "warm") if k in e.data}
    if e.data.get("kind") == "presencial":
        # the authority goes to the Módulo de Visitas: the row says so (the call itself was
        # answered by the agent, so its resultado stays atendida)
        f.detalle = DETALLE_PRESENCIAL
        if visita := e.data.get("visita"):
            entry["visita"] = visita
    f.transfers.append(entry)
    rol = e.data.get("rol")
    if e.data.get("kind") == "red" and rol in ("titular", "alterno"):
        # a transfer the agent completed to a Red member
        f.transferred = {"rol": rol, **_pick(e.data, "nombre", "organo")}


def _leg(f: Facts, e: Event) -> None:
    keys = ("leg", "kind", "rol", "organo", "nombre", "duration")
    f.legs.append(
        {"at": e.stamp, "outcome": e.choice, **{k: e.data[k] for k in keys if k in e.data}}
    )


def _wrap_up(f: Facts, e: Event) -> None:
    """The agent's wrap-up; saved again, the later one wins (events are in time order)."""
    keys = ("tipo_consulta", "detalle", "resultado", "agent_id", "nombre")
    f.wrap_up = {"at": e.stamp, **_pick(e.data, *keys)}


def _callback_attempt(f: Facts, e: Event) -> None:
    """An agent's call returning a callback request or a voice message (its own row)."""
    f.plataforma = True
    f.telefono = e.data.get("telefono") or f.telefono
    known = {k: v for k, v in _pick(e.data, "callback_id", "returned_call", "kind").items() if v}
    f.returns = (f.returns or {"at": e.stamp}) | known
    if e.choice is not None:
        f.returns["outcome"] = e.choice
    if e.choice == "answered":
        f.answered_at = f.answered_at or e.at
    f.atendido_por = f.atendido_por or e.data.get("nombre")
    if f.agent_id is None and isinstance(agent := e.data.get("agent_id"), int):
        f.agent_id = agent


def _interpreter(f: Facts, e: Event) -> None:
    keys = ("language", "speaker_id", "nombre")
    f.interpreters.append({"at": e.stamp, "outcome": e.choice, **_pick(e.data, *keys)})
    if e.choice == "joined" and f.interpreted_by is None:
        f.interpreted_by = e.data.get("nombre") or f"intérprete {e.data.get('speaker_id')}"


def _survey(f: Facts, e: Event) -> None:
    score = _seconds(e.choice)
    if score is not None and 1 <= score <= 5:
        f.encuesta = score
    f.survey = {"at": e.stamp, "score": f.encuesta}  # skipped or out of range: the score so far


def _status(f: Facts, e: Event) -> None:
    if e.choice:
        f.final_status = str(e.choice)
    if e.choice is None or e.choice in FINAL_CALL_STATUSES:
        f.status_at = e.at
        f.status_duration = _seconds(e.data.get("duration"))


# Steps without a handler (closed_option, conectamef, any other) only appear in the path.
_HANDLERS: dict[str, Callable[[Facts, Event], None]] = {
    "incoming": _incoming,
    "closed": _closed,
    "callback_requested": _callback_requested,
    "voicemail": _voicemail,
    "language": _language,
    "main_menu": _main_menu,
    "expediente": _expediente,
    "preferential": _preferential,
    "organo": _organo,
    "region": _region,
    "summary": _summary,
    "dial": _dial,
    "dial_result": _dial_result,
    "plataforma": _plataforma,
    "queued": _queued,
    "agent_answered": _agent_answered,
    "queue_left": _queue_left,
    "transfer": _transfer,
    "interpreter": _interpreter,
    "survey": _survey,
    "status": _status,
    "leg": _leg,
    "wrap_up": _wrap_up,
    "callback_attempt": _callback_attempt,
}


def build_row(call_sid: str, events: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The register row of one call (Anexo 1 columns + what is kept beside them, including
    the call's journey itself: ``events``, unique by id and sorted by time)."""
    timed = _ordered(events)
    if not timed:
        raise ValueError(f"no events for {call_sid}")
    facts = Facts(start=timed[0][0], last_at=timed[-1][0])
    for at, stamp, event in timed:
        step, choice = event["step"], event.get("choice")
        facts.path.append([stamp, step, choice])
        if handler := _HANDLERS.get(step):
            handler(facts, Event(at, stamp, choice, event.get("data") or {}))
    return _row(call_sid, facts, [event for _at, _stamp, event in timed])


def _resultado(f: Facts) -> str:
    if f.answered_at is not None:
        return "atendida"
    if f.voicemail:
        return "mensaje_de_voz"
    if f.callback:
        return "devolucion_solicitada"
    return "fuera_de_horario" if f.closed else "abandonada"


def _derivacion(f: Facts) -> str | None:
    if f.red_rol is not None:
        return f.red_rol
    if f.transferred is not None:  # the agent handed the caller to a Red member
        return str(f.transferred["rol"])
    # Red members dialed and none accepted: the call went on to the Plataforma.
    return "plataforma" if f.plataforma or (f.technical and f.dials) else None


def _tipo_consulta(f: Facts) -> str | None:
    if f.wrap_up and f.wrap_up.get("tipo_consulta"):  # the agent's correction wins
        return str(f.wrap_up["tipo_consulta"])
    if f.technical and f.preferencial is None:  # preferential callers go to the Plataforma
        return "tecnica"
    return "administrativa" if f.detalle is not None or f.plataforma else None


def _row(call_sid: str, f: Facts, events: list[dict[str, Any]]) -> dict[str, Any]:
    """The row from the facts. The call ends at its last final status callback (else its last
    event), and no earlier than Twilio's CallDuration after its start; that is its duration."""
    end = f.status_at or f.last_at
    if f.status_duration is not None:
        end = max(end, f.start + timedelta(seconds=f.status_duration))
        duracion = f.status_duration
    else:
        duracion = int((end - f.start).total_seconds())
    atencion = int((end - f.answered_at).total_seconds()) if f.answered_at is not None else None
    start_lima, end_lima = to_lima(f.start), to_lima(end)
    atendido_por = f.atendido_por
    if f.transferred is not None:  # the agent, then the Red member and their role
        member = f"{f.transferred.get('nombre') or f.transferred['rol']} ({f.transferred['rol']})"
        atendido_por = f"{atendido_por} → {member}" if atendido_por else member
    wrap = f.wrap_up or {}
    row = {
        "call_sid": call_sid,
        "fecha": start_lima.date(),
        "hora_inicio": start_lima.time().replace(microsecond=0, tzinfo=None),
        "hora_fin": end_lima.time().replace(microsecond=0, tzinfo=None),
        "canal": "telefonico",
        "telefono": f.telefono,
        "region": f.region_chosen or f.region_from_number,
        "idioma": f.idioma,
        "tipo_usuario": "autoridad" if f.authority else "ciudadano",
        "preferencial": f.preferencial,
        "tipo_consulta": _tipo_consulta(f),
        "detalle": wrap.get("detalle") or f.detalle,
        "expediente": f.expediente,
        "organo": f.organo,
        "derivacion": _derivacion(f),
        "atendido_por": atendido_por,
        "resultado": _resultado(f),
        "espera_seg": f.espera,
        "duracion_seg": duracion,
        "encuesta": f.encuesta,
        "started_at": f.start,
        "ended_at": end,
        "queued_at": f.queued_at,
        "answered_at": f.answered_at,
        "atencion_seg": max(0, atencion) if atencion is not None else None,
        "agent_id": f.agent_id,
        "final_status": f.final_status,
        "resultado_atencion": wrap.get("resultado"),
        "devolucion_de": f.returns.get("returned_call") if f.returns else None,
    }
    for key, value in row.items():
        if isinstance(value, str) and not value.isprintable() and key != "call_sid":
            row[key] = value.translate(_NO_CONTROL)
    journey = {
        "path": f.path,
        "queued_at": f.queued_at.isoformat() if f.queued_at else None,
        "answered_by": row["atendido_por"],
        "dials": f.dials,
        "transfers": f.transfers,
        "interpreters": f.interpreters,
        "interpreted_by": f.interpreted_by,
        "survey": f.survey,
        "recordings": f.recordings,
        "callbacks": f.callbacks,
        "legs": f.legs,
        "transferred_to": f.transferred,
        "wrap_up": f.wrap_up,
        "menu_detalle": f.detalle,  # the menu's code, whatever the agent wrote
        "returns": f.returns,
    }
    simulated = any(event.get("simulated") for event in events)  # placed by `flask simulate`
    return row | {
        "journey": journey,
        "events": events,
        "event_count": len(events),
        "simulada": simulated,
    }
