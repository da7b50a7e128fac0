"""Twilio-facing blueprints, all under /voice/: every view is signature-checked
(``steps.twilio_step``, or ``twilio_auth.twilio_signed`` for the one that returns no TwiML)."""

from __future__ import annotations

from flask import Flask, Request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface

from webhooks import conference, outbound, queue, voice

TWILIO_PATHS = "/voice/"


class SessionInterface(SecureCookieSessionInterface):
    """Flask's cookie session, but Twilio's webhooks get none: Twilio sends and keeps no
    cookies, so nothing is verified or signed for them (Flask gives them its null session)."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if request.path.startswith(TWILIO_PATHS):
            return None
        return super().open_session(app, request)


def init_app(app: Flask) -> None:
    for bp in (voice.bp, queue.bp, conference.bp, outbound.bp):
        app.register_blueprint(bp)
    app.session_interface = SessionInterface()
