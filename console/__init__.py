"""The Plataforma agent's console at /agente: the page, its softphone token, its JSON state."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from console import views

    app.register_blueprint(views.bp)
