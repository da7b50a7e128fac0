"""/supervision: who may open it, its JSON snapshot, and the supervisor's actions through the
JSON endpoints, each with its audit row."""

from __future__ import annotations

from xml.etree import ElementTree

import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from admin.models import User
from directory.models import Agent, AuditEntry
from register.models import CallbackRequest
from routing import agents
from routing import queue as line
from routing.dispatch import match
from routing.queue import CallerStatus
from routing.settings import RoutingSettings
from tests.admin.conftest import PASSWORD, login
from tests.admin.media import fake_twilio_media, tone_wav
from tests.board.conftest import queue_caller
from tests.conftest import TwilioSigner, call_params
from tests.routing.conftest import add_agent, caller_state, sid
from tests.twilio_fake import FakeTwilio

R = RoutingSettings()


def _audit(session: Session) -> list[AuditEntry]:
    session.expire_all()
    return list(
        session.scalars(
            select(AuditEntry).where(AuditEntry.entity == "supervision").order_by(AuditEntry.id)
        )
    )


def _post(client: FlaskClient, path: str, body: dict | None = None) -> TestResponse:
    return client.post(path, json=body or {})


def test_only_supervisors_and_admins_open_the_board(
    app: Flask, client: FlaskClient, session: Session
) -> None:
    assert client.get("/supervision").status_code == 302  # to the sign-in
    for name, role in (
        ("ag", "agente"),
        ("lec", "lector"),
        ("sup", "supervisor"),
        ("adm", "admin"),
    ):
        user = User(username=name, nombre=name, role=role, activo=True)
        user.set_password(PASSWORD)
        session.add(user)
    session.commit()
    for name, status in (("ag", 403), ("lec", 403), ("sup", 200), ("adm", 200)):
        login(client, name)
        assert client.get("/supervision").status_code == status, name
        assert client.get("/supervision/datos").status_code == status, name
        assert _post(client, "/supervision/llamadas/CA1/adelantar").status_code in (
            (403,) if status == 403 else (409,)
        )
        client.post("/admin/logout")


def test_the_supervisor_starts_on_the_board_and_the_page_carries_a_ticket(
    app: Flask, signed_in: FlaskClient
) -> None:
    assert signed_in.get("/").headers["Location"].endswith("/supervision")
    page = signed_in.get("/supervision")
    html = page.get_data(as_text=True)
    assert 'data-ticket="' in html and "Tablero de supervisión" in html
    assert 'href="/supervision"' in html  # in the navigation bar
    csp = page.headers["Content-Security-Policy"]
    assert "connect-src 'self' http://localhost:5001" in csp  # the live stream's origin


def test_the_json_snapshot_shows_callers_queued_through_signed_webhooks(
    app: Flask, signed_in: FlaskClient, twilio: TwilioSigner
) -> None:
    caller_state(sid(1), preferencial="gestante")
    queue_caller(twilio, sid(1))
    data = signed_in.get("/supervision/datos").get_json()
    assert data["cola"]["total"] == 1
    assert data["cola"]["llamantes"][0]["clase"] == "preferencial"
    assert data["alertas"][0]["kind"] == "sin_agentes"
    assert "<svg" in data["graficos"]["agentes"]


def _ringing(session: Session, r: redis.Redis) -> Agent:
    """An agent offered caller sid(1), their phone ringing."""
    now = line.now_ms()
    agent = add_agent(session, "Ana")
    agents.set_state(r, agent.id, "available", languages=[], now=now, settings=R)
    line.enqueue(r, sid(1), language="es", priority="normal", now=now, settings=R)
    assert [m.call_sid for m in match(r, now=now, settings=R)] == [sid(1)]
    assert agents.presence(r, agent.id).state == "ringing"
    return agent


def test_a_supervisor_frees_a_ringing_agent_and_the_audit_log_has_it(
    app: Flask, signed_in: FlaskClient, session: Session, redis_client: redis.Redis
) -> None:
    agent = _ringing(session, redis_client)

    reply = _post(signed_in, f"/supervision/agentes/{agent.id}/estado", {"estado": "offline"})

    assert reply.status_code == 200, reply.data
    assert reply.get_json()["llamada_devuelta"] == sid(1)
    assert agents.presence(redis_client, agent.id).state == "offline"
    caller = line.caller(redis_client, sid(1))
    assert caller is not None and caller.status is CallerStatus.WAITING
    assert line.position(redis_client, sid(1)) == 1
    [entry] = _audit(session)
    assert (entry.actor, entry.action, entry.entity_id) == ("sofia", "estado_agente", str(agent.id))
    assert entry.before == {"estado": "ringing", "llamada": sid(1)}
    assert entry.after == {"estado": "offline", "llamada_devuelta": sid(1)}
    assert entry.at is not None

    back = _post(signed_in, f"/supervision/agentes/{agent.id}/estado", {"estado": "available"})
    assert back.status_code == 200
    assert agents.presence(redis_client, agent.id).state == "available"
    assert len(_audit(session)) == 2


def test_an_agent_on_a_call_is_not_changed(
    app: Flask, signed_in: FlaskClient, session: Session, redis_client: redis.Redis
) -> None:
    agent = _ringing(session, redis_client)
    agents.answered(redis_client, sid(1), agent.id, now=line.now_ms())

    reply = _post(signed_in, f"/supervision/agentes/{agent.id}/estado", {"estado": "paused"})

    assert reply.status_code == 409
    assert "en una llamada" in reply.get_json()["error"]
    assert agents.presence(redis_client, agent.id).state == "on_call"
    assert _audit(session) == []
    assert (
        _post(signed_in, f"/supervision/agentes/{agent.id}/estado", {"estado": "x"}).status_code
        == 409
    )


def test_a_waiting_caller_taken_into_a_callback_is_told_and_the_call_ends(
    app: Flask,
    signed_in: FlaskClient,
    session: Session,
    redis_client: redis.Redis,
    twilio: TwilioSigner,
    fake_twilio: FakeTwilio,
) -> None:
    caller_state(sid(1))
    queue_caller(twilio, sid(1))

    reply = _post(signed_in, f"/supervision/llamadas/{sid(1)}/devolucion")

    assert reply.status_code == 200, reply.data
    caller = line.caller(redis_client, sid(1))
    assert caller is not None and caller.status is CallerStatus.CALLBACK
    assert line.waiting_count(redis_client) == 0
    [request] = session.scalars(select(CallbackRequest)).all()
    assert (request.call_sid, request.source, request.telefono) == (sid(1), "cola", "+51987654321")
    [entry] = _audit(session)
    assert (entry.action, entry.entity_id) == ("devolucion", sid(1))
    assert entry.after == {"estado": "devolucion", "devolucion_id": request.id}
    # the job took the caller out of Twilio's queue to the callback goodbye
    [update] = fake_twilio.of("member_update")
    url = update.one("Url")
    assert url == f"https://ivr.example.test/voice/queue/callback-goodbye?call={sid(1)}"
    twiml = twilio.post(url.removeprefix("https://ivr.example.test"), call_params(sid(1)))
    root = ElementTree.fromstring(twiml.data)
    assert [child.tag for child in root][-1] == "Hangup"
    assert "Hemos registrado su pedido" in "".join(root.itertext())
    assert len(session.scalars(select(CallbackRequest)).all()) == 1  # not twice

    again = _post(signed_in, f"/supervision/llamadas/{sid(1)}/devolucion")
    assert again.status_code == 409 and len(_audit(session)) == 1


def test_a_caller_moved_up_goes_ahead_of_everyone_waiting(
    app: Flask, signed_in: FlaskClient, session: Session, redis_client: redis.Redis
) -> None:
    now = line.now_ms()
    line.enqueue(redis_client, sid(1), language="es", priority="preferential", now=now, settings=R)
    line.enqueue(redis_client, sid(2), language="qu", priority="authority", now=now, settings=R)
    line.enqueue(redis_client, sid(3), language="es", priority="normal", now=now, settings=R)
    assert line.position(redis_client, sid(3)) == 3

    reply = _post(signed_in, f"/supervision/llamadas/{sid(3)}/adelantar")

    assert reply.status_code == 200
    assert line.position(redis_client, sid(3)) == 1
    assert line.position(redis_client, sid(1)) == 2
    [entry] = _audit(session)
    assert (entry.action, entry.before, entry.after) == ("adelantar", {"puesto": 3}, {"puesto": 1})
    assert _post(signed_in, f"/supervision/llamadas/{sid(9)}/adelantar").status_code == 409


def test_listening_to_a_callers_summary_is_logged_and_the_audio_comes_through_the_app(
    app: Flask, signed_in: FlaskClient, session: Session, redis_client: redis.Redis
) -> None:
    body = tone_wav(0.2)
    with fake_twilio_media(
        app.config["TWILIO_ACCOUNT_SID"], app.config["TWILIO_AUTH_TOKEN"], body
    ) as media:
        app.config["TWILIO_MEDIA_HOSTS"] = ("127.0.0.1",)
        url = f"{media['base']}/2010-04-01/Accounts/AC1/Recordings/RE{'1' * 32}"
        caller_state(sid(1), summary_url=url)
        line.enqueue(
            redis_client, sid(1), language="es", priority="normal", now=line.now_ms(), settings=R
        )
        data = signed_in.get("/supervision/datos").get_json()
        assert data["cola"]["llamantes"][0]["resumen"] is True

        reply = _post(signed_in, f"/supervision/llamadas/{sid(1)}/escuchar")
        assert reply.status_code == 200
        audio = signed_in.get(reply.get_json()["audio"])
        assert audio.status_code == 200 and audio.data == body
        assert media["seen"] == [(f"/2010-04-01/Accounts/AC1/Recordings/RE{'1' * 32}.mp3", True)]
    [entry] = _audit(session)
    assert (entry.action, entry.entity_id) == ("escuchar", sid(1))
    assert _post(signed_in, f"/supervision/llamadas/{sid(2)}/escuchar").status_code == 404
