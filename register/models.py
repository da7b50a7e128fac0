"""Tables of the register package: the Anexo 1 row per call (with its journey), the outbox,
and the Plataforma's one list of callback requests and voice messages, whatever their source
(closed hours, the queue, a failed route, a wait limit), due as §5.6.1 says.

Each row keeps its call's journey events (``events``: unique by event id, sorted by time) and
is derived again from ALL of them every time new ones arrive, so order and duplicates do not
matter. The outbox keeps events that could not be handed to Redis while it was down, until
``flush_outbox`` moves them there.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    Time,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from clock import utcnow
from extensions import Base


class RegisterCall(Base):
    """One Anexo 1 row per CallSid, plus what the reports need beside it."""

    __tablename__ = "register_calls"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(64), unique=True)
    # --- Anexo 1 columns (PRODUCT.md, in this order) ---
    fecha: Mapped[date] = mapped_column(Date, index=True)  # America/Lima
    hora_inicio: Mapped[time] = mapped_column(Time)
    hora_fin: Mapped[time | None] = mapped_column(Time)
    canal: Mapped[str] = mapped_column(String(20), default="telefonico")
    # E.164, or the caller ID as Twilio gives it (a SIP URI); masked after retention.
    telefono: Mapped[str | None] = mapped_column(String(255))
    region: Mapped[str | None] = mapped_column(String(50))
    idioma: Mapped[str] = mapped_column(String(10), default="es")
    tipo_usuario: Mapped[str] = mapped_column(String(20), default="ciudadano")
    preferencial: Mapped[str | None] = mapped_column(String(20))
    tipo_consulta: Mapped[str | None] = mapped_column(String(20))
    # The agent's wrap-up text (§5.3.4 a); else the menu choice's code (migration 0012).
    detalle: Mapped[str | None] = mapped_column(Text)
    expediente: Mapped[str | None] = mapped_column(String(64))
    organo: Mapped[str | None] = mapped_column(String(20), index=True)
    derivacion: Mapped[str | None] = mapped_column(String(20))
    atendido_por: Mapped[str | None] = mapped_column(String(200))
    resultado: Mapped[str] = mapped_column(String(30))
    espera_seg: Mapped[int | None] = mapped_column(Integer)
    duracion_seg: Mapped[int | None] = mapped_column(Integer)
    encuesta: Mapped[int | None] = mapped_column(Integer)
    # --- beside the row ---
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    queued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    atencion_seg: Mapped[int | None] = mapped_column(Integer)  # talk time after the answer
    # The Plataforma agent who answered (atendido_por is their name, and after a warm transfer
    # the Red member's too): the board counts each agent's calls by it.
    agent_id: Mapped[int | None] = mapped_column(Integer)
    final_status: Mapped[str | None] = mapped_column(String(20))
    # path, dials, transfers, survey, recordings, callback: see register.anexo1.build_row
    journey: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The journey events themselves, as register.events.Journal.record built them (unique by id,
    # sorted by time): the row is derived from them.
    events: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # The number of events the row was derived from: an older derivation never overwrites a
    # newer one (events are only ever added).
    event_count: Mapped[int] = mapped_column(Integer, default=0)
    # A call placed by `flask simulate`: reports and exports leave it out unless asked.
    simulada: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The agent's wrap-up (migration 0012): absuelta, derivada_red, presencial,
    # devolucion_pendiente.
    resultado_atencion: Mapped[str | None] = mapped_column(String(30))
    # A callback attempt's row: the CallSid of the call it returns (migration 0012).
    devolucion_de: Mapped[str | None] = mapped_column(String(64), index=True)
    purged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # The Red member's note on a call they took (/red, §4.2.4 c): kept beside the row (the
    # drain's upsert never touches it), shown in the export's ``detalle`` (register/export.py).
    nota_red: Mapped[str | None] = mapped_column(Text)
    nota_red_por: Mapped[str | None] = mapped_column(String(200))
    nota_red_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RegisterOutbox(Base):
    """Events that arrived while Redis was down; ``flush_outbox`` queues them later."""

    __tablename__ = "register_outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    call_sid: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text)  # the event as JSON
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


CALLBACK_SOURCES = ("fuera_de_horario", "cola", "ruta_fallida", "limite_espera")


class CallbackRequest(Base):
    __tablename__ = "callback_requests"
    # Twilio retries a webhook: one request per call and source, whatever the retries.
    __table_args__ = (UniqueConstraint("call_sid", "source"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(40), index=True)
    source: Mapped[str] = mapped_column(String(20))
    telefono: Mapped[str] = mapped_column(String(255))  # E.164, or a SIP caller ID
    language_code: Mapped[str] = mapped_column(String(10), default="es")
    detalle: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    due_date: Mapped[date] = mapped_column(Date, index=True)
    # pendiente, en_curso, realizada, no_contesta, cancelada (register/callbacks.py)
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
    telefono: Mapped[str] = mapped_column(String(255))
    recording_sid: Mapped[str | None] = mapped_column(String(40))
    recording_url: Mapped[str | None] = mapped_column(String(500))
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    due_date: Mapped[date] = mapped_column(Date, index=True)
    status: Mapped[str] = mapped_column(String(20), default="pendiente")
    handled_by: Mapped[str | None] = mapped_column(String(100))


class ReportSending(Base):
    """One report e-mailed to one address (register/sendings.py): the monthly Anexo 1 of an
    órgano to its titular or alterno, or the quarterly report to REPORT_QUARTERLY_TO. Unique
    per report and address, so a second run sends nothing twice."""

    __tablename__ = "report_sendings"
    __table_args__ = (UniqueConstraint("kind", "period", "organo", "recipient"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # mensual, trimestral
    period: Mapped[str] = mapped_column(String(10))  # 2026-11 or 2026-Q4
    organo: Mapped[str] = mapped_column(String(20), default="")  # "" for the quarterly report
    recipient: Mapped[str] = mapped_column(String(254))
    rol: Mapped[str | None] = mapped_column(String(10))  # titular, alterno (monthly)
    nombre: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default="en_cola")  # enviado, fallido
    requested_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    job_id: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    message_id: Mapped[str | None] = mapped_column(String(200))
    rows: Mapped[int | None] = mapped_column(Integer)  # Anexo 1 rows attached
