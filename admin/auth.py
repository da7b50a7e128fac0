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
