"""Demo calls for the reports: a deterministic, realistic stream of journeys over the last
months, written through the worker's own code path (``ingest_events``) so the rows are exactly
what production would derive. Seeding twice adds nothing: CallSids and event ids are derived
from the date and the call's number, and events are unique by id.

Routes follow the directory when it has órganos (titular and alterno names, Plataforma agents);
otherwise a small built-in directory is used.
"""

from __future__ import annotations

import hashlib
import math
import random
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from clock import LIMA, is_business_day, lima_now, next_business_day
from directory.models import Agent, Organo
from register.ingest import ingest_events
from register.models import CallbackRequest

FALLBACK_ORGANOS = {
    "DGPP": ("Ana Lucía Quispe Mamani", "Jorge Enrique Salas Paredes"),
    "DGETP": ("Marco Antonio Rojas Villanueva", "Lucía Fernanda Cárdenas Ríos"),
    "DGPMI": ("Carmen Rosa Huamán Flores", "Pedro Pablo Condori Apaza"),
    "DGAEICYP": ("Rosa Elvira Chávez Soto", "Miguel Ángel Torres Lazo"),
    "DGGFRH": ("Julia Inés Vargas Ccama", "Raúl Alberto Medina Ríos"),
}
FALLBACK_AGENTS = ("Rosa Quispe", "Carlos Huamán", "María Flores", "José Mamani", "Elena Ticona")
REGIONS = (
    ("Lima", 40),
    ("Arequipa", 7),
    ("Cusco", 7),
    ("La Libertad", 6),
    ("Piura", 6),
    ("Puno", 6),
    ("Junín", 5),
    ("Cajamarca", 4),
    ("Lambayeque", 4),
    ("Áncash", 4),
    ("Loreto", 3),
    ("Ayacucho", 3),
    ("Huánuco", 2),
    ("San Martín", 2),
    ("Apurímac", 1),
)
# Arrivals by hour of the day (Lima), business hours 08:30-16:30.
HOURS = ((8, 6), (9, 14), (10, 17), (11, 16), (12, 12), (13, 9), (14, 11), (15, 10), (16, 5))
MENU = (
    ("1", "estado_tramite", 30),
    ("2", "informacion", 22),
    ("3", "consulta_tecnica", 20),
    ("4", "conectamef", 6),
    ("8", "autoridad", 7),
    ("9", "preferencial", 7),
    ("0", "asesor", 8),
)


def _pick(rng: random.Random, weighted: tuple[tuple[Any, ...], ...]) -> tuple[Any, ...]:
    total = sum(item[-1] for item in weighted)
    x = rng.uniform(0, total)
    for item in weighted:
        x -= item[-1]
        if x <= 0:
            return item
    return weighted[-1]


def _directory(session: Session) -> tuple[dict[str, tuple[str, str]], list[tuple[int, str]]]:
    organos: dict[str, tuple[str, str]] = {}
    agents: list[tuple[int, str]] = []
    try:
        for organo in session.scalars(select(Organo).where(Organo.activo.is_(True))):
            titular, alterno = organo.current("titular"), organo.current("alterno")
            if titular is not None:
                organos[organo.sigla] = (
                    titular.nombre_completo,
                    alterno.nombre_completo if alterno is not None else "",
                )
        agents = [
            (a.id, a.nombre)
            for a in session.scalars(select(Agent).where(Agent.activo.is_(True)).order_by(Agent.id))
        ]
    except Exception:  # noqa: BLE001 - no directory yet: use the built-in one
        session.rollback()
    if not organos:
        organos = dict(FALLBACK_ORGANOS)
    if not agents:
        agents = list(enumerate(FALLBACK_AGENTS, start=1))
    return organos, agents


class _Journey:
    def __init__(self, call_sid: str, start: datetime) -> None:
        self.call_sid = call_sid
        self.start = self.t = start
        self.events: list[dict[str, Any]] = []

    def add(self, step: str, choice: str | None = None, after: float = 0, **data: Any) -> None:
        self.t += timedelta(seconds=after)
        digest = hashlib.sha1(f"{self.call_sid}:{len(self.events)}".encode()).hexdigest()
        self.events.append(
            {
                "id": digest[:32],
                "call_sid": self.call_sid,
                "step": step,
                "choice": choice,
                "at": self.t.isoformat(),
                "data": data,
            }
        )

    def end(self, after: float) -> list[dict[str, Any]]:
        """The final status callback (CallDuration: the call so far), then all the events."""
        self.add("status", "completed", after, duration=int((self.t - self.start).total_seconds()))
        return self.events


def _call(
    rng: random.Random,
    call_sid: str,
    start: datetime,
    organos: dict[str, tuple[str, str]],
    agents: list[tuple[int, str]],
    callbacks: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    j = _Journey(call_sid, start)
    phone = f"+519{rng.randrange(10**7, 10**8):08d}"
    region = str(_pick(rng, REGIONS)[0])
    j.add(
        "incoming",
        None,
        0,
        **{"from": phone, "to": "+5113115930", "region": region if rng.random() < 0.8 else None},
    )
    local = start.astimezone(LIMA)
    open_now = is_business_day(local.date()) and time(8, 30) <= local.time() < time(16, 30)
    if not open_now:
        j.add("closed", None, 1, reason="fuera_de_horario")
        option = rng.choices(["1", "2", None], [45, 30, 25])[0]
        j.add("closed_option", option, rng.uniform(8, 15))
        if option == "1":
            j.add("callback_requested", None, 10, source="fuera_de_horario", telefono=phone)
            callbacks.append(
                {"call_sid": call_sid, "source": "fuera_de_horario", "telefono": phone, "at": j.t}
            )
        elif option == "2":
            length = rng.randint(15, 60)
            sid = "RE" + hashlib.md5(call_sid.encode()).hexdigest()
            j.add(
                "voicemail",
                None,
                length,
                recording_sid=sid,
                duration=length,
                recording_url=f"https://api.twilio.com/2010-04-01/Recordings/{sid}",
            )
        return j.end(2)

    idioma = rng.choices(["es", "qu", "ay"], [92, 5, 3])[0]
    j.add("language", idioma, rng.uniform(5, 9))
    key, detalle, _ = _pick(rng, MENU)
    j.add("main_menu", key, rng.uniform(6, 14), detalle=detalle)
    priority = "normal"
    if detalle == "estado_tramite":
        j.add(
            "expediente",
            None,
            rng.uniform(10, 20),
            expediente=f"{local.year}-{rng.randrange(10**6, 10**7)}",
        )
    if detalle == "preferencial":
        reason = rng.choices(["gestante", "adulto_mayor", "discapacidad"], [25, 55, 20])[0]
        j.add("preferential", reason, rng.uniform(3, 6))
        priority = "preferential"
    if detalle == "autoridad":
        priority = "authority"
    if detalle == "conectamef":
        j.add("conectamef", region, rng.uniform(3, 6), telefono="+5184000000")
        j.add("transfer", None, 2, to="+5184000000", kind="presencial", by="ivr")
        return j.end(rng.uniform(30, 120))

    reason = {"preferential": "preferential", "authority": "authority"}.get(priority, "menu")
    if detalle == "consulta_tecnica" and idioma == "es":
        sigla = rng.choice(sorted(organos))
        titular, alterno = organos[sigla]
        j.add("organo", sigla, rng.uniform(4, 9))
        j.add("summary", None, rng.uniform(10, 25), recording_url=None)
        # Some órganos answer less than others: the report must show it.
        reach = 0.45 + 0.4 * ((sum(map(ord, sigla)) % 5) / 4)
        for rol, name in (("titular", titular), ("alterno", alterno)):
            if not name:
                continue
            j.add("dial", rol, 1, anexo=f"{rng.randrange(2000, 2999)}", nombre=name)
            if rng.random() < reach:
                ring = rng.uniform(4, 15)
                talk = int(rng.lognormvariate(math.log(300), 0.4))
                j.add("dial_result", rol, ring + talk, outcome="accepted", duration=talk)
                return _survey_and_end(rng, j)
            outcome = rng.choices(["no-answer", "busy", "not-accepted"], [70, 20, 10])[0]
            j.add("dial_result", rol, rng.uniform(15, 20), outcome=outcome, duration=0)
        reason = "route_failed"
    j.add("plataforma", None, 1, reason=reason if idioma == "es" else "language")
    j.add("queued", None, 0.5, priority=priority, language=idioma)
    # Waits: short most of the day, longer at the 10-11 peak.
    mean_wait = 35 if local.hour in (10, 11) else 14
    wait = rng.expovariate(1 / mean_wait)
    patience = rng.expovariate(1 / 150)
    if rng.random() < 0.04:
        j.add("queue_left", "callback", min(wait, 40), wait_seconds=int(min(wait, 40)))
        j.add("callback_requested", None, 5, source="cola", telefono=phone)
        callbacks.append({"call_sid": call_sid, "source": "cola", "telefono": phone, "at": j.t})
        return j.end(3)
    if patience < wait:
        j.add("queue_left", "hangup", patience, wait_seconds=int(patience))
        return j.end(0.5)
    agent_id, agent = rng.choice(agents)
    j.add("agent_answered", None, wait, agent_id=agent_id, nombre=agent, wait_seconds=int(wait))
    j.add("queue_left", "bridged", 0, wait_seconds=int(wait))
    conversation = rng.lognormvariate(math.log(170), 0.5)
    if rng.random() < 0.05:
        j.add("transfer", None, conversation / 2, to="red", kind="red", by=agent)
        conversation /= 2
    j.t += timedelta(seconds=conversation)
    return _survey_and_end(rng, j)


def _survey_and_end(rng: random.Random, j: _Journey) -> list[dict[str, Any]]:
    if rng.random() < 0.65:
        j.add(
            "survey",
            rng.choices(["1", "2", "3", "4", "5"], [3, 5, 14, 38, 40])[0],
            rng.uniform(6, 12),
        )
    else:
        j.add("survey", None, 8)
    return j.end(1)


def _save_callbacks(
    session: Session, callbacks: list[dict[str, Any]], today: date, rng: random.Random
) -> None:
    if not callbacks:
        return
    existing: set[tuple[str, str]] = set()
    sids = sorted({c["call_sid"] for c in callbacks})
    for i in range(0, len(sids), 500):
        existing.update(
            (sid, source)
            for sid, source in session.execute(
                select(CallbackRequest.call_sid, CallbackRequest.source).where(
                    CallbackRequest.call_sid.in_(sids[i : i + 500])
                )
            )
        )
    for c in callbacks:
        if (c["call_sid"], c["source"]) in existing:
            continue
        created: datetime = c["at"]
        day = created.astimezone(LIMA).date()
        due = (
            day
            if is_business_day(day) and c["source"] != "fuera_de_horario"
            else next_business_day(day)
        )
        done_day = due if rng.random() < 0.85 else next_business_day(due)
        done = done_day < today
        session.add(
            CallbackRequest(
                call_sid=c["call_sid"],
                source=c["source"],
                telefono=c["telefono"],
                language_code="es",
                created_at=created,
                due_date=due,
                status="realizada" if done else "pendiente",
                taken_by="Rosa Quispe" if done else None,
                done_at=datetime.combine(done_day, time(15, 0), LIMA).astimezone(UTC)
                if done
                else None,
            )
        )
    session.commit()


def seed_demo_calls(
    session: Session,
    *,
    months: int = 2,
    per_day: int = 60,
    today: date | None = None,
    seed: int = 2026,
) -> int:
    """Calls from the first day of ``months - 1`` months ago up to yesterday. Returns how many
    calls the register holds for that span after seeding."""
    today = today or lima_now().date()
    first = today.replace(day=1)
    for _ in range(months - 1):
        first = (first - timedelta(days=1)).replace(day=1)
    organos, agents = _directory(session)
    total = 0
    batch: list[dict[str, Any]] = []
    callbacks: list[dict[str, Any]] = []
    day = first
    while day < today:
        rng = random.Random(f"{seed}:{day.isoformat()}")
        weekday_factor = (1.15, 1.05, 1.0, 0.95, 0.85, 0.0, 0.0)[day.weekday()]
        count = int(per_day * weekday_factor) if is_business_day(day) else 0
        count += rng.randint(0, 3)  # a few calls outside hours and on days off
        for n in range(count):
            if n >= count - 3 and rng.random() < 0.7:
                hour, minute = rng.choice(
                    [(7, rng.randint(0, 59)), (17, rng.randint(0, 59)), (19, rng.randint(0, 59))]
                )
            else:
                hour = int(_pick(rng, HOURS)[0])
                minute = rng.randint(30 if hour == 8 else 0, 29 if hour == 16 else 59)
            start = datetime.combine(day, time(hour, minute, rng.randint(0, 59)), LIMA)
            digest = hashlib.sha1(f"demo:{seed}:{day}:{n}".encode()).hexdigest()
            call_sid = "CA" + digest[:32]
            batch += _call(rng, call_sid, start.astimezone(UTC), organos, agents, callbacks)
            total += 1
            if len(batch) > 5000:
                ingest_events(session, batch)
                batch = []
        day += timedelta(days=1)
    if batch:
        ingest_events(session, batch)
    _save_callbacks(session, callbacks, today, random.Random(seed))
    return total
