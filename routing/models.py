"""Callback requests and voice messages: one list for the Plataforma, whatever their source
(closed hours, the queue, a failed route, a wait limit), due the same business day (§5.6.1)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from clock import utcnow
from extensions import Base

CALLBACK_SOURCES = ("fuera_de_horario", "cola", "ruta_fallida", "limite_espera")
CALLBACK_STATUSES = ("pendiente", "en_curso", "realizada", "no_contesta", "cancelada")


class CallbackRequest(Base):
    __tablename__ = "callback_requests"
    # Twilio retries a webhook: one request per call and source, whatever the retries.
    __table_args__ = (UniqueConstraint("call_sid", "source"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(40), index=True)
    source: Mapped[str] = mapped_column(String(20))
    telefono: Mapped[str] = mapped_column(String(20))  # E.164
    language_code: Mapped[str] = mapped_column(String(10), default="es")
    detalle: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    due_date: Mapped[date] = mapped_column(Date, index=True)
    status: Mapped[str] = mapped_column(String(20), default="pendiente", index=True)
    taken_by: Mapped[str | None] = mapped_column(String(100))
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Not done by the end of its due day (§5.6.1): flagged, still on the list (migration 0003).
    vencida: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    attempts: Mapped[list[CallbackAttempt]] = relationship(
        cascade="all, delete-orphan", order_by="CallbackAttempt.id"
    )


class CallbackAttempt(Base):
    __tablename__ = "callback_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    callback_id: Mapped[int] = mapped_column(ForeignKey("callback_requests.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    agent: Mapped[str] = mapped_column(String(100))
    outcome: Mapped[str] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(Text)


class VoiceMessage(Base):
    """A message left with <Record> outside hours, for the next business day."""

    __tablename__ = "voice_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(40), unique=True)
    telefono: Mapped[str] = mapped_column(String(20))
    recording_sid: Mapped[str | None] = mapped_column(String(40))
    recording_url: Mapped[str | None] = mapped_column(String(500))
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    due_date: Mapped[date] = mapped_column(Date, index=True)
    status: Mapped[str] = mapped_column(String(20), default="pendiente")
    handled_by: Mapped[str | None] = mapped_column(String(100))


class VisitNotice(Base):
    """An authority sent to the Módulo de Registro y Control de Visitas (§5.5 c): one notice per
    call, whatever the retries, and whether it went out."""

    __tablename__ = "visit_notices"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(40), unique=True)
    agent: Mapped[str] = mapped_column(String(100))
    channel: Mapped[str] = mapped_column(String(10))  # sms or email
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reference: Mapped[str | None] = mapped_column(String(100))  # MessageSid or e-mail id
