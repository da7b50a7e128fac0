"""The admin package: sign-in (Flask-Login, Flask-WTF forms with CSRF), roles, the report and
register pages, and the hours and prompt catalogue pages."""

from __future__ import annotations

from flask import Flask
from flask_login import LoginManager

from extensions import db

login_manager = LoginManager()
login_manager.login_view = "admin.login"
login_manager.login_message = "Inicie sesión para ver esta página."
login_manager.login_message_category = "info"


@login_manager.user_loader
def _load_user(user_id: str) -> object | None:
    from admin.models import User

    if not user_id.isdigit():
        return None
    user = db.session.get(User, int(user_id))
    return user if user is not None and user.activo else None


def init_app(app: Flask) -> None:
    """Register this package's blueprints and the login manager."""
    import admin.settings_views  # noqa: F401  (adds /admin/horario and /admin/mensajes to views.bp)
    from admin import errors, views

    login_manager.init_app(app)
    app.register_blueprint(views.bp)
    errors.init_app(app)
