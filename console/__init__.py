"""The Plataforma agent's console at /agente: the page, its softphone token and its state
(console.views), and its call control JSON API (console.calls)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from console import calls, views

    app.register_blueprint(views.bp)
    app.register_blueprint(calls.bp)
