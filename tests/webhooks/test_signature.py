"""The signature check (webhooks/twilio_auth.py): the exact URL first, then Twilio's port
variants; anything else is refused with 403 and records nothing."""

from __future__ import annotations

import pytest
from flask import Flask, request
from flask.testing import FlaskClient
from twilio.request_validator import RequestValidator

from extensions import redis_store
from register.events import journey_key
from tests.conftest import TwilioSigner, call_params

SID = "CA" + "5" * 32


def test_a_request_signed_over_the_url_with_its_default_port_is_accepted(
    app: Flask, client: FlaskClient
) -> None:
    base = app.config["PUBLIC_BASE_URL"]
    scheme, _, host = base.partition("://")
    port = 443 if scheme == "https" else 80
    data = call_params(SID)
    signature = RequestValidator(app.config["TWILIO_AUTH_TOKEN"]).compute_signature(
        f"{scheme}://{host}:{port}/voice/incoming", data
    )
    response = client.post("/voice/incoming", data=data, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 200


def test_a_signature_header_that_is_not_ascii_is_refused(
    app: Flask, client: FlaskClient, twilio: TwilioSigner
) -> None:
    data = call_params(SID)
    response = client.post("/voice/incoming", data=data, headers={"X-Twilio-Signature": "firmaño"})
    assert response.status_code == 403
    assert not redis_store.client.exists(journey_key(SID))
    assert twilio.post("/voice/incoming", data).status_code == 200


def test_webhooks_open_no_cookie_session_and_admin_pages_still_do(
    app: Flask, client: FlaskClient, twilio: TwilioSigner, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flask.sessions import SecureCookieSessionInterface

    opened: list[str] = []
    real = SecureCookieSessionInterface.get_signing_serializer

    def spy(self: SecureCookieSessionInterface, app: Flask) -> object:
        opened.append(request.path)
        return real(self, app)

    monkeypatch.setattr(SecureCookieSessionInterface, "get_signing_serializer", spy)
    response = twilio.post("/voice/incoming", call_params(SID))
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    assert opened == []
    assert client.get("/admin/login").status_code == 200
    assert "/admin/login" in opened


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        (
            "CallSid=CA1&Digits=&SpeechResult=S%C3%AD+se%C3%B1or&Digits=9",
            "application/x-www-form-urlencoded; charset=utf-8",
            {"CallSid": "CA1", "Digits": "", "SpeechResult": "Sí señor"},
        ),
        (
            '--b\r\nContent-Disposition: form-data; name="CallSid"\r\n\r\nCA2\r\n--b--\r\n',
            "multipart/form-data; boundary=b",
            {"CallSid": "CA2"},
        ),
    ],
)
def test_the_form_fields_are_read_as_werkzeug_reads_them(
    app: Flask, body: str, content_type: str, expected: dict[str, str]
) -> None:
    from webhooks.twilio_auth import twilio_fields

    with app.test_request_context(
        "/voice/menu", method="POST", data=body.encode(), content_type=content_type
    ):
        assert twilio_fields() == expected
        assert twilio_fields() == request.form.to_dict(flat=True)  # the form still parses
