"""The directory the call flow routes by: Anexo 2 (órganos and their Red members), Plataforma
agents, the registry of servers who speak lenguas originarias (§5.4), CONECTAMEF centers
(Anexo 3), and the audit log of every change."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, DateTime, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from clock import utcnow
from extensions import Base

ROLES = ("titular", "alterno")
# Agent reach: an anexo of the PBX, a SIP URI, or a Twilio Client identity.
AGENT_CHANNELS = ("anexo", "sip", "client")
AGENT_CHANNEL_LABELS = {"anexo": "anexo", "sip": "SIP", "client": "navegador (Twilio Client)"}


class Organo(Base):
    __tablename__ = "organos"

    id: Mapped[int] = mapped_column(primary_key=True)
    sigla: Mapped[str] = mapped_column(String(20), unique=True)
    nombre: Mapped[str] = mapped_column(String(200))
    orden: Mapped[int] = mapped_column(Integer)
    activo: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )

    representatives: Mapped[list[Representative]] = relationship(
        back_populates="organo", order_by="Representative.id"
    )

    def current(self, rol: str) -> Representative | None:
        """The serving (not retired) representative of that role."""
        serving = (r for r in self.representatives if r.rol == rol and r.retired_at is None)
        return next(serving, None)


class Representative(Base):
    """A Red member designated by an órgano (§4.2.2). Retired, never deleted."""

    __tablename__ = "representatives"
    __table_args__ = (
        # One serving titular and at most one serving alterno per órgano (§4.2.2).
        Index(
            "uq_representatives_serving_role",
            "organo_id",
            "rol",
            unique=True,
            sqlite_where=text("retired_at IS NULL"),
            postgresql_where=text("retired_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organo_id: Mapped[int] = mapped_column(ForeignKey("organos.id"), index=True)
    rol: Mapped[str] = mapped_column(String(10))
    nombre_completo: Mapped[str] = mapped_column(String(200))
    cargo: Mapped[str] = mapped_column(String(200))
    correo: Mapped[str] = mapped_column(String(254))
    anexo: Mapped[str] = mapped_column(String(6))
    memorando: Mapped[str | None] = mapped_column(String(100))
    memorando_fecha: Mapped[date | None] = mapped_column(Date)
    # The date the designation took effect, and the date it was communicated (§4.2.4 d).
    vigente_desde: Mapped[date | None] = mapped_column(Date)
    comunicado_el: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    organo: Mapped[Organo] = relationship(back_populates="representatives")


class Language(Base):
    """A language callers may be served in: es, qu (quechua), ay (aymara), and others (§5.4)."""

    __tablename__ = "languages"

    code: Mapped[str] = mapped_column(String(10), primary_key=True)
    nombre: Mapped[str] = mapped_column(String(100))
    # Offered in the IVR language menu (español, quechua, aymara per PRODUCT.md step 3).
    en_menu: Mapped[bool] = mapped_column(Boolean, default=False)


class Agent(Base):
    """A Plataforma agent (Oficina de Gestión Documental y Atención al Usuario)."""

    __tablename__ = "agents"

    id: Mapped[int] = mapped_column(primary_key=True)
    nombre: Mapped[str] = mapped_column(String(200))
    canal: Mapped[str] = mapped_column(String(10))
    # The anexo digits, the SIP URI or the Twilio Client identity, per ``canal``.
    destino: Mapped[str] = mapped_column(String(200))
    correo: Mapped[str | None] = mapped_column(String(254))
    activo: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    languages: Mapped[list[AgentLanguage]] = relationship(
        cascade="all, delete-orphan", order_by="AgentLanguage.language_code"
    )

    @property
    def language_codes(self) -> list[str]:
        return [al.language_code for al in self.languages]


class AgentLanguage(Base):
    __tablename__ = "agent_languages"

    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id"), primary_key=True)
    language_code: Mapped[str] = mapped_column(ForeignKey("languages.code"), primary_key=True)


class LanguageSpeaker(Base):
    """Registro de servidores que hablan en lenguas originarias del Perú (§5.4)."""

    __tablename__ = "language_speakers"

    id: Mapped[int] = mapped_column(primary_key=True)
    nombre_completo: Mapped[str] = mapped_column(String(200))
    language_code: Mapped[str] = mapped_column(ForeignKey("languages.code"), index=True)
    unidad: Mapped[str | None] = mapped_column(String(200))
    anexo: Mapped[str | None] = mapped_column(String(6))
    telefono: Mapped[str | None] = mapped_column(String(20))  # E.164
    correo: Mapped[str | None] = mapped_column(String(254))
    activo: Mapped[bool] = mapped_column(Boolean, default=True)


class ConectamefCenter(Base):
    """A CONECTAMEF center (Anexo 3) and the departments it serves."""

    __tablename__ = "conectamef_centers"

    id: Mapped[int] = mapped_column(primary_key=True)
    centro: Mapped[str] = mapped_column(String(100), unique=True)
    telefono: Mapped[str] = mapped_column(String(20))  # E.164
    activo: Mapped[bool] = mapped_column(Boolean, default=True)

    departments: Mapped[list[CenterDepartment]] = relationship(
        cascade="all, delete-orphan", order_by="CenterDepartment.departamento"
    )


class CenterDepartment(Base):
    __tablename__ = "center_departments"

    center_id: Mapped[int] = mapped_column(ForeignKey("conectamef_centers.id"), primary_key=True)
    departamento: Mapped[str] = mapped_column(String(50), primary_key=True)


class AuditEntry(Base):
    """Who changed what in the directory, when, with the row before and after."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(100))
    entity: Mapped[str] = mapped_column(String(50))
    entity_id: Mapped[str] = mapped_column(String(50))
    action: Mapped[str] = mapped_column(String(20))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(Text)
