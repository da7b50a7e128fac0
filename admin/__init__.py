"""The admin package: staff accounts and roles (Flask-Login, argon2), the sign-in's defences
(``admin.security``), the one layout and every staff page: the directory editor and its
uploads, users, the audit log, the voice-message inbox, reports, hours and prompts."""

from __future__ import annotations

import hmac

from flask import Flask
from flask_login import LoginManager

from admin.models import User
from extensions import db

login_manager = LoginManager()
login_manager.login_view = "admin.login"
login_manager.login_message = "Inicie sesión para ver esta página."
login_manager.login_message_category = "info"


@login_manager.user_loader
def _load_user(user_id: str) -> object | None:
    """The cookie carries ``<id>.<session token>``: a token the server has replaced (sign-out,
    disabling, a new password or role) no longer opens anything."""
    head, _, token = user_id.partition(".")
    if not head.isdigit() or not token:
        return None
    user = db.session.get(User, int(head))
    if user is None or not user.activo or not user.session_token:
        return None
    if not hmac.compare_digest(user.session_token, token):
        return None
    return user


def init_app(app: Flask) -> None:
    """Register this package's blueprints, commands, the login manager and the defences."""
    import admin.settings_views  # noqa: F401  (adds /admin/horario and /admin/mensajes to views.bp)
    from admin import (
        audit_views,  # noqa: F401  (adds /admin/auditoria to views.bp)
        cli,
        directory_views,  # noqa: F401  (adds /admin/directorio to views.bp)
        errors,
        red_views,
        security,
        staff_views,
        users_views,  # noqa: F401  (adds /admin/usuarios and /admin/clave to views.bp)
        views,
    )
    from admin.formatting import init_app as init_formatting

    login_manager.init_app(app)
    security.init_app(app)
    app.register_blueprint(views.bp)
    app.register_blueprint(staff_views.bp)
    app.register_blueprint(red_views.bp)
    errors.init_app(app)
    init_formatting(app)
    cli.init_app(app)
