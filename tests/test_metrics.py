"""/metrics: Prometheus' text format behind the bearer token, with the webhooks' latency by
route and the line as it is (callers by class, agents by state, the register's lag)."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from twilio.twiml.voice_response import VoiceResponse

from tests.conftest import TwilioSigner, call_params
from tests.routing.conftest import add_agent, caller_state, send_to_plataforma, sid


def test_metrics_need_the_token(app: Flask, client: FlaskClient) -> None:
    assert client.get("/metrics").status_code == 404  # no METRICS_TOKEN: no page
    app.config["METRICS_TOKEN"] = "m" * 32
    assert client.get("/metrics").status_code == 401
    wrong = {"Authorization": "Bearer " + "x" * 32}
    assert client.get("/metrics", headers=wrong).status_code == 401


def test_metrics_show_the_webhooks_and_the_line(
    app: Flask, client: FlaskClient, twilio: TwilioSigner, session: Session
) -> None:
    app.config["METRICS_TOKEN"] = token = "m" * 32
    add_agent(session, "Ana")
    twilio.post("/voice/incoming", call_params(sid(1)))
    with app.test_request_context():
        send_to_plataforma(VoiceResponse(), caller_state(sid(2), preferencial="gestante"), "menu")
    page = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert page.status_code == 200 and page.mimetype == "text/plain"
    text = page.get_data(as_text=True)
    assert 'red_webhook_seconds_count{route="voice.incoming"}' in text
    assert 'red_callers_waiting{clase="preferential"} 1.0' in text
    assert 'red_agents{estado="offline"} 1.0' in text
    assert "red_register_lag_seconds" in text and "red_outbox_events 0.0" in text
