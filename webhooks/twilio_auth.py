"""Signature check for every Twilio webhook, and the TwiML response helper."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Response, abort, current_app, request
from twilio.request_validator import RequestValidator
from twilio.twiml import TwiML

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])


def public_url() -> str:
    """The URL Twilio signed: PUBLIC_BASE_URL + path + query, whatever proxy is in front."""
    base = current_app.config["PUBLIC_BASE_URL"]
    query = request.query_string.decode()
    return f"{base}{request.path}" + (f"?{query}" if query else "")


def signature_is_valid() -> bool:
    if not current_app.config["TWILIO_VALIDATE_SIGNATURES"]:
        return True
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature:
        return False
    validator = RequestValidator(current_app.config["TWILIO_AUTH_TOKEN"])
    return bool(validator.validate(public_url(), request.form.to_dict(), signature))


def require_signature() -> None:
    """403 for a request whose X-Twilio-Signature does not match (nothing is recorded)."""
    if not signature_is_valid():
        log.warning("rejected unsigned or badly signed request to %s", request.path)
        abort(403)


def twilio_signed(view: F) -> F:
    """Reject (403, nothing recorded) a request whose X-Twilio-Signature does not match."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        require_signature()
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def twiml(response: TwiML) -> Response:
    """The TwiML document, as the twilio library writes it."""
    return Response(str(response), mimetype="text/xml")
