"""People who sign in to the staff pages, and their roles."""

from __future__ import annotations

import secrets
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask_login import UserMixin
from sqlalchemy import Boolean, DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.security import check_password_hash

from clock import utcnow
from extensions import Base
from register.export import ROLES_SEEING_PHONES

# admin: keeps the directory, users and settings; supervisor: the Plataforma's managers, read
# reports and the audit log with full phone numbers (Ley 29733 allows it); agente: a Plataforma
# agent (linked to their Agent record); red: a Red member (linked to their Representative);
# lector: reads reports with masked numbers.
ROLES = ("admin", "supervisor", "agente", "red", "lector")
ROLE_NAMES = {
    "admin": "Administrador(a)",
    "supervisor": "Supervisor(a)",
    "agente": "Agente de la Plataforma",
    "red": "Integrante de la Red",
    "lector": "Lector(a) de reportes",
}

_hasher = PasswordHasher()


def new_session_token() -> str:
    return secrets.token_urlsafe(32)


class User(UserMixin, Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    nombre: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(256))
    activo: Mapped[bool] = mapped_column(Boolean, default=True)
    agent_id: Mapped[int | None] = mapped_column()
    representative_id: Mapped[int | None] = mapped_column(ForeignKey("representatives.id"))
    # A temporary password (a new user, a reset, the demo users) must be changed at sign-in.
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    # Part of the session cookie's user id: a new token ends every session of the user on the
    # server (sign-out, disabling, a new password or role); a copied cookie stops working.
    session_token: Mapped[str] = mapped_column(String(64), default=new_session_token)
    password_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    def get_id(self) -> str:
        if not self.session_token:
            self.session_token = new_session_token()
        return f"{self.id}.{self.session_token}"

    def end_sessions(self) -> None:
        """Every cookie issued to this user so far stops working."""
        self.session_token = new_session_token()

    @staticmethod
    def hash_password(password: str) -> str:
        return _hasher.hash(password)

    def set_password(self, password: str) -> None:
        self.password_hash = self.hash_password(password)
        self.password_changed_at = utcnow()

    def check_password(self, password: str) -> bool:
        if self.password_hash.startswith("$argon2"):
            try:
                return bool(_hasher.verify(self.password_hash, password))
            except (VerificationError, InvalidHashError):
                return False
        # Hashes made before argon2 (werkzeug's scrypt); rehashed at the next sign-in.
        return check_password_hash(self.password_hash, password)

    @property
    def needs_rehash(self) -> bool:
        if not self.password_hash.startswith("$argon2"):
            return True
        return bool(_hasher.check_needs_rehash(self.password_hash))

    @property
    def may_see_phones(self) -> bool:
        return self.role in ROLES_SEEING_PHONES

    @property
    def role_name(self) -> str:
        return ROLE_NAMES.get(self.role, self.role)
