"""Twilio-facing blueprints. Every view is signed-checked with ``twilio_auth.twilio_signed``."""

from __future__ import annotations

from flask import Flask

from webhooks import queue, voice


def init_app(app: Flask) -> None:
    app.register_blueprint(voice.bp)
    app.register_blueprint(queue.bp)
