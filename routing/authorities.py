"""Authorities of regional and local governments (§5.5): after speaking with the Red member, the
agent transfers the call by phone, or marks atención presencial: the caller is told to go to
the Módulo de Registro y Control de Visitas, and a job notifies the module (SMS or e-mail)."""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import twilio_rest
from clock import utcnow
from ivr.briefing import Briefing
from ivr.state import CallState
from routing import agents
from routing import queue as line
from routing.context import Context
from routing.models import VisitNotice

log = logging.getLogger(__name__)


class NotOnThisCall(Exception):
    """The agent is not the one connected to that caller, or already handed the caller on."""


def _claim_handoff(ctx: Context, call_sid: str, agent_id: int, kind: str) -> None:
    if connected_agent(ctx, call_sid) != agent_id:
        raise NotOnThisCall(call_sid)
    if not line.claim_handoff(ctx.r, call_sid, kind):
        raise NotOnThisCall(call_sid)


@dataclass(frozen=True)
class VisitsModule:
    notify: str  # sms or email
    phone: str | None
    email: str | None
    sms_from: str
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_from: str = "red-atencion@mef.gob.pe"
    smtp_starttls: bool = False

    @classmethod
    def from_config(cls, c: Mapping[str, Any]) -> VisitsModule:
        return cls(
            notify=(c.get("VISITS_MODULE_NOTIFY") or "sms").lower(),
            phone=c.get("VISITS_MODULE_PHONE"),
            email=c.get("VISITS_MODULE_EMAIL"),
            sms_from=c.get("ROUTING_CALLER_ID") or "+5113115930",
            smtp_host=c.get("SMTP_HOST") or "localhost",
            smtp_port=int(c.get("SMTP_PORT") or 25),
            smtp_user=c.get("SMTP_USER"),
            smtp_password=c.get("SMTP_PASSWORD"),
            smtp_from=c.get("SMTP_FROM") or "red-atencion@mef.gob.pe",
            smtp_starttls=bool(c.get("SMTP_STARTTLS")),
        )


def connected_agent(ctx: Context, call_sid: str) -> int | None:
    caller = line.caller(ctx.r, call_sid)
    return caller.connected_agent if caller else None


def _finish_with_agent(ctx: Context, call_sid: str, agent_id: int, *, now: int) -> None:
    agents.conversation_ended(
        ctx.r, call_sid, agent_id, now=now, handle_seconds=0, settings=ctx.settings
    )


def transfer(ctx: Context, call_sid: str, *, agent_id: int, anexo: str, by: str, now: int) -> None:
    """The agent transfers the caller to an anexo (a Red member): the caller's call is
    redirected (a job), the agent goes to wrap-up."""
    _claim_handoff(ctx, call_sid, agent_id, "red")
    ctx.journal.record(call_sid, "transfer", to=anexo, kind="red", by=by)
    ctx.jobs.enqueue(
        "routing.jobs.redirect_caller",
        call_sid,
        ctx.links("queue.transfer", call=call_sid, anexo=anexo),
        job_timeout=30,
        meta={"call_sid": call_sid},
    )
    _finish_with_agent(ctx, call_sid, agent_id, now=now)


def presencial(ctx: Context, call_sid: str, *, agent_id: int, by: str, now: int) -> None:
    """The Red member chose atención presencial: tell the caller, notify the module."""
    _claim_handoff(ctx, call_sid, agent_id, "presencial")
    ctx.journal.record(call_sid, "transfer", to="modulo_visitas", kind="presencial", by=by)
    ctx.jobs.enqueue(
        "routing.jobs.redirect_caller",
        call_sid,
        ctx.links("queue.presencial", call=call_sid),
        job_timeout=30,
        meta={"call_sid": call_sid},
    )
    ctx.jobs.enqueue(
        "routing.jobs.notify_visits_module",
        call_sid,
        by,
        job_timeout=60,
        meta={"call_sid": call_sid},
    )
    _finish_with_agent(ctx, call_sid, agent_id, now=now)


def sms_for_visits(state: CallState | None, agent: str) -> str:
    """The Módulo de Registro y Control de Visitas' notice of an authority on the way."""
    if state is None:
        return f"Red de Atención MEF: una autoridad fue derivada a atención presencial ({agent})."
    facts = Briefing.of(state)
    parts = [
        "Red de Atención MEF: autoridad de gobierno regional/local derivada a atención presencial.",
        f"Teléfono: {facts.from_number or 'no disponible'}.",
    ]
    if facts.region:
        parts.append(f"Región: {facts.region}.")
    if facts.organo_sigla:
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
    message = EmailMessage()
    message["Subject"] = "Autoridad derivada a atención presencial - Red de Atención MEF"
    message["From"] = module.smtp_from
    message["To"] = module.email
    message["Message-ID"] = f"<{call_sid}@red-atencion.mef.gob.pe>"
    message.set_content(body)
    with smtplib.SMTP(module.smtp_host, module.smtp_port, timeout=20) as smtp:
        if module.smtp_starttls:
            smtp.starttls()
        if module.smtp_user and module.smtp_password:
            smtp.login(module.smtp_user, module.smtp_password)
        smtp.send_message(message)
    return str(message["Message-ID"])
