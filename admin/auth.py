"""Roles: who may open which staff page, each role's start page, the navigation bar."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import abort
from flask_login import current_user, login_required

F = TypeVar("F", bound=Callable[..., Any])

# Who may read the reports and the register (phones masked unless ROLES_SEEING_PHONES).
REPORT_ROLES = frozenset({"admin", "supervisor", "lector"})
# Who may change the hours, closure days, the prompt catalogue, the directory and the users.
SETTINGS_ROLES = frozenset({"admin"})
ADMIN_ROLES = SETTINGS_ROLES
AUDIT_ROLES = frozenset({"admin", "supervisor"})
INBOX_ROLES = frozenset({"agente", "supervisor", "admin"})
RED_ROLES = frozenset({"red"})  # the Red member's page (/red)
BOARD_ROLES = frozenset({"supervisor", "admin"})  # /supervision (board/views.py)
CONSOLE_ROLES = frozenset({"agente"})  # the agent's console, /agente (console/)
STAFF_ROLES = frozenset({"admin", "supervisor", "agente", "red", "lector"})

# Each role's start page (PRODUCT.md "Staff pages").
START_PAGES = {
    "admin": "admin.directorio_admin",
    "supervisor": "board.supervision",
    "agente": "console.agente",
    "red": "red.red",
    "lector": "admin.reportes",
}


def start_endpoint(role: str | None) -> str:
    return START_PAGES.get(role or "", "directory.directorio")


def admin_actor() -> str:
    """Who a change made on an admin page is audit-logged under: ``admin:<user name>``."""
    return f"admin:{current_user.username}"


def roles_required(*roles: str) -> Callable[[F], F]:
    """Signed in (else the login page), and one of ``roles`` (else 403)."""

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if getattr(current_user, "role", None) not in roles:
                abort(403)
            return view(*args, **kwargs)

        return login_required(wrapper)

    return decorator


def nav_links(role: str | None) -> list[tuple[str, str]]:
    """The navigation bar's (endpoint, label) pairs that ``role`` may open, in order."""
    links = [
        ("admin.directorio_admin", "Directorio", ADMIN_ROLES),
        ("console.agente", "Consola", CONSOLE_ROLES),
        ("directory.directorio", "Directorio", STAFF_ROLES - ADMIN_ROLES),
        ("red.red", "Mis llamadas", RED_ROLES),
        ("board.supervision", "Supervisión", BOARD_ROLES),
        ("staff.buzon", "Buzón", INBOX_ROLES),
        ("admin.reportes", "Reportes", REPORT_ROLES),
        ("admin.auditoria", "Auditoría", AUDIT_ROLES),
        ("admin.usuarios", "Usuarios", ADMIN_ROLES),
        ("admin.horario", "Horario", SETTINGS_ROLES),
        ("admin.mensajes", "Mensajes", SETTINGS_ROLES),
    ]
    return [(endpoint, label) for endpoint, label, roles in links if role in roles]
