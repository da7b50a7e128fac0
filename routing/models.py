"""Routing's own table: the notices to the Módulo de Registro y Control de Visitas."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from clock import utcnow
from extensions import Base


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
