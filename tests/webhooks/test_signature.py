"""The signature check (webhooks/twilio_auth.py): Twilio's URL, with or without its default
port; anything else is refused with 403 and records nothing."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from twilio.request_validator import RequestValidator

from extensions import redis_store
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
    assert redis_store.client.keys("*") == []
    assert twilio.post("/voice/incoming", data).status_code == 200
