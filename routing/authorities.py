"""Authorities of regional and local governments (§5.5): after speaking with the Red member, the
agent transfers the call by phone, or marks atención presencial: the caller is told to go to
the Módulo de Registro y Control de Visitas, and a job notifies the module (SMS or e-mail) of
who is coming (the authority's name and entity, as the agent gives them), to which órgano, and
the day and time agreed."""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import mailer
import twilio_rest
from clock import LIMA, utcnow
from directory.models import Organo
from ivr import state as call_state
from ivr.briefing import Briefing
from ivr.state import CallState
from routing import agents
from routing import queue as line
from routing.context import Context
from routing.models import VisitNotice

log = logging.getLogger(__name__)


class NotOnThisCall(Exception):
    """The agent is not the one connected to that caller, or already handed the caller on."""


def _claim_handoff(ctx: Context, call_sid: str, agent_id: int | None, kind: str) -> int:
    """The first hand-off of the caller by their agent (None: whoever is connected, as for the
    supervisor and the command line); returns that agent."""
    caller = line.caller(ctx.r, call_sid)
    connected = caller.connected_agent if caller else None
    if connected is None or agent_id not in (None, connected):
        raise NotOnThisCall(call_sid)
    if not line.claim_handoff(ctx.r, call_sid, kind):
        raise NotOnThisCall(call_sid)
    return connected


@dataclass(frozen=True)
class VisitsModule:
    notify: str  # sms or email
    phone: str | None
    email: str | None
    sms_from: str
    smtp: mailer.SmtpSettings = mailer.SmtpSettings()

    @classmethod
    def from_config(cls, c: Mapping[str, Any]) -> VisitsModule:
        return cls(
            notify=(c.get("VISITS_MODULE_NOTIFY") or "sms").lower(),
            phone=c.get("VISITS_MODULE_PHONE"),
            email=c.get("VISITS_MODULE_EMAIL"),
            sms_from=c.get("ROUTING_CALLER_ID") or "+5113115930",
            smtp=mailer.SmtpSettings.from_config(c),
        )


class VisitInvalid(ValueError):
    """The visit's data the agent gave are incomplete or wrong (the message is Spanish)."""


@dataclass(frozen=True)
class Visit:
    """Who comes to the Módulo de Visitas, to which órgano, and when (Lima time)."""

    nombre: str
    entidad: str
    organo: str  # sigla
    organo_nombre: str
    cita: datetime  # aware, America/Lima

    def as_data(self) -> dict[str, str]:
        return asdict(self) | {"cita": self.cita.isoformat()}

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Visit:
        return cls(
            nombre=str(data["nombre"]),
            entidad=str(data["entidad"]),
            organo=str(data["organo"]),
            organo_nombre=str(data.get("organo_nombre") or data["organo"]),
            cita=datetime.fromisoformat(str(data["cita"])).astimezone(LIMA),
        )

    def when(self) -> str:
        """The day and time agreed, as people read them: 03/12/2026 a las 10:30."""
        return f"{self.cita:%d/%m/%Y} a las {self.cita:%H:%M}"


_HOUR = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])")
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _text(value: Any) -> str:
    return " ".join(str(value or "").split())


def visit_from(
    session: Session,
    *,
    nombre: Any,
    entidad: Any,
    organo: Any,
    fecha: Any,
    hora: Any,
    now: datetime,
    default_organo: str | None = None,
) -> Visit:
    """The visit the agent agreed with the authority, checked; raises VisitInvalid with every
    problem, in Spanish. ``organo`` (a sigla) defaults to the one the caller chose in the IVR."""
    errors = []
    name, entity = _text(nombre), _text(entidad)
    if not 3 <= len(name) <= 120:
        errors.append("Indique el nombre de la autoridad (de 3 a 120 caracteres).")
    if not 3 <= len(entity) <= 160:
        errors.append(
            "Indique la entidad de la autoridad, su gobierno regional o local "
            "(de 3 a 160 caracteres)."
        )
    sigla = (_text(organo) or default_organo or "").upper()
    found = None
    if not sigla:
        errors.append("Indique el órgano (su sigla) que recibirá a la autoridad.")
    else:
        found = session.scalars(
            select(Organo).where(Organo.sigla == sigla, Organo.activo.is_(True))
        ).first()
        if found is None:
            errors.append(f"El órgano «{sigla}» no existe o no está activo.")
    day: date | None = None
    if _DAY.fullmatch(_text(fecha)):
        with contextlib.suppress(ValueError):  # 2026-02-30
            day = date.fromisoformat(_text(fecha))
    if day is None:
        errors.append("Indique la fecha acordada como AAAA-MM-DD (por ejemplo, 2026-12-03).")
    hour = _HOUR.fullmatch(_text(hora))
    if hour is None:
        errors.append("Indique la hora acordada como HH:MM (por ejemplo, 10:30).")
    cita = None
    if day is not None and hour is not None:
        cita = datetime.combine(day, time(int(hour[1]), int(hour[2])), tzinfo=LIMA)
        if cita < now.astimezone(LIMA).replace(second=0, microsecond=0):
            errors.append("La fecha y hora acordadas ya pasaron.")
    if errors or found is None or cita is None:
        raise VisitInvalid(" ".join(errors))
    return Visit(name, entity, found.sigla, found.nombre, cita)


def visit_for_call(
    session: Session, ctx: Context, call_sid: str, given: Mapping[str, Any], *, now: datetime
) -> Visit:
    """The visit from what the agent gave (nombre, entidad, organo, fecha, hora: the API's
    JSON or the command's options), the órgano defaulting to the one the caller chose in the
    IVR."""
    state = call_state.load(ctx.r, call_sid)
    return visit_from(
        session,
        nombre=given.get("nombre"),
        entidad=given.get("entidad"),
        organo=given.get("organo"),
        fecha=given.get("fecha"),
        hora=given.get("hora"),
        now=now,
        default_organo=state.organo_sigla if state else None,
    )


def _finish_with_agent(ctx: Context, call_sid: str, agent_id: int, *, now: int) -> None:
    agents.conversation_ended(
        ctx.r, call_sid, agent_id, now=now, handle_seconds=0, settings=ctx.settings
    )


def transfer(
    ctx: Context, call_sid: str, *, agent_id: int | None, anexo: str, by: str, now: int
) -> None:
    """The agent (None: the one connected) transfers the caller to an anexo (a Red member):
    the caller's call is redirected (a job), the agent goes to wrap-up."""
    agent_id = _claim_handoff(ctx, call_sid, agent_id, "red")
    ctx.journal.record(call_sid, "transfer", to=anexo, kind="red", by=by)
    ctx.job("redirect_caller", call_sid, ctx.links("queue.transfer", call=call_sid, anexo=anexo))
    _finish_with_agent(ctx, call_sid, agent_id, now=now)


def presencial(
    ctx: Context, call_sid: str, *, agent_id: int | None, by: str, visit: Visit, now: int
) -> None:
    """The Red member chose atención presencial: tell the caller, notify the module of the
    visit agreed; the agent (None: the one connected) goes to wrap-up."""
    agent_id = _claim_handoff(ctx, call_sid, agent_id, "presencial")
    ctx.journal.record(
        call_sid,
        "transfer",
        to="modulo_visitas",
        kind="presencial",
        by=by,
        visita=visit.as_data(),
    )
    ctx.job("redirect_caller", call_sid, ctx.links("queue.presencial", call=call_sid))
    ctx.mail.enqueue(
        "routing.jobs.notify_visits_module",
        call_sid,
        by,
        visit.as_data(),
        job_timeout=60,
        retry=mailer.MAIL_RETRY,  # notify() is idempotent: a retry never sends twice
        meta={"call_sid": call_sid},
    )
    _finish_with_agent(ctx, call_sid, agent_id, now=now)


def sms_for_visits(state: CallState | None, agent: str, visit: Visit | None = None) -> str:
    """The Módulo de Registro y Control de Visitas' notice of an authority on the way: who,
    from which entity, to which órgano, when, and what the call said."""
    parts = [
        "Red de Atención MEF: autoridad de gobierno regional/local derivada a atención presencial."
    ]
    if visit is not None:
        parts += [
            f"Autoridad: {visit.nombre}.",
            f"Entidad: {visit.entidad}.",
            f"Órgano: {visit.organo_nombre} ({visit.organo}).",
            f"Fecha y hora acordadas: {visit.when()}.",
        ]
    facts = Briefing.of(state) if state is not None else None
    if facts is not None:
        parts.append(f"Teléfono: {facts.from_number or 'no disponible'}.")
        if facts.region:
            parts.append(f"Región: {facts.region}.")
        if facts.organo_sigla and visit is None:
            parts.append(f"Órgano: {facts.organo_sigla}.")
        if facts.query:
            parts.append(f"Consulta: {facts.query}.")
        if facts.expediente:
            parts.append(f"Expediente: {facts.expediente}.")
    parts.append(f"Atendió: {agent}.")
    return " ".join(parts)


def notify(session: Session, module: VisitsModule, call_sid: str, agent: str, body: str) -> str:
    """Send the module's notice once per call (idempotent); returns its state: sent, already."""
    notice = session.scalars(select(VisitNotice).where(VisitNotice.call_sid == call_sid)).first()
    if notice is not None and notice.sent_at is not None:
        return "already"
    if notice is None:
        notice = VisitNotice(call_sid=call_sid, agent=agent, channel=module.notify, body=body)
        session.add(notice)
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            return "already"
    if module.notify == "email":
        notice.reference = _send_email(module, body, call_sid)
    else:
        if not module.phone:
            raise RuntimeError("VISITS_MODULE_PHONE is not set")
        notice.reference = twilio_rest.send_sms(module.phone, body, module.sms_from)
    notice.sent_at = utcnow()
    session.commit()
    return "sent"


def _send_email(module: VisitsModule, body: str, call_sid: str) -> str:
    if not module.email:
        raise RuntimeError("VISITS_MODULE_EMAIL is not set")
    return mailer.send(
        module.smtp,
        [module.email],
        "Autoridad derivada a atención presencial - Red de Atención MEF",
        body,
        message_id=f"<{call_sid}@red-atencion.mef.gob.pe>",
    )
