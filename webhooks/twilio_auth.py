"""Signature check for every Twilio webhook, and the TwiML response helper."""

from __future__ import annotations

import functools
import hmac
import json
import logging
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

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


_FIELDS = "red.twilio_fields"  # where a request's parsed fields are kept, in its environ
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
# ElementTree's escapes: &, < and > everywhere (saxutils' default), and in attribute values
# the quote and the whitespace characters a parser would otherwise normalise.
_ATTRIBUTE_ESCAPES = {'"': "&quot;", "\r": "&#13;", "\n": "&#10;", "\t": "&#09;"}


def serialise(node: TwiML, out: list[str]) -> None:
    """Append ``node`` as XML to ``out``: the text ``ET.tostring(node.xml())`` gives (twilio's
    own path, which the tests compare with every document they get), written straight from
    twilio's tree instead of building ElementTree elements and walking them again (about
    half of a step's XML time)."""
    name = node.name
    out.append("<" + name)
    attrs = node.attrs
    for key in sorted(attrs):
        value = attrs[key]
        text = str(value).lower() if isinstance(value, bool) else str(value)
        out.append(f' {key}="{escape(text, _ATTRIBUTE_ESCAPES)}"')
    value = node.value
    body: str | None = (json.dumps(value) if isinstance(value, dict) else value) if value else None
    children: list[list[Any]] = []  # [verb, the text after it]
    for verb in node.verbs:
        if isinstance(verb, str):
            if children:
                children[-1][1] = verb
            else:
                body = verb
        else:
            children.append([verb, None])
    if not body and not children:
        out.append(" />")
        return
    out.append(">")
    if body:
        out.append(escape(str(body)))
    for child, tail in children:
        serialise(child, out)
        if tail:
            out.append(escape(tail))
    out.append(f"</{name}>")


def twiml(response: TwiML) -> Response:
    """The TwiML document: the same text as ``str(response)``."""
    out = [XML_DECLARATION]
    serialise(response, out)
    return Response("".join(out), mimetype="text/xml")
