"""People who sign in to the admin pages and the agent console."""

from __future__ import annotations

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Boolean, DateTime, String
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.security import check_password_hash, generate_password_hash

from clock import utcnow
from extensions import Base

# admin: keeps the directory and settings; supervisor: reads reports with full phone numbers
# (Ley 29733 allows it for the Plataforma's managers); agent: works calls and callbacks;
# viewer: reads reports with masked numbers.
ROLES = ("admin", "supervisor", "agent", "viewer")
ROLES_SEEING_PHONES = frozenset({"admin", "supervisor"})


class User(UserMixin, Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    nombre: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(256))
    activo: Mapped[bool] = mapped_column(Boolean, default=True)
    agent_id: Mapped[int | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    @property
    def may_see_phones(self) -> bool:
        return self.role in ROLES_SEEING_PHONES
