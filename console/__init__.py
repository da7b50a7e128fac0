"""The Plataforma agent's console (/agente): its call control JSON API (console.calls)."""

from __future__ import annotations

from flask import Flask

from console import calls


def init_app(app: Flask) -> None:
    app.register_blueprint(calls.bp)
