"""Cold transfers (another Plataforma agent, a CONECTAMEF center) and the authority's decision
(§5.5), through the console's API and the legs' signed webhooks."""

from __future__ import annotations

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from directory.models import Agent, ConectamefCenter
from register.models import RegisterCall
from routing import agents
from routing import queue as line
from tests.conftest import TwilioSigner, call_params
from tests.console.conftest import Live, S, local
from tests.console.test_calls import (
    CALLER,
    api,
    js,
    leg_sid,
    new,
    prompt,
    queue_and_connect,
    said,
    xml,
)
from tests.routing.conftest import add_agent
from tests.twilio_fake import FakeTwilio


def test_a_cold_transfer_to_a_center_that_does_not_answer_puts_the_caller_back_in_line(
    app: Flask,
    twilio: TwilioSigner,
    signed_in: FlaskClient,
    fake_twilio: FakeTwilio,
    redis_client: redis.Redis,
    session: Session,
    directory: None,
    ana: Agent,
    live: Live,
) -> None:
    agent_leg = queue_and_connect(app, twilio, fake_twilio, ana)
    cusco = session.scalars(
        select(ConectamefCenter).where(ConectamefCenter.centro == "Cusco")
    ).one()
    seen = len(fake_twilio.sent)
    reply = api(signed_in, f"/llamada/{CALLER}/transferir-fria", {"centro": cusco.id})
    assert reply.status_code == 200, reply.json
    assert js(reply)["nombre"] == "Cusco"
    # the caller on hold, the agent out of the conference (without ending it), the center dialed
    sent = [(s.operation, s.path.rsplit("/", 1)[-1]) for s in fake_twilio.sent[seen:]]
    assert sent == [
        ("participant_update", f"{CALLER}.json"),
        ("participant_update", f"{agent_leg}.json"),
        ("participant_delete", f"{agent_leg}.json"),
        ("call_create", "Calls.json"),
    ]
    [call] = new(fake_twilio, "call_create", seen)
    assert call.one("To") == "+5184234567"
    assert agents.presence(redis_client, ana.id).state == "wrap_up"
    assert {"call_sid": CALLER, "estado": "transferida"} in live.events("call")
    assert (
        api(signed_in, f"/llamada/{CALLER}/transferir-fria", {"centro": cusco.id}).status_code
        == 409
    )
    # nobody answers: the caller goes back to their place in line
    seen = len(fake_twilio.sent)
    status = local(call.one("StatusCallback"))
    center_leg = leg_sid(redis_client, js(reply)["leg"])
    for _ in range(2):
        twilio.post(status, call_params(center_leg, CallStatus="busy"))
    [redirect] = new(fake_twilio, "call_update", seen)
    assert redirect.path.endswith(f"/Calls/{CALLER}.json")
    root = xml(twilio.post(local(redirect.one("Url")), call_params(CALLER)))
    assert said(root) == [prompt("transfer_failed")]
    assert root.find("Enqueue") is not None
    assert line.position(redis_client, CALLER) == 1


def test_a_cold_transfer_to_another_agent_who_answers(
    app: Flask,
    twilio: TwilioSigner,
    signed_in: FlaskClient,
    fake_twilio: FakeTwilio,
    redis_client: redis.Redis,
    session: Session,
    ana: Agent,
) -> None:
    queue_and_connect(app, twilio, fake_twilio, ana)
    beto = add_agent(session, "Beto Ramos", canal="anexo", destino="2405")
    busy = api(signed_in, f"/llamada/{CALLER}/transferir-fria", {"agente": beto.id})
    assert busy.status_code == 409 and "no está disponible" in js(busy)["error"]
    agents.set_state_from_directory(
        session, redis_client, beto.id, "available", now=line.now_ms(), settings=S
    )
    assert api(signed_in, f"/llamada/{CALLER}/transferir-fria", {}).status_code == 400
    seen = len(fake_twilio.sent)
    reply = api(signed_in, f"/llamada/{CALLER}/transferir-fria", {"agente": beto.id})
    assert reply.status_code == 200, reply.json
    [call] = new(fake_twilio, "call_create", seen)
    assert call.one("To") == "sip:2405@pbx.mef.gob.pe"
    beto_leg = leg_sid(redis_client, js(reply)["leg"])
    # Beto's phone: the whisper, 1 to accept; then the caller comes off hold
    gather = xml(twilio.post(local(call.one("Url")), call_params(beto_leg))).find("Gather")
    assert gather is not None
    assert said(gather)[0] == prompt("whisper_transfer", nombre="Ana Torres")
    seen = len(fake_twilio.sent)
    root = xml(twilio.post(local(gather.attrib["action"]), call_params(beto_leg, Digits="1")))
    conference = root.find("Dial/Conference")
    assert conference is not None and conference.attrib["endConferenceOnExit"] == "true"
    [unhold] = new(fake_twilio, "participant_update", seen)
    assert (unhold.path.rsplit("/", 1)[-1], unhold.one("Hold")) == (f"{CALLER}.json", "false")
    # Beto has the caller now (no other caller is offered to him); when the call ends, he
    # goes to wrap-up, and Ana, who wrapped up first, can still save her wrap-up
    assert agents.presence(redis_client, beto.id).state == "on_call"
    assert agents.presence(redis_client, ana.id).state == "wrap_up"
    done = call_params(CALLER, DialCallStatus="completed", DialCallDuration="200")
    twilio.post(f"/voice/queue/dial-done?call={CALLER}&agent={ana.id}", done)
    assert agents.presence(redis_client, beto.id).state == "wrap_up"
    wrap = {
        "tipo_consulta": "administrativa",
        "detalle": "Transferida a Beto.",
        "resultado": "absuelta",
    }
    assert api(signed_in, f"/llamada/{CALLER}/cierre", wrap).status_code == 200
    row = session.scalars(select(RegisterCall).where(RegisterCall.call_sid == CALLER)).one()
    [transfer] = row.journey["transfers"]
    assert (transfer["kind"], transfer["nombre"], transfer["warm"]) == (
        "plataforma",
        "Beto Ramos",
        False,
    )


def test_an_authority_by_phone_hears_so_and_presencial_goes_to_the_visits_module(
    app: Flask,
    twilio: TwilioSigner,
    signed_in: FlaskClient,
    fake_twilio: FakeTwilio,
    redis_client: redis.Redis,
    session: Session,
    directory: None,
    ana: Agent,
) -> None:
    queue_and_connect(app, twilio, fake_twilio, ana)
    assert api(signed_in, f"/llamada/{CALLER}/autoridad", {"decision": "quizá"}).status_code == 400
    seen = len(fake_twilio.sent)
    assert (
        api(signed_in, f"/llamada/{CALLER}/autoridad", {"decision": "telefono"}).status_code == 200
    )
    [announce] = new(fake_twilio, "participant_update", seen)
    assert announce.path.endswith(f"/Participants/{CALLER}.json")
    root = xml(twilio.post(local(announce.one("AnnounceUrl")), call_params(CALLER)))
    assert said(root) == [prompt("authority_by_phone")]
    # ...or presencial: who comes, to which órgano, when; checked, then the caller is told
    visit = {"decision": "presencial", "dia": "2099-12-03", "hora": "10:30", "organo": "DGPP"}
    missing = api(signed_in, f"/llamada/{CALLER}/autoridad", visit)
    assert missing.status_code == 400 and js(missing)["error"].startswith("Indique el nombre")
    visit |= {"nombre": "Rosa Mamani Quispe", "entidad": "Gobierno Regional de Puno"}
    seen = len(fake_twilio.sent)
    reply = api(signed_in, f"/llamada/{CALLER}/autoridad", visit)
    assert reply.status_code == 200, reply.json
    assert js(reply)["visita"]["cita"] == "2099-12-03T10:30:00-05:00"
    [redirect] = new(fake_twilio, "call_update", seen)
    assert redirect.one("Url").endswith(f"/voice/queue/presencial?call={CALLER}")
    [sms] = new(fake_twilio, "message_create", seen)
    assert "Autoridad: Rosa Mamani Quispe." in sms.one("Body")
    assert "Fecha y hora acordadas: 03/12/2099 a las 10:30." in sms.one("Body")
    root = xml(twilio.post(local(redirect.one("Url")), call_params(CALLER)))
    assert said(root)[0] == prompt("presencial")
    assert agents.presence(redis_client, ana.id).state == "wrap_up"


@pytest.mark.parametrize(
    ("canal", "destino", "placed_as"),
    [("anexo", "2405", "call_create"), ("client", "beto", "participant_create")],
)
def test_an_agent_called_in_a_cold_transfer_who_does_not_take_it_is_freed(
    app: Flask,
    twilio: TwilioSigner,
    signed_in: FlaskClient,
    fake_twilio: FakeTwilio,
    redis_client: redis.Redis,
    session: Session,
    ana: Agent,
    canal: str,
    destino: str,
    placed_as: str,
) -> None:
    """A phone's leg is a call, a softphone's a participant of the conference; either way a
    no-answer (twice, as Twilio may send it) frees the agent and puts the caller back."""
    queue_and_connect(app, twilio, fake_twilio, ana)
    beto = add_agent(session, "Beto Ramos", canal=canal, destino=destino)
    agents.set_state_from_directory(
        session, redis_client, beto.id, "available", now=line.now_ms(), settings=S
    )
    reply = api(signed_in, f"/llamada/{CALLER}/transferir-fria", {"agente": beto.id})
    assert agents.presence(redis_client, beto.id).state == "on_call"  # reserved while it rings
    call = fake_twilio.of(placed_as)[-1]
    beto_leg = leg_sid(redis_client, js(reply)["leg"])
    seen = len(fake_twilio.sent)
    for _ in range(2):
        missed = call_params(beto_leg, CallStatus="no-answer")
        assert twilio.post(local(call.one("StatusCallback")), missed).status_code == 204
    assert agents.presence(redis_client, beto.id).state == "wrap_up"
    [redirect] = new(fake_twilio, "call_update", seen)
    assert redirect.path.endswith(f"/Calls/{CALLER}.json")
    assert redirect.one("Url").endswith(f"/voice/queue/transfer-done?call={CALLER}")
    xml(twilio.post(local(redirect.one("Url")), call_params(CALLER)))
    assert line.position(redis_client, CALLER) == 1


def test_a_cold_transfer_to_a_softphone_agent_joins_them_as_a_participant(
    app: Flask,
    twilio: TwilioSigner,
    signed_in: FlaskClient,
    fake_twilio: FakeTwilio,
    redis_client: redis.Redis,
    session: Session,
    ana: Agent,
    journey: list,
) -> None:
    """No TwiML runs on a softphone's leg: its participant status callback's answer is the
    acceptance (the caller off hold), once however often Twilio sends it."""
    queue_and_connect(app, twilio, fake_twilio, ana)
    beto = add_agent(session, "Beto Ramos", canal="client", destino="beto")
    agents.set_state_from_directory(
        session, redis_client, beto.id, "available", now=line.now_ms(), settings=S
    )
    seen = len(fake_twilio.sent)
    reply = api(signed_in, f"/llamada/{CALLER}/transferir-fria", {"agente": beto.id})
    assert reply.status_code == 200, reply.json
    leg_id = js(reply)["leg"]
    assert new(fake_twilio, "call_create", seen) == []
    [joined] = new(fake_twilio, "participant_create", seen)
    assert joined.path.endswith(f"/Conferences/plataforma-{CALLER}/Participants.json")
    assert (joined.one("To"), joined.one("Label")) == ("client:beto", leg_id)
    assert joined.one("EndConferenceOnExit") == "true"  # cold: Beto's leaving ends the call
    assert joined.form["StatusCallbackEvent"] == ["initiated", "ringing", "answered", "completed"]
    status = local(joined.one("StatusCallback"))
    assert status == f"/voice/conference/participant-status?leg={leg_id}"
    beto_leg = leg_sid(redis_client, leg_id)
    assert beto_leg.startswith("CA")
    seen = len(fake_twilio.sent)
    for _ in range(2):
        twilio.post(status, call_params(beto_leg, CallStatus="ringing"))
        answered = call_params(beto_leg, CallStatus="in-progress")
        assert twilio.post(status, answered).status_code == 204
    [unhold] = new(fake_twilio, "participant_update", seen)
    assert (unhold.path.rsplit("/", 1)[-1], unhold.one("Hold")) == (f"{CALLER}.json", "false")
    choices = [e["choice"] for e in journey if e["step"] == "leg" and e["data"]["leg"] == leg_id]
    assert choices == ["dialed", "ringing", "answered", "accepted"]
    assert agents.presence(redis_client, beto.id).state == "on_call"
    # the end of the conversation is no miss: the caller is not sent back to the line
    twilio.post(status, call_params(beto_leg, CallStatus="completed", CallDuration="80"))
    assert new(fake_twilio, "call_update", seen) == []
    assert line.position(redis_client, CALLER) is None
