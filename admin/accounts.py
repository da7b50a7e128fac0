"""Staff accounts: create, list, disable, enable, new password, new role. Plain functions over a
session, shared by ``flask users ...`` and /admin/usuarios; every change writes an audit entry
(entity ``user``) and the caller commits.

A user made by someone else gets a temporary password (``must_change_password``): they choose
their own at their first sign-in. Disabling a user, or changing their password or role, ends
every session they have open (``User.end_sessions``).
"""

from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from admin.models import ROLE_NAMES, ROLES, User
from directory import audit
from directory.models import Agent, Representative
from directory.rules import RuleError, check_text

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._\-]{1,79}$")
DEFAULT_MIN_LENGTH = 12


class AccountError(RuleError):
    """A rule of the accounts was broken; the message says which, in Spanish.

    ``field`` names the form field it belongs to (``username``, ``password``...), if any."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def _snapshot(user: User) -> dict[str, object]:
    data = audit.snapshot(user)
    for secret in ("password_hash", "session_token"):
        data.pop(secret, None)
    return data


def _record(
    session: Session, user: User, action: str, actor: str, before: dict[str, object] | None = None
) -> None:
    """The audit entry of a change to a user: ``before`` and the user now, without secrets."""
    audit.record(
        session,
        actor=actor,
        entity="user",
        entity_id=user.username,
        action=action,
        before=before,
        after=_snapshot(user),
    )


def check_password(
    password: str, *, username: str = "", min_length: int = DEFAULT_MIN_LENGTH
) -> str:
    """The password, when it is long enough and not the user name."""
    if len(password) < min_length:
        raise AccountError(
            f"la contraseña debe tener al menos {min_length} caracteres.", "password"
        )
    if len(password) > 200:
        raise AccountError("la contraseña no puede tener más de 200 caracteres.", "password")
    if username and password.strip().lower() == username.lower():
        raise AccountError("la contraseña no puede ser igual al usuario.", "password")
    return password


def check_username(username: str) -> str:
    clean = username.strip().lower()
    if not USERNAME_RE.match(clean):
        raise AccountError(
            f"el usuario «{username}» debe tener de 2 a 80 caracteres: letras minúsculas sin "
            "tildes, dígitos, punto, guion o guion bajo.",
            "username",
        )
    return clean


def check_role(role: str) -> str:
    clean = role.strip().lower()
    if clean not in ROLES:
        raise AccountError(f"el rol «{role}» no existe; use uno de: {', '.join(ROLES)}.", "role")
    return clean


def _links(
    session: Session, role: str, agent_id: int | None, representative_id: int | None
) -> tuple[int | None, int | None]:
    """The Agent or Representative the role needs: agente → an active agent, red → a serving
    representative; other roles link to neither."""
    if role == "agente":
        if agent_id is None:
            raise AccountError(
                "un usuario agente debe estar vinculado a su agente de la Plataforma.", "agent_id"
            )
        agent = session.get(Agent, agent_id)
        if agent is None or not agent.activo:
            raise AccountError(f"no hay un agente activo con id {agent_id}.", "agent_id")
        return agent_id, None
    if role == "red":
        if representative_id is None:
            raise AccountError(
                "un usuario red debe estar vinculado a su designación de representante.",
                "representative_id",
            )
        rep = session.get(Representative, representative_id)
        if rep is None or rep.retired_at is not None:
            raise AccountError(
                f"no hay un representante en funciones con id {representative_id}.",
                "representative_id",
            )
        return None, representative_id
    if agent_id is not None or representative_id is not None:
        raise AccountError(
            f"el rol {role} no se vincula a un agente ni a un representante.", "role"
        )
    return None, None


def get_user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username.strip().lower()))
    if user is None:
        raise AccountError(f"no existe el usuario «{username}».", "username")
    return user


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.username)))


def count_active_admins(session: Session) -> int:
    return int(
        session.scalar(
            select(func.count()).select_from(User).where(User.role == "admin", User.activo)
        )
        or 0
    )


def create_user(
    session: Session,
    *,
    username: str,
    nombre: str,
    role: str,
    password: str,
    agent_id: int | None = None,
    representative_id: int | None = None,
    temporary: bool = True,
    min_length: int = DEFAULT_MIN_LENGTH,
    actor: str,
) -> User:
    """Add a user. ``temporary``: the password must be changed at the first sign-in."""
    username = check_username(username)
    nombre = check_text(nombre, "el nombre")
    role = check_role(role)
    check_password(password, username=username, min_length=min_length)
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise AccountError(f"el usuario «{username}» ya existe.", "username")
    agent_id, representative_id = _links(session, role, agent_id, representative_id)
    user = User(
        username=username,
        nombre=nombre,
        role=role,
        activo=True,
        agent_id=agent_id,
        representative_id=representative_id,
        must_change_password=temporary,
    )
    user.set_password(password)
    session.add(user)
    session.flush()
    _record(session, user, "create", actor)
    return user


def set_password(
    session: Session,
    username: str,
    password: str,
    *,
    temporary: bool,
    min_length: int = DEFAULT_MIN_LENGTH,
    actor: str,
) -> User:
    """A new password (temporary when an admin sets it for someone else); ends the sessions."""
    user = get_user(session, username)
    check_password(password, username=user.username, min_length=min_length)
    if user.check_password(password):
        raise AccountError("la nueva contraseña debe ser distinta de la actual.", "password")
    before = _snapshot(user)
    user.set_password(password)
    user.must_change_password = temporary
    user.end_sessions()
    session.flush()
    _record(session, user, "password", actor, before)
    return user


def set_role(
    session: Session,
    username: str,
    role: str,
    *,
    agent_id: int | None = None,
    representative_id: int | None = None,
    actor: str,
) -> User:
    user = get_user(session, username)
    role = check_role(role)
    if (
        user.role == "admin"
        and role != "admin"
        and user.activo
        and count_active_admins(session) <= 1
    ):
        raise AccountError("es el único administrador activo: no puede dejar de serlo.", "role")
    agent_id, representative_id = _links(session, role, agent_id, representative_id)
    if (user.role, user.agent_id, user.representative_id) == (role, agent_id, representative_id):
        return user
    before = _snapshot(user)
    user.role, user.agent_id, user.representative_id = role, agent_id, representative_id
    user.end_sessions()
    session.flush()
    _record(session, user, "role", actor, before)
    return user


def set_active(session: Session, username: str, activo: bool, *, actor: str) -> User:
    user = get_user(session, username)
    if user.activo == activo:
        return user
    if not activo and user.role == "admin" and count_active_admins(session) <= 1:
        raise AccountError("es el único administrador activo: no se puede desactivar.", "username")
    before = _snapshot(user)
    user.activo = activo
    user.end_sessions()
    session.flush()
    _record(session, user, "enable" if activo else "disable", actor, before)
    return user


def sign_out(session: Session, user: User) -> None:
    """End the user's sessions on the server (the cookie they had stops working)."""
    user.end_sessions()
    session.flush()


def describe(user: User) -> str:
    """One line for ``users list``."""
    link = ""
    if user.agent_id:
        link = f" agente={user.agent_id}"
    elif user.representative_id:
        link = f" representante={user.representative_id}"
    flags = []
    if not user.activo:
        flags.append("desactivado")
    if user.must_change_password:
        flags.append("debe cambiar su contraseña")
    tail = f" [{', '.join(flags)}]" if flags else ""
    return f"{user.username}\t{user.role} ({ROLE_NAMES[user.role]}){link}\t{user.nombre}{tail}"
