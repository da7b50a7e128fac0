"""Twilio-facing blueprints. Every view is signature-checked: ``twilio_auth.twilio_signed``, or
``voice.step`` for the call flow (which reads the call's state from Redis meanwhile)."""

from __future__ import annotations

from flask import Flask, Request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface

from webhooks import queue, voice

WEBHOOK_BLUEPRINTS = frozenset({voice.bp.name, queue.bp.name})


class SessionInterface(SecureCookieSessionInterface):
    """Flask's cookie session, except for Twilio's webhooks: Twilio sends no cookies and reads
    none, so their requests get Flask's null session (nothing to verify or sign: no signing
    serializer is built for every webhook)."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if request.blueprint in WEBHOOK_BLUEPRINTS:
            return None  # Flask then uses make_null_session
        return super().open_session(app, request)


def init_app(app: Flask) -> None:
    app.register_blueprint(voice.bp)
    app.register_blueprint(queue.bp)
    app.session_interface = SessionInterface()
