"""Signature check for every Twilio webhook, and the TwiML response helper."""

from __future__ import annotations

import functools
import hmac
import logging
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar
from urllib.parse import parse_qsl

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


_FIELDS = "red.twilio_fields"


_URLENCODED = "application/x-www-form-urlencoded"


def twilio_fields() -> dict[str, str]:
    """The request's form fields as a plain dict (Twilio posts each once), parsed once per
    request: the signature check and the views read it (a MultiDict lookup of an absent
    field raises and catches an exception). Twilio's urlencoded body is split with the
    standard library's ``parse_qsl``, the parser werkzeug itself calls, without werkzeug's
    form machinery around it (streams, MultiDicts: half of a step's form time); the body
    stays cached, so ``request.form`` still works. The first of a repeated field wins, as in
    ``request.form``."""
    environ = request.environ  # per request (``g`` lives as long as the app context)
    fields: dict[str, str] | None = environ.get(_FIELDS)
    if fields is None:
        if request.method != "POST":
            fields = {}
        elif request.mimetype == _URLENCODED:
            fields = {}
            body = request.get_data(cache=True).decode("utf-8", "replace")
            for name, value in parse_qsl(body, keep_blank_values=True):
                fields.setdefault(name, value)
        else:
            fields = request.form.to_dict(flat=True)
        environ[_FIELDS] = fields
    return fields


def signature_is_valid() -> bool:
    if not current_app.config["TWILIO_VALIDATE_SIGNATURES"]:
        return True
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature:
        return False
    validator = RequestValidator(current_app.config["TWILIO_AUTH_TOKEN"])
    params = twilio_fields()
    url = public_url()
    # The URL exactly as Twilio called it first: one HMAC. ``validate`` always computes two
    # (the URL with and without its port), so only a request that fails this check pays it.
    if hmac.compare_digest(validator.compute_signature(url, params).encode(), signature.encode()):
        return True
    return bool(validator.validate(url, params, signature))


def reject() -> NoReturn:
    """403 for a request whose X-Twilio-Signature does not match (nothing is recorded)."""
    log.warning("rejected unsigned or badly signed request to %s", request.path)
    abort(403)


def twilio_signed(view: F) -> F:
    """Reject (403, nothing recorded) a request whose X-Twilio-Signature does not match."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not signature_is_valid():
            reject()
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'


def twiml(response: TwiML) -> Response:
    """The TwiML document: the same text as ``str(response)``, serialised straight to a str
    (twilio's ``to_xml`` goes through UTF-8 bytes and back, a third of a request's XML time)."""
    body = XML_DECLARATION + ET.tostring(response.xml(), encoding="unicode")
    return Response(body, mimetype="text/xml")
