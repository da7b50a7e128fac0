"""Role checks for the admin pages."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import abort
from flask_login import current_user, login_required

F = TypeVar("F", bound=Callable[..., Any])

# Who may read the reports and the register (phones masked unless ROLES_SEEING_PHONES).
REPORT_ROLES = frozenset({"admin", "supervisor", "viewer"})
# Who may change the hours, closure days and the prompt catalogue.
SETTINGS_ROLES = frozenset({"admin"})


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
        ("admin.reportes", "Reportes", REPORT_ROLES),
        ("admin.horario", "Horario", SETTINGS_ROLES),
        ("admin.mensajes", "Mensajes", SETTINGS_ROLES),
        ("directory.directorio", "Directorio", None),  # a public page
    ]
    return [(endpoint, label) for endpoint, label, roles in links if roles is None or role in roles]
