"""The console's call control at the HTTP level: Twilio's side through signed webhooks (every
REST request checked by the fake against Twilio's OpenAPI description), the agent's side
through /agente/api as the signed-in agent."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from twilio.twiml.voice_response import VoiceResponse
from werkzeug.test import TestResponse

from directory.models import Agent
from extensions import redis_store
from ivr.prompts import DEFAULT_PROMPTS
from register.models import RegisterCall
from routing import agents, legs
from routing import queue as line
from tests.conftest import TwilioSigner, call_params
from tests.console.conftest import Live, local
from tests.ivr.helpers import OPEN
from tests.routing.conftest import caller_state, send_to_plataforma, sid
from tests.twilio_fake import FakeTwilio, Sent

CALLER = sid(1)
CONFERENCE = "CF" + "c" * 32


def xml(response: TestResponse) -> ET.Element:
    assert response.status_code == 200, response.data
    return ET.fromstring(response.data)


def said(element: ET.Element) -> list[str]:
    return [say.text or "" for say in element.iter("Say")]


def prompt(prompt_id: str, **fields: Any) -> str:
    return DEFAULT_PROMPTS[prompt_id].format(**fields)


def new(fake: FakeTwilio, operation: str, since: int) -> list[Sent]:
    return [s for s in fake.sent[since:] if s.operation == operation]


def js(reply: TestResponse) -> Any:
    """The JSON body of an answer."""
    assert reply.json is not None, reply.data
    return reply.json


def api(client: FlaskClient, path: str, body: dict[str, Any] | None = None) -> TestResponse:
    return client.post(f"/agente/api{path}", json=body or {})


def leg_sid(r: redis.Redis, leg_id: str) -> str:
    """The CallSid Twilio gave a transfer's leg (the fake's answer to the call's creation)."""
    found = legs.leg(r, leg_id)
    assert found is not None and found.sid is not None
    return found.sid


def queue_and_connect(
    app: Flask, twilio: TwilioSigner, fake_twilio: FakeTwilio, agent: Agent, **fields: Any
) -> str:
    """A caller walks the IVR to the Plataforma (the main menu's 1, their expediente), is
    queued, offered to the agent and put in their conference; the agent's softphone answers
    (the console's answer is the acceptance). Returns the agent leg's CallSid."""
    app.config["IVR_NOW"] = OPEN
    for path, digits in (
        ("/voice/incoming", None),
        ("/voice/language?try=1", "1"),
        ("/voice/menu?try=1", "1"),
        ("/voice/expediente?try=1", "2024123"),
        ("/voice/expediente/confirm?try=1", "1"),
    ):
        extra = {"Digits": digits} if digits is not None else {}
        root = xml(twilio.post(path, call_params(CALLER, **extra)))
    assert root.find("Enqueue") is not None  # in the Plataforma's line
    [update] = fake_twilio.of("member_update")
    root = xml(twilio.post(local(update.one("Url")), call_params(CALLER)))
    assert root.findtext("Dial/Conference") == f"plataforma-{CALLER}"
    events = local(root.find("Dial/Conference").attrib["statusCallback"])  # type: ignore[union-attr]
    joined = call_params(CALLER, ConferenceSid=CONFERENCE, StatusCallbackEvent="participant-join")
    assert twilio.post(events, joined).status_code == 204
    # the softphone: a participant of the caller's conference (no TwiML of its own)
    assert fake_twilio.of("call_create") == []
    [leg] = fake_twilio.of("participant_create")
    assert leg.path.endswith(f"/Conferences/plataforma-{CALLER}/Participants.json")
    assert leg.one("To") == f"client:{agent.destino}"
    agent_leg = legs.conference(redis_store.client, CALLER).agent_leg
    assert agent_leg is not None
    status = local(leg.one("StatusCallback"))
    for state in ("ringing", "in-progress"):  # the console answers: the acceptance
        reply = twilio.post(status, call_params(agent_leg, CallStatus=state))
        assert reply.status_code == 204
    assert line.caller(redis_store.client, CALLER).connected_agent == agent.id  # type: ignore[union-attr]
    return agent_leg


def test_warm_transfer_titular_misses_alterno_accepts_and_the_wrap_up_reaches_the_register(
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
    assert agents.presence(redis_client, ana.id).state == "on_call"
    assert {"call_sid": CALLER, "estado": "conectada"} in live.events("call")

    # The agent looks DGPP up and transfers to its titular: the caller on hold with music.
    found = signed_in.get("/agente/api/organos?q=presupuesto").json
    assert found == [
        {
            "sigla": "DGPP",
            "nombre": "Presupuesto Público",
            "titular": {"nombre": "Rosa Huamán Titular", "anexo": "1201"},
            "alterno": {"nombre": "Jorge Salas Paredes", "anexo": "1202"},
        }
    ]
    seen = len(fake_twilio.sent)
    reply = api(signed_in, f"/llamada/{CALLER}/transferir", {"organo": "dgpp", "rol": "titular"})
    assert reply.status_code == 200, reply.json
    titular = js(reply)["leg"]
    [hold] = new(fake_twilio, "participant_update", seen)
    assert hold.path.endswith(f"/Conferences/{CONFERENCE}/Participants/{CALLER}.json")
    assert hold.one("Hold") == "true" and hold.one("HoldUrl") == app.config["HOLD_MUSIC_URL"]
    [call] = new(fake_twilio, "call_create", seen)
    assert call.one("To") == "sip:1201@pbx.mef.gob.pe"
    assert call.form["StatusCallbackEvent"] == ["initiated", "ringing", "answered", "completed"]
    assert local(call.one("Url")) == f"/voice/conference/leg?leg={titular}"
    # A second transfer while this one rings is refused.
    again = api(signed_in, f"/llamada/{CALLER}/transferir", {"organo": "DGPP", "rol": "alterno"})
    assert again.status_code == 409 and "en curso" in js(again)["error"]
    # The titular does not answer (Twilio says so twice): the agent's console is told once.
    status = local(call.one("StatusCallback"))
    titular_sid = leg_sid(redis_client, titular)
    twilio.post(status, call_params(titular_sid, CallStatus="initiated"))
    twilio.post(status, call_params(titular_sid, CallStatus="ringing"))
    for _ in range(2):
        reply = twilio.post(status, call_params(titular_sid, CallStatus="no-answer"))
        assert reply.status_code == 204
    legs_heard = [e for e in live.events("leg") if e["leg"] == titular]
    assert [e["estado"] for e in legs_heard] == ["initiated", "ringing", "no-answer"]
    assert all(e["rol"] == "titular" and e["call_sid"] == CALLER for e in legs_heard)
    # Completing now is refused: nobody accepted.
    assert api(signed_in, f"/llamada/{CALLER}/transferencia/completar").status_code == 409

    # One click to the alterno, who answers, hears the whisper and presses 1.
    seen = len(fake_twilio.sent)
    reply = api(signed_in, f"/llamada/{CALLER}/transferir", {"organo": "DGPP", "rol": "alterno"})
    assert reply.status_code == 200, reply.json
    alterno = js(reply)["leg"]
    assert js(reply)["nombre"] == "Jorge Salas Paredes"
    [call] = new(fake_twilio, "call_create", seen)
    assert call.one("To") == "sip:1202@pbx.mef.gob.pe"
    red_leg = leg_sid(redis_client, alterno)
    gather = xml(twilio.post(local(call.one("Url")), call_params(red_leg))).find("Gather")
    assert gather is not None and gather.attrib["numDigits"] == "1"
    assert said(gather)[0] == prompt("whisper_transfer", nombre="Ana Torres")
    assert said(gather)[1].startswith("Llamada de la Red de Atención al Usuario del MEF para ")
    assert prompt("whisper_expediente", digits="2 0 2 4 1 2 3") in said(gather)
    assert said(gather)[-1] == prompt("whisper_transfer_accept")
    for _ in range(2):  # the key, twice: still one acceptance
        root = xml(twilio.post(local(gather.attrib["action"]), call_params(red_leg, Digits="1")))
        conference = root.find("Dial/Conference")
        assert conference is not None and conference.text == f"plataforma-{CALLER}"
        assert conference.attrib["endConferenceOnExit"] == "false"  # until the agent completes
    twilio.post(local(call.one("StatusCallback")), call_params(red_leg, CallStatus="in-progress"))
    accepted = [e["estado"] for e in live.events("leg") if e["leg"] == alterno]
    assert accepted == ["initiated", "answered", "accepted"]

    # The agent completes: the alterno's leaving now ends the conference, the caller comes off
    # hold, the agent leaves (their leaving no longer ends it) and goes to wrap-up.
    seen = len(fake_twilio.sent)
    reply = api(signed_in, f"/llamada/{CALLER}/transferencia/completar")
    assert reply.status_code == 200, reply.json
    updates = [(s.path.rsplit("/", 1)[-1], dict(s.form)) for s in fake_twilio.sent[seen:]]
    assert updates == [
        (f"{red_leg}.json", {"EndConferenceOnExit": ["true"]}),
        (f"{CALLER}.json", {"Hold": ["false"]}),
        (f"{agent_leg}.json", {"EndConferenceOnExit": ["false"]}),
        (f"{agent_leg}.json", {}),
    ]
    assert fake_twilio.sent[-1].operation == "participant_delete"
    assert agents.presence(redis_client, ana.id).state == "wrap_up"
    assert {"call_sid": CALLER, "estado": "transferida"} in live.events("call")
    assert api(signed_in, f"/llamada/{CALLER}/transferencia/completar").status_code == 409

    # Caller and alterno finish: the caller's <Dial> action, then the survey; the call ends.
    done = call_params(CALLER, DialCallStatus="completed", DialCallDuration="300")
    root = xml(twilio.post(f"/voice/queue/dial-done?call={CALLER}&agent={ana.id}", done))
    assert root[-1].tag in ("Redirect", "Hangup")
    twilio.post(local(call.one("StatusCallback")), call_params(red_leg, CallStatus="completed"))
    twilio.post("/voice/status", call_params(CALLER, CallStatus="completed", CallDuration="420"))

    # The wrap-up, saved twice (a double click): one event, the register row shows it all.
    wrap = {
        "tipo_consulta": "tecnica",
        "detalle": "Consultó por la modificación presupuestaria del expediente 2024123; "
        "se derivó al especialista de DGPP.",
        "resultado": "derivada_red",
    }
    for _ in range(2):
        reply = api(signed_in, f"/llamada/{CALLER}/cierre", wrap)
        assert reply.status_code == 200, reply.json
    row = session.scalars(select(RegisterCall).where(RegisterCall.call_sid == CALLER)).one()
    assert row.atendido_por == "Ana Torres → Jorge Salas Paredes (alterno)"
    assert row.derivacion == "alterno"
    assert row.detalle == wrap["detalle"]
    assert (row.tipo_consulta, row.resultado_atencion) == ("tecnica", "derivada_red")
    assert row.resultado == "atendida"
    journey = row.journey
    assert journey["menu_detalle"] == "estado_tramite"  # the menu's code stays in the journey
    assert journey["transferred_to"] == {
        "rol": "alterno",
        "nombre": "Jorge Salas Paredes",
        "organo": "DGPP",
    }
    outcomes = [(leg["rol"], leg["outcome"]) for leg in journey["legs"]]
    assert ("titular", "no-answer") in outcomes and ("alterno", "accepted") in outcomes
    assert [e["step"] for e in row.events].count("wrap_up") == 1
    assert {"call_sid": CALLER, "estado": "cierre"} in live.events("call")


def test_cancel_brings_the_agent_back_to_the_caller_and_hold_toggles(
    app: Flask,
    twilio: TwilioSigner,
    signed_in: FlaskClient,
    fake_twilio: FakeTwilio,
    directory: None,
    ana: Agent,
    live: Live,
) -> None:
    queue_and_connect(app, twilio, fake_twilio, ana)
    seen = len(fake_twilio.sent)
    assert api(signed_in, f"/llamada/{CALLER}/espera", {"en_espera": True}).status_code == 200
    assert api(signed_in, f"/llamada/{CALLER}/espera", {"en_espera": False}).status_code == 200
    holds = [s.one("Hold") for s in new(fake_twilio, "participant_update", seen)]
    assert holds == ["true", "false"]
    assert api(signed_in, f"/llamada/{CALLER}/espera", {"en_espera": "sí"}).status_code == 400
    estados = [e["estado"] for e in live.events("call")]
    assert estados[-2:] == ["en_espera", "conectada"]

    reply = api(signed_in, f"/llamada/{CALLER}/transferir", {"organo": "DGTP", "rol": "titular"})
    leg = js(reply)["leg"]
    [call] = new(fake_twilio, "call_create", seen)
    red_leg = leg_sid(redis_store.client, leg)
    gather = xml(twilio.post(local(call.one("Url")), call_params(red_leg))).find("Gather")
    assert gather is not None
    twilio.post(local(gather.attrib["action"]), call_params(red_leg, Digits="1"))
    # three-way: the caller off hold, the agent stays
    seen = len(fake_twilio.sent)
    assert api(signed_in, f"/llamada/{CALLER}/conferencia").status_code == 200
    [unhold] = new(fake_twilio, "participant_update", seen)
    assert (unhold.path.rsplit("/", 1)[-1], unhold.one("Hold")) == (f"{CALLER}.json", "false")
    # cancel: the Red member's leg leaves the conference
    seen = len(fake_twilio.sent)
    assert api(signed_in, f"/llamada/{CALLER}/transferencia/cancelar").status_code == 200
    [removed] = new(fake_twilio, "participant_delete", seen)
    assert removed.path.endswith(f"/Participants/{red_leg}.json")
    # its end is no news, and a late key press does not bring it back
    twilio.post(local(call.one("StatusCallback")), call_params(red_leg, CallStatus="completed"))
    late = xml(twilio.post(local(gather.attrib["action"]), call_params(red_leg, Digits="1")))
    assert [c.tag for c in late] == ["Hangup"]
    assert [e["estado"] for e in live.events("leg") if e["leg"] == leg][-1] == "removed"
    assert api(signed_in, f"/llamada/{CALLER}/transferencia/cancelar").status_code == 409
    # unknown órgano or missing role: said so
    reply = api(signed_in, f"/llamada/{CALLER}/transferir", {"organo": "XYZ"})
    assert reply.status_code == 404 and "XYZ" in js(reply)["error"]
    reply = api(signed_in, f"/llamada/{CALLER}/transferir", {"organo": "DGTP", "rol": "alterno"})
    assert reply.status_code == 404 and "alterno" in js(reply)["error"]
    # the agent hangs up: the conference ends
    seen = len(fake_twilio.sent)
    assert api(signed_in, f"/llamada/{CALLER}/colgar").status_code == 200
    [ended] = new(fake_twilio, "conference_update", seen)
    assert ended.path.endswith(f"/Conferences/{CONFERENCE}.json")
    assert ended.one("Status") == "completed"


def test_rejecting_an_offer_is_a_miss_and_the_caller_keeps_their_place(
    app: Flask,
    twilio: TwilioSigner,
    signed_in: FlaskClient,
    fake_twilio: FakeTwilio,
    redis_client: redis.Redis,
    ana: Agent,
) -> None:
    with app.test_request_context():
        send_to_plataforma(VoiceResponse(), caller_state(CALLER), "menu")
    [update] = fake_twilio.of("member_update")
    twilio.post(local(update.one("Url")), call_params(CALLER))
    [leg] = fake_twilio.of("participant_create")
    reply = api(signed_in, f"/llamada/{CALLER}/rechazar")
    assert reply.status_code == 200, reply.json
    hangup, redirect = fake_twilio.of("call_update")
    assert hangup.one("Status") == "canceled"  # the softphone stops ringing
    assert redirect.path.endswith(f"/Calls/{CALLER}.json")
    assert agents.presence(redis_client, ana.id).misses == 1
    assert line.position(redis_client, CALLER) == 1
    # the leg's own "canceled" afterwards is no second miss
    canceled = call_params(
        hangup.path.rsplit("/", 1)[-1].removesuffix(".json"), CallStatus="canceled"
    )
    twilio.post(local(leg.one("StatusCallback")), canceled)
    assert agents.presence(redis_client, ana.id).misses == 1
    assert api(signed_in, f"/llamada/{CALLER}/rechazar").status_code == 409


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/llamada/CAx/espera", {"en_espera": True}),
        ("/llamada/CAx/colgar", {}),
        ("/llamada/CAx/transferencia/completar", {}),
    ],
)
def test_a_call_that_is_not_the_agents_is_refused(
    signed_in: FlaskClient, path: str, body: dict[str, Any]
) -> None:
    reply = api(signed_in, path, body)
    assert reply.status_code == 409
    assert js(reply)["error"].startswith("Esa llamada no está conectada con usted.")


def test_only_a_signed_in_agent_reaches_the_api(
    client: FlaskClient, session: Session, app: Flask
) -> None:
    from tests.console.conftest import sign_in

    assert client.get("/agente/api/organos").status_code == 401
    assert client.post("/agente/api/llamada/CA1/colgar", json={}).status_code == 401
    sign_in(session, client, "sin_agente", None)
    reply = client.get("/agente/api/organos")
    assert reply.status_code == 403 and js(reply)["error"]


@pytest.mark.parametrize(
    "path",
    [
        f"/voice/conference/events?call={CALLER}",
        "/voice/conference/leg?leg=LG1",
        "/voice/conference/leg-accept?leg=LG1",
        "/voice/conference/leg-status?leg=LG1",
        "/voice/conference/participant-status?leg=LG1",
        f"/voice/queue/agent-participant-status?call={CALLER}&agent=1",
        f"/voice/conference/announce?call={CALLER}&prompt=authority_by_phone",
        "/voice/agent/outbound",
        "/voice/agent/outbound-done?devolucion=c1&agent=1",
    ],
)
def test_every_conference_and_outbound_webhook_rejects_a_bad_signature(
    twilio: TwilioSigner, path: str
) -> None:
    assert twilio.post_badly_signed(path, call_params(CALLER)).status_code == 403
    assert twilio.post_unsigned(path, call_params(CALLER)).status_code == 403


def test_a_leg_nobody_knows_is_hung_up(twilio: TwilioSigner) -> None:
    root = xml(twilio.post("/voice/conference/leg?leg=LG0", call_params("CA" + "4" * 32)))
    assert [c.tag for c in root] == ["Hangup"]
    reply = twilio.post("/voice/conference/leg-status?leg=LG0", call_params(CallStatus="busy"))
    assert reply.status_code == 204


def test_a_caller_who_hangs_up_while_the_agent_rings_stops_the_ringing(
    app: Flask, twilio: TwilioSigner, fake_twilio: FakeTwilio, redis_client: redis.Redis, ana: Agent
) -> None:
    with app.test_request_context():
        send_to_plataforma(VoiceResponse(), caller_state(CALLER), "menu")
    [update] = fake_twilio.of("member_update")
    root = xml(twilio.post(local(update.one("Url")), call_params(CALLER)))
    action = local(root.find("Dial").attrib["action"])  # type: ignore[union-attr]
    gone = call_params(CALLER, CallStatus="completed", DialCallStatus="completed")
    assert list(xml(twilio.post(action, gone))) == []
    [hangup] = fake_twilio.of("call_update")
    agent_leg = legs.conference(redis_client, CALLER).agent_leg
    assert hangup.path.endswith(f"/Calls/{agent_leg}.json") and hangup.one("Status") == "canceled"
    assert agents.presence(redis_client, ana.id).state == "available"
