"""The agents' JSON API: tokens, presence, callbacks."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from register import callbacks
from routing import agents
from routing.api import agent_token
from tests.ivr.helpers import load_directory
from tests.routing.conftest import add_agent, dead_redis, sid
from tests.twilio_fake import FakeTwilio


def body(reply: TestResponse) -> dict[str, Any]:
    data = reply.get_json()
    assert isinstance(data, dict)
    return data


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_no_token_or_a_forged_one_is_refused(client: FlaskClient, session: Session) -> None:
    ana = add_agent(session, "Ana")
    assert client.get(f"/api/agents/{ana.id}/state").status_code == 401
    forged = f"{ana.id}." + "0" * 64
    assert client.get(f"/api/agents/{ana.id}/state", headers=bearer(forged)).status_code == 401


def test_an_agent_changes_only_their_own_state(
    app: Flask, client: FlaskClient, session: Session, redis_client: redis.Redis
) -> None:
    ana, beto = add_agent(session, "Ana", languages=("qu",)), add_agent(session, "Beto")
    token = agent_token(app.config["SECRET_KEY"], ana.id)
    reply = client.post(
        f"/api/agents/{ana.id}/state", json={"state": "available"}, headers=bearer(token)
    )
    assert reply.status_code == 200 and reply.json == {"agent_id": ana.id, "state": "available"}
    state = body(client.get(f"/api/agents/{ana.id}/state", headers=bearer(token)))
    assert state["state"] == "available" and state["languages"] == ["qu"]
    assert (
        client.post(
            f"/api/agents/{beto.id}/state", json={"state": "available"}, headers=bearer(token)
        ).status_code
        == 403
    )
    assert (
        client.post(
            f"/api/agents/{ana.id}/state", json={"state": "dancing"}, headers=bearer(token)
        ).status_code
        == 400
    )


def test_the_supervisor_token_acts_for_any_agent(client: FlaskClient, session: Session) -> None:
    beto = add_agent(session, "Beto")
    reply = client.post(
        f"/api/agents/{beto.id}/state", json={"state": "paused"}, headers=bearer("supervisor-token")
    )
    assert reply.status_code == 200 and body(reply)["state"] == "paused"
    assert (
        client.post(
            "/api/agents/999/state", json={"state": "paused"}, headers=bearer("supervisor-token")
        ).status_code
        == 404
    )


def test_the_cli_prints_a_token_the_api_accepts(
    runner: FlaskCliRunner, client: FlaskClient, session: Session
) -> None:
    ana = add_agent(session, "Ana")
    token = runner.invoke(args=["routing", "agent-token", str(ana.id)]).output.strip()
    assert client.get(f"/api/agents/{ana.id}/state", headers=bearer(token)).status_code == 200
    out = runner.invoke(args=["routing", "agent-state", str(ana.id), "available"])
    assert out.exit_code == 0 and "disponible" in out.output


def test_callbacks_through_the_api(app: Flask, client: FlaskClient, session: Session) -> None:
    ana = add_agent(session, "Ana")
    headers = bearer(agent_token(app.config["SECRET_KEY"], ana.id))
    request, _ = callbacks.request_callback(
        session, call_sid=sid(1), source="cola", telefono="+51987654321", due=date.today()
    )
    listed = body(client.get("/api/callbacks", headers=headers))["callbacks"]
    assert [(c["id"], c["source"], c["status"]) for c in listed] == [
        (request.id, "cola", "pendiente")
    ]
    taken = client.post(f"/api/callbacks/{request.id}/take", headers=headers)
    assert taken.status_code == 200 and body(taken)["taken_by"] == "Ana"
    done = client.post(
        f"/api/callbacks/{request.id}/done",
        json={"outcome": "realizada", "note": "Listo"},
        headers=headers,
    )
    assert done.status_code == 200 and body(done)["status"] == "realizada"
    assert body(done)["attempts"] == 1
    again = client.post(f"/api/callbacks/{request.id}/done", json={}, headers=headers)
    assert again.status_code == 409


def test_a_transfer_needs_a_digits_only_anexo_or_an_organo(
    app: Flask, client: FlaskClient, session: Session
) -> None:
    ana = add_agent(session, "Ana")
    headers = bearer(agent_token(app.config["SECRET_KEY"], ana.id))
    bad = client.post(f"/api/calls/{sid(1)}/transfer", json={"anexo": "12a"}, headers=headers)
    assert bad.status_code == 400
    not_mine = client.post(f"/api/calls/{sid(1)}/transfer", json={"anexo": "1234"}, headers=headers)
    assert not_mine.status_code == 409


def connect_an_authority(session: Session, redis_client: redis.Redis) -> int:
    """An authority caller connected to the agent Ana (whose id is returned)."""
    from routing import queue as line
    from routing.dispatch import match
    from routing.settings import RoutingSettings

    settings = RoutingSettings()
    ana = add_agent(session, "Ana")
    line.enqueue(
        redis_client, sid(1), language="es", priority="authority", now=1, settings=settings
    )
    agents.set_state_from_directory(
        session, redis_client, ana.id, "available", now=2, settings=settings
    )
    [m] = match(redis_client, now=3, settings=settings)
    agents.answered(redis_client, m.call_sid, ana.id, now=4)
    return ana.id


def test_an_agent_transfers_from_the_command_line(
    app: Flask,
    runner: FlaskCliRunner,
    session: Session,
    redis_client: redis.Redis,
    fake_twilio: FakeTwilio,
) -> None:
    from routing import queue as line
    from routing.dispatch import match
    from routing.settings import RoutingSettings

    settings = RoutingSettings()
    ana = add_agent(session, "Ana")
    line.enqueue(
        redis_client, sid(1), language="es", priority="authority", now=1, settings=settings
    )
    load_directory(session)
    visit = ["--nombre", "Rosa Mamani", "--entidad", "Municipalidad de Juli"]
    visit += ["--fecha", "2099-12-03", "--hora", "10:30", "--organo", "DGPP"]
    out = runner.invoke(args=["routing", "presencial", sid(1), *visit])
    assert out.exit_code == 1 and "no está conectada" in out.output
    agents.set_state_from_directory(
        session, redis_client, ana.id, "available", now=2, settings=settings
    )
    [m] = match(redis_client, now=3, settings=settings)
    agents.answered(redis_client, m.call_sid, ana.id, now=4)
    out = runner.invoke(args=["routing", "transfer", sid(1), "--anexo", "2301"])
    assert out.exit_code == 0, out.output
    [redirect] = fake_twilio.of("call_update")
    assert redirect.one("Url").endswith(f"/voice/queue/transfer?call={sid(1)}&anexo=2301")
    assert agents.presence(redis_client, ana.id).state == "wrap_up"


def test_presencial_from_the_command_line_asks_who_comes_and_when(
    app: Flask,
    runner: FlaskCliRunner,
    session: Session,
    redis_client: redis.Redis,
    fake_twilio: FakeTwilio,
) -> None:
    load_directory(session)
    connect_an_authority(session, redis_client)
    out = runner.invoke(args=["routing", "presencial", sid(1)])
    assert out.exit_code == 2 and "Falta la opción" in out.output
    visit = ["--nombre", "Rosa Mamani", "--entidad", "Municipalidad de Juli"]
    out = runner.invoke(
        args=["routing", "presencial", sid(1), *visit, "--fecha", "3/12", "--hora", "10:30"]
    )
    assert out.exit_code == 1
    assert "Indique la fecha acordada como AAAA-MM-DD" in out.output
    assert "Indique el órgano (su sigla)" in out.output  # none chosen in the IVR
    assert fake_twilio.sent == []
    visit += ["--fecha", "2099-12-03", "--hora", "10:30", "--organo", "dgpp"]
    out = runner.invoke(args=["routing", "presencial", sid(1), *visit])
    assert out.exit_code == 0, out.output
    [sms] = fake_twilio.of("message_create")
    assert "Autoridad: Rosa Mamani. Entidad: Municipalidad de Juli." in sms.one("Body")
    assert "Fecha y hora acordadas: 03/12/2099 a las 10:30." in sms.one("Body")


def test_a_signed_in_console_user_acts_as_their_agent(
    client: FlaskClient, session: Session
) -> None:
    from admin.models import User

    ana = add_agent(session, "Ana")
    user = User(username="ana", nombre="Ana", role="agente", agent_id=ana.id, activo=True)
    user.set_password("una clave larga")
    session.add(user)
    session.commit()
    with client.session_transaction() as browser:
        browser["_user_id"] = user.get_id()
        browser["_fresh"] = True
    assert client.get(f"/api/agents/{ana.id}/state").status_code == 200
    assert client.get(f"/api/agents/{ana.id + 1}/state").status_code == 403
    url = f"/api/agents/{ana.id}/state"
    assert client.post(url, data={"state": "available"}).status_code == 415  # a form: CSRF
    assert client.post(url, json={"state": "available"}).status_code == 200


REDIS_ENDPOINTS = [
    ("GET", "/api/agents/{agent}/state", None),
    ("POST", "/api/agents/{agent}/state", {"state": "available"}),
    ("GET", "/api/queue", None),
    ("POST", "/api/calls/{call}/transfer", {"anexo": "2301"}),
    ("POST", "/api/calls/{call}/presencial", {}),
]


@pytest.mark.parametrize(("method", "path", "payload"), REDIS_ENDPOINTS)
def test_with_redis_down_the_api_answers_503_in_spanish(
    app: Flask,
    client: FlaskClient,
    session: Session,
    monkeypatch: pytest.MonkeyPatch,
    method: str,
    path: str,
    payload: dict[str, Any] | None,
) -> None:
    """Issue 11.3: not a 500."""
    from extensions import redis_store

    ana = add_agent(session, "Ana")
    token = agent_token(app.config["SECRET_KEY"], ana.id)
    monkeypatch.setattr(redis_store, "_client", dead_redis())
    url = path.format(agent=ana.id, call=sid(1))
    reply = client.open(url, method=method, json=payload, headers=bearer(token))
    assert reply.status_code == 503
    assert body(reply) == {
        "error": "La fila de la Plataforma no está disponible en este momento (falla de "
        "Redis). Intente de nuevo en unos minutos."
    }


def test_with_redis_down_the_callback_list_still_works(
    client: FlaskClient, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    from extensions import redis_store

    monkeypatch.setattr(redis_store, "_client", dead_redis())
    reply = client.get("/api/callbacks", headers=bearer("supervisor-token"))
    assert reply.status_code == 200
    assert body(reply) == {"callbacks": []}
