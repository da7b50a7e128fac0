"""/agente, /agente/token, /agente/api/estado and the presence endpoints through the app's
test client, with the live channel's messages caught on a real Redis subscription."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import jwt
import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

import livebus
from directory.models import Agent
from routing import agents
from tests.admin.conftest import login
from tests.console.conftest import Listener, add_user
from tests.routing.conftest import add_agent

KEY = {
    "sid": "SK" + "a" * 32,
    "secret": "api-key-secret-of-at-least-32-bytes!",
    "app": "AP" + "b" * 32,
}


def js(reply: TestResponse) -> dict[str, Any]:
    data = reply.get_json()
    assert isinstance(data, dict)
    return data


def softphone(app: Flask) -> None:
    app.config.update(
        TWILIO_API_KEY_SID=KEY["sid"],
        TWILIO_API_KEY_SECRET=KEY["secret"],
        TWILIO_TWIML_APP_SID=KEY["app"],
    )


def signed_in_user_id(app: Flask) -> int:
    from admin.models import User
    from extensions import db

    user = db.session.query(User).filter_by(username="rosa").one()
    return int(user.id)


def page_data(html: str) -> dict:
    found = re.search(
        r'<script type="application/json" id="consola-datos">(.*?)</script>', html, re.S
    )
    assert found
    return json.loads(found.group(1))


def test_the_agent_starts_on_the_console_and_gets_a_ticket_for_their_topic(
    app: Flask, rosa_client: FlaskClient, rosa: Agent
) -> None:
    home = rosa_client.get("/")
    assert home.status_code == 302 and home.headers["Location"].endswith("/agente")
    page = rosa_client.get("/agente")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Consola del agente" in html and 'href="/agente"' in html  # in the navigation
    data = page_data(html)
    ticket = data["vivo"].split("ticket=", 1)[1]
    assert data["vivo"].startswith("http://localhost:5001/live/stream?")
    assert livebus.topics_of(app.config["SECRET_KEY"], ticket) == (
        signed_in_user_id(app),
        [f"agent:{rosa.id}"],
    )
    assert data["identidad"] == "agente_rosa"
    assert data["softphone"] is False  # no API key in the test settings
    assert "no está configurado" in html
    csp = page.headers["Content-Security-Policy"]
    assert "connect-src 'self' http://localhost:5001 wss://*.twilio.com" in csp
    assert "microphone=(self)" in page.headers["Permissions-Policy"]


def test_live_url_setting_wins(app: Flask, rosa_client: FlaskClient) -> None:
    app.config["LIVE_URL"] = "https://ivr.mef.gob.pe/live/"
    data = page_data(rosa_client.get("/agente").get_data(as_text=True))
    assert data["vivo"].startswith("https://ivr.mef.gob.pe/live/stream?ticket=")


def test_other_roles_and_unlinked_agents_get_no_console(app: Flask, session: Session) -> None:
    add_user(session, "super", None, role="supervisor")
    add_user(session, "suelta", None)
    client = app.test_client()
    assert client.get("/agente").status_code == 302  # not signed in: the login page
    login(client, "super")
    assert client.get("/agente").status_code == 403
    assert client.get("/agente/token").status_code == 403
    other = app.test_client()
    login(other, "suelta")
    reply = other.get("/agente")
    assert reply.status_code == 200 and "no está vinculado a un agente" in reply.get_data(
        as_text=True
    )
    assert other.get("/agente/api/estado").status_code == 403


def test_token_unconfigured_is_503_in_spanish(rosa_client: FlaskClient) -> None:
    reply = rosa_client.get("/agente/token")
    assert reply.status_code == 503
    assert (
        "TWILIO_API_KEY_SID" in js(reply)["error"] and "no está configurado" in js(reply)["error"]
    )


def test_token_carries_a_voice_grant_for_the_agents_client_identity(
    app: Flask, rosa_client: FlaskClient
) -> None:
    softphone(app)
    reply = rosa_client.get("/agente/token")
    assert reply.status_code == 200
    body = js(reply)
    claims = jwt.decode(body["token"], KEY["secret"], algorithms=["HS256"])
    assert claims["iss"] == KEY["sid"] and claims["sub"] == app.config["TWILIO_ACCOUNT_SID"]
    assert claims["grants"]["identity"] == "agente_rosa"
    voice = claims["grants"]["voice"]
    assert voice["incoming"] == {"allow": True}
    assert voice["outgoing"]["application_sid"] == KEY["app"]
    assert claims["exp"] - time.time() == pytest.approx(3600, abs=30)
    assert body["ttl"] == 3600


def test_an_anexo_agent_gets_no_token_but_uses_the_page(app: Flask, session: Session) -> None:
    softphone(app)
    pedro = add_agent(session, "Pedro", canal="anexo", destino="2104")
    add_user(session, "pedro", pedro)
    client = app.test_client()
    login(client, "pedro")
    assert client.get("/agente").status_code == 200
    reply = client.get("/agente/token")
    assert reply.status_code == 409 and "2104" in js(reply)["error"]


def test_presence_with_a_pause_reason_is_published_and_read_back(
    rosa_client: FlaskClient, rosa: Agent, listener: Listener
) -> None:
    reply = rosa_client.post(
        "/agente/api/estado", json={"estado": "paused", "motivo": "refrigerio"}
    )
    assert reply.status_code == 200
    assert js(reply)["presencia"]["estado"] == "paused"
    assert js(reply)["presencia"]["motivo"] == "refrigerio"
    got = listener.messages()
    assert (f"agent:{rosa.id}", "state") in [(t, e) for t, e, _ in got]
    assert ("line", "agent") in [(t, e) for t, e, _ in got]
    state = next(d for t, e, d in got if e == "state")
    assert state["estado"] == "paused" and state["motivo"] == "refrigerio"

    snap = js(rosa_client.get("/agente/api/estado"))
    assert snap["presencia"]["motivo"] == "refrigerio" and snap["oferta"] is None
    assert abs(snap["servidor_ms"] - time.time() * 1000) < 5000

    reply = rosa_client.post("/agente/api/estado", json={"estado": "available"})
    assert js(reply)["presencia"]["estado"] == "available"
    assert js(reply)["presencia"]["motivo"] is None


def test_a_pause_needs_a_known_reason(rosa_client: FlaskClient) -> None:
    reply = rosa_client.post("/agente/api/estado", json={"estado": "paused"})
    assert reply.status_code == 400 and "Refrigerio" in js(reply)["error"]
    reply = rosa_client.post("/agente/api/estado", json={"estado": "paused", "motivo": "siesta"})
    assert reply.status_code == 400
    reply = rosa_client.post("/agente/api/estado", json={"estado": "ringing"})
    assert reply.status_code == 400
    reply = rosa_client.post("/agente/api/estado", data="estado=available")
    assert reply.status_code == 415


def test_wrap_up_shows_when_it_ends(
    rosa_client: FlaskClient, rosa: Agent, redis_client: redis.Redis
) -> None:
    from routing.settings import RoutingSettings

    settings = RoutingSettings(wrap_up_seconds=30)
    agents.set_state(redis_client, rosa.id, "wrap_up", languages=[], now=1_000, settings=settings)
    p = js(rosa_client.get("/agente/api/estado"))["presencia"]
    assert p["estado"] == "wrap_up" and p["fin_cierre_ms"] == 31_000


def test_the_closing_beacon_takes_the_agent_offline(
    rosa_client: FlaskClient, rosa: Agent, redis_client: redis.Redis
) -> None:
    rosa_client.post("/agente/api/estado", json={"estado": "available"})
    reply = rosa_client.post("/agente/api/salir", data={"csrf_token": "x"})
    assert reply.status_code == 204
    found = agents.presence(redis_client, rosa.id)
    assert found.state == "offline" and found.reason == "consola_cerrada"


def test_a_lost_softphone_registration_takes_the_agent_offline(
    rosa_client: FlaskClient, rosa: Agent, redis_client: redis.Redis
) -> None:
    rosa_client.post("/agente/api/estado", json={"estado": "available"})
    reply = rosa_client.post("/agente/api/softphone", json={"evento": "registered"})
    assert js(reply)["presencia"]["estado"] == "available"
    reply = rosa_client.post("/agente/api/softphone", json={"evento": "unregistered"})
    assert js(reply)["presencia"]["estado"] == "offline"
    assert js(reply)["presencia"]["motivo"] == "sin_softphone"


def test_the_console_needs_the_csrf_token_when_csrf_is_on(
    app: Flask, rosa_client: FlaskClient
) -> None:
    app.config["WTF_CSRF_ENABLED"] = True
    reply = rosa_client.post("/agente/api/estado", json={"estado": "available"})
    assert reply.status_code == 400
    page = rosa_client.get("/agente").get_data(as_text=True)
    token = page_data(page)["csrf"]
    reply = rosa_client.post(
        "/agente/api/estado", json={"estado": "available"}, headers={"X-CSRFToken": token}
    )
    assert reply.status_code == 200


def test_the_softphone_sdk_is_served_from_the_apps_static_files(rosa_client: FlaskClient) -> None:
    """`make` copies it from node_modules (npm ci): no CDN."""
    reply = rosa_client.get("/agente/static/vendor/twilio.min.js")
    if reply.status_code == 404:
        pytest.skip("run `make softphone` (npm ci) first")
    assert reply.status_code == 200 and b"Twilio" in reply.data[:5000] + reply.data[-5000:]
    js = rosa_client.get("/agente/static/console.js").get_data(as_text=True)
    assert "window.RedSoftphone.createDevice(token" in js
