"""Twilio-facing blueprints. Every view is signature-checked: ``twilio_auth.twilio_signed``, or
``voice.step`` for the call flow (which reads the call's state from Redis meanwhile)."""

from __future__ import annotations

from flask import Flask, Request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface

from webhooks import queue, voice

# Every Twilio-facing URL is under /voice/ (the voice and queue blueprints). The session is
# opened before the URL is matched, so it goes by path, not by blueprint.
WEBHOOK_PATH = "/voice/"


class SessionInterface(SecureCookieSessionInterface):
    """Flask's cookie session, except for Twilio's webhooks: Twilio sends no cookies and reads
    none, so their requests get Flask's null session (nothing to verify or sign: no signing
    serializer is built for every webhook)."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if request.path.startswith(WEBHOOK_PATH):
            return None  # Flask then uses make_null_session
        return super().open_session(app, request)


def init_app(app: Flask) -> None:
    for bp in (voice.bp, queue.bp):
        if not f"{bp.url_prefix}/".startswith(WEBHOOK_PATH):
            raise RuntimeError(f"webhook blueprint {bp.name} outside {WEBHOOK_PATH}")
        app.register_blueprint(bp)
    app.session_interface = SessionInterface()
