"""Twilio-facing blueprints, all under /voice/: every view is signature-checked
(``steps.twilio_step``, or ``twilio_auth.twilio_signed`` for the one that returns no TwiML)."""

from __future__ import annotations

from flask import Flask

from webhooks import queue, voice


def init_app(app: Flask) -> None:
    for bp in (voice.bp, queue.bp):
        app.register_blueprint(bp)
