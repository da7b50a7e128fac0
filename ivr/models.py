"""Tables of the ivr package: the prompt catalogue's overrides, admin-set settings that win over
the environment, and closure days."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, DateTime, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from clock import utcnow
from extensions import Base


class PromptOverride(Base):
    """An admin's replacement for a default prompt: a new text, a recording, or both."""

    __tablename__ = "prompts"
    __table_args__ = (UniqueConstraint("prompt_id", "language"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    prompt_id: Mapped[str] = mapped_column(String(50))
    language: Mapped[str] = mapped_column(String(10))
    text: Mapped[str | None] = mapped_column(Text)
    audio_url: Mapped[str | None] = mapped_column(String(500))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class IvrSetting(Base):
    """A setting made by an admin (e.g. SERVICE_HOURS); it wins over the environment."""

    __tablename__ = "ivr_settings"

    key: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class ClosureDay(Base):
    """A day the line is closed, set by an admin (besides weekends and public holidays)."""

    __tablename__ = "closure_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
