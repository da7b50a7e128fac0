"""The agent's returns: today's callback requests and voice messages due, oldest first; taken
by one agent only; dialed from the console through the TwiML App's Voice URL (the number is
the item's); the attempt is its own register row linked to the call it returns."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from clock import lima_now, utcnow
from directory.models import Agent
from ivr.prompts import DEFAULT_PROMPTS, set_text
from register import callbacks
from register.models import CallbackRequest, RegisterCall, VoiceMessage
from tests.conftest import TwilioSigner, call_params
from tests.console.conftest import local, sign_in
from tests.console.test_calls import api, js, xml
from tests.routing.conftest import add_agent, sid

OUT = "CA" + "d" * 32  # the softphone's outbound call


def returns_due(session: Session) -> tuple[CallbackRequest, VoiceMessage]:
    today = lima_now().date()
    request, _ = callbacks.request_callback(
        session,
        call_sid=sid(7),
        source="cola",
        telefono="+51987000111",
        due=today,
        now=utcnow() - timedelta(hours=1),
    )
    message = VoiceMessage(
        call_sid=sid(8),
        telefono="+51987000222",
        recording_url="https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1",
        created_at=utcnow() - timedelta(days=1),
        due_date=today - timedelta(days=1),
        status="pendiente",
    )
    later, _ = callbacks.request_callback(
        session,
        call_sid=sid(9),
        source="cola",
        telefono="+51987000333",
        due=today + timedelta(days=1),
    )
    session.add(message)
    session.commit()
    assert later.due_date > today  # not today's: not listed
    return request, message


def test_the_list_is_oldest_due_first_and_an_item_is_taken_by_one_agent(
    app: Flask, signed_in: FlaskClient, session: Session, client: FlaskClient
) -> None:
    request, message = returns_due(session)
    listed = js(signed_in.get("/agente/api/devoluciones"))
    assert [(i["id"], i["tipo"], i["vencida"]) for i in listed] == [
        (f"m{message.id}", "mensaje", True),
        (f"c{request.id}", "devolucion", False),
    ]
    taken = api(signed_in, f"/devoluciones/c{request.id}/tomar")
    assert taken.status_code == 200 and js(taken)["estado"] == "en_curso"
    assert api(signed_in, f"/devoluciones/m{message.id}/tomar").status_code == 200
    assert api(signed_in, f"/devoluciones/m{message.id}/tomar").status_code == 200  # again: mine
    # another agent cannot take them
    beto = add_agent(session, "Beto Ramos", destino="beto")
    other = app.test_client()
    sign_in(session, other, "beto", beto.id)
    for ref in (f"c{request.id}", f"m{message.id}"):
        refused = api(other, f"/devoluciones/{ref}/tomar")
        assert refused.status_code == 409, refused.json
    assert api(other, "/devoluciones/x1/tomar").status_code == 404
    # the outcome: the message is attended, the callback not answered stays on the list
    done = api(signed_in, f"/devoluciones/m{message.id}/resultado", {"resultado": "realizada"})
    assert done.status_code == 200 and js(done)["estado"] == "atendido"
    again = api(signed_in, f"/devoluciones/c{request.id}/resultado", {"resultado": "no_contesta"})
    assert again.status_code == 200 and js(again)["estado"] == "no_contesta"
    bad = api(signed_in, f"/devoluciones/c{request.id}/resultado", {"resultado": "quizá"})
    assert bad.status_code == 400 and js(bad)["error"].startswith("Resultado no válido")
    assert [i["id"] for i in js(signed_in.get("/agente/api/devoluciones"))] == [f"c{request.id}"]


def test_the_outbound_call_dials_the_items_number_and_is_its_own_row(
    app: Flask,
    twilio: TwilioSigner,
    signed_in: FlaskClient,
    session: Session,
    ana: Agent,
) -> None:
    request, _message = returns_due(session)
    params = call_params(OUT, From="client:ana", To="+51987000111", Devolucion=f"c{request.id}")
    # not taken yet: refused, nothing dialed, in the catalogue's words (an admin may change them)
    root = xml(twilio.post("/voice/agent/outbound", params))
    assert [(c.tag, c.text) for c in root] == [
        ("Say", DEFAULT_PROMPTS["agent_call_refused"]),
        ("Hangup", None),
    ]
    set_text(session, "agent_call_refused", "es", "Llamada no realizada: tómela en la consola.")
    root = xml(twilio.post("/voice/agent/outbound", params))
    assert root.findtext("Say") == "Llamada no realizada: tómela en la consola."
    assert twilio.post_badly_signed("/voice/agent/outbound", params).status_code == 403
    assert api(signed_in, f"/devoluciones/c{request.id}/tomar").status_code == 200
    # the page's To is not what is dialed: the item's number is
    params["To"] = "+51900000000"
    root = xml(twilio.post("/voice/agent/outbound", params))
    dial = root.find("Dial")
    assert dial is not None and dial.attrib["callerId"] == app.config["ROUTING_CALLER_ID"]
    assert dial.findtext("Number") == "+51987000111"
    done = call_params(OUT, DialCallStatus="completed", DialCallDuration="75")
    for _ in range(2):  # Twilio may send it twice
        assert [c.tag for c in xml(twilio.post(local(dial.attrib["action"]), done))] == ["Hangup"]
    wrap = {
        "tipo_consulta": "administrativa",
        "detalle": "Se informó el estado del trámite.",
        "resultado": "absuelta",
    }
    assert api(signed_in, f"/llamada/{OUT}/cierre", wrap).status_code == 200
    outcome = api(signed_in, f"/devoluciones/c{request.id}/resultado", {"resultado": "realizada"})
    assert js(outcome)["estado"] == "realizada"
    row = session.scalars(select(RegisterCall).where(RegisterCall.call_sid == OUT)).one()
    assert row.devolucion_de == sid(7)
    assert (row.telefono, row.atendido_por, row.resultado) == (
        "+51987000111",
        "Ana Torres",
        "atendida",
    )
    assert row.detalle == wrap["detalle"] and row.resultado_atencion == "absuelta"
    assert row.journey["returns"]["outcome"] == "answered"
    assert [e["step"] for e in row.events].count("callback_attempt") == 2


def test_the_wrap_up_applies_whatever_the_order_the_events_arrive_in(session: Session) -> None:
    """Saved while the call's last events are still being drained, or after the row exists:
    the same row (the register derives it from all the events, ``wrap_up`` included)."""
    from register.ingest import ingest_events
    from tests.register.journeys import plataforma_answered

    rows = []
    for n, batches in enumerate(("wrap-first", "wrap-between", "wrap-last")):
        call_sid = "CA" + str(n + 5) * 32
        events = plataforma_answered(call_sid)
        wrap = {
            "id": f"wrap-{call_sid}",
            "call_sid": call_sid,
            "step": "wrap_up",
            "choice": None,
            "at": events[-1]["at"],
            "data": {
                "tipo_consulta": "tecnica",
                "detalle": "Texto del agente",
                "resultado": "absuelta",
                "agent_id": 1,
                "nombre": "Ana",
            },
        }
        half = len(events) // 2
        order = {
            "wrap-first": [[wrap], events],
            "wrap-between": [events[:half], [wrap], events[half:]],
            "wrap-last": [events, [wrap]],
        }[batches]
        for batch in order:
            ingest_events(session, batch)
        row = session.scalars(select(RegisterCall).where(RegisterCall.call_sid == call_sid)).one()
        rows.append((row.detalle, row.tipo_consulta, row.resultado_atencion, row.atendido_por))
    assert rows == [("Texto del agente", "tecnica", "absuelta", rows[0][3])] * 3
    assert rows[0][3]  # the agent who answered


def test_json_posts_need_the_csrf_token_in_the_header_when_it_is_on(
    app: Flask, signed_in: FlaskClient
) -> None:
    """The page sends Flask-WTF's token as X-CSRFToken; without it, a JSON error."""
    from itsdangerous import URLSafeTimedSerializer

    app.config["WTF_CSRF_ENABLED"] = True
    raw = "a" * 40
    with signed_in.session_transaction() as sess:
        sess["csrf_token"] = raw  # what csrf_token() keeps in the session for the page
    token = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt="wtf-csrf-token").dumps(raw)
    refused = signed_in.post("/agente/api/llamada/CA1/colgar", json={})
    assert refused.status_code == 400
    assert js(refused)["error"].startswith("La página venció")
    reply = signed_in.post(
        "/agente/api/llamada/CA1/colgar", json={}, headers={"X-CSRFToken": token}
    )
    assert reply.status_code == 409  # past the token: no such call of hers
