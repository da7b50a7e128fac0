"""The queue's webhooks as Twilio drives them: wait, `1` for a callback, the Enqueue action,
bridge with whisper, no answer, wait limit, interpreter conference, transfer and presencial."""

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

from ivr.prompts import DEFAULT_PROMPTS, set_audio, set_text
from register.models import CallbackRequest
from routing import agents, legs
from routing import queue as line
from routing.dispatch import match
from routing.queue import CallerStatus
from routing.settings import RoutingSettings
from tests.conftest import TwilioSigner, call_params
from tests.ivr.helpers import load_directory
from tests.routing.conftest import (
    add_agent,
    add_speaker,
    caller_state,
    dead_redis,
    send_to_plataforma,
    sid,
    steps,
)
from tests.twilio_fake import FakeTwilio

S = RoutingSettings()


def xml(response: TestResponse) -> ET.Element:
    assert response.status_code == 200, response.data
    return ET.fromstring(response.data)


def said(element: ET.Element) -> list[str]:
    """The texts of every <Say>, in order."""
    return [say.text or "" for say in element.iter("Say")]


def prompt(prompt_id: str, **fields: Any) -> str:
    return DEFAULT_PROMPTS[prompt_id].format(**fields)


def enter(app: Flask, call_sid: str, **fields: Any) -> None:
    state = caller_state(call_sid, **fields)
    with app.test_request_context():
        send_to_plataforma(VoiceResponse(), state, "menu")


def staff_the_line(session: Session, r: redis.Redis) -> None:
    """One agent online but busy (in wrap-up for the next 30 s): nobody waiting is offered."""
    beto = add_agent(session, "Beto en cierre")
    agents.set_state_from_directory(session, r, beto.id, "wrap_up", now=line.now_ms(), settings=S)


def test_every_queue_webhook_rejects_a_bad_signature(twilio: TwilioSigner, app: Flask) -> None:
    enter(app, sid(1))
    for path in ("/voice/queue/wait", "/voice/queue/left", "/voice/queue/bridge?call=x&agent=1"):
        assert twilio.post_badly_signed(path, call_params(sid(1))).status_code == 403
    assert line.position(app.extensions["redis"].client, sid(1)) == 1


def test_the_wait_url_announces_position_and_wait_and_offers_a_callback(
    app: Flask, twilio: TwilioSigner, session: Session, redis_client: redis.Redis
) -> None:
    staff_the_line(session, redis_client)
    enter(app, sid(1))
    enter(app, sid(2))
    enter(app, sid(3), preferencial="adulto_mayor")
    root = xml(twilio.post("/voice/queue/wait", call_params(sid(2), QueueSid="QU" + "1" * 32)))
    gather = root.find("Gather")
    assert gather is not None and gather.attrib["numDigits"] == "1"
    assert said(gather) == [
        prompt("queue_position", puesto=3),
        prompt("queue_wait_minutes", minutos=9),
        prompt("queue_callback_offer"),
    ]
    assert " ".join(said(gather)) == (
        "Usted es el número 3 en la fila. El tiempo estimado de espera es de 9 minutos. "
        "Si prefiere que le devolvamos la llamada, marque 1."
    )
    play = gather.find("Play")
    assert play is not None and play.text == app.config["HOLD_MUSIC_URL"]
    assert line.twilio_queue(redis_client) == "QU" + "1" * 32


@pytest.mark.parametrize("others", ["offline", "paused"])
def test_with_no_agent_online_the_wait_url_offers_the_callback_and_promises_no_wait(
    app: Flask, twilio: TwilioSigner, session: Session, redis_client: redis.Redis, others: str
) -> None:
    """Issue 11.6: nobody would take the call, so no "3, 6, 9 minutos"."""
    ana = add_agent(session, "Ana")
    agents.set_state_from_directory(session, redis_client, ana.id, others, now=1, settings=S)
    enter(app, sid(1))
    enter(app, sid(2))
    gather = xml(twilio.post("/voice/queue/wait", call_params(sid(2)))).find("Gather")
    assert gather is not None
    assert gather.attrib["action"].endswith("/voice/queue/wait-key")
    assert said(gather) == [prompt("queue_no_agents")]
    assert said(gather)[0].startswith("En este momento no hay asesores disponibles.")
    assert not any("minuto" in text for text in said(gather))
    # `1` still leaves for a callback
    root = xml(twilio.post("/voice/queue/wait-key", call_params(sid(2), Digits="1")))
    assert [c.tag for c in root] == ["Leave"]


def test_a_quechua_caller_waiting_in_line_hears_the_recordings_set_for_quechua(
    app: Flask, twilio: TwilioSigner, session: Session
) -> None:
    position = "https://cdn.mef.gob.pe/qu/queue_position.mp3"
    offer = "https://cdn.mef.gob.pe/qu/queue_callback_offer.mp3"
    set_audio(session, "queue_position", "qu", position)
    set_audio(session, "queue_callback_offer", "qu", offer)
    staff_the_line(session, app.extensions["redis"].client)
    enter(app, sid(1), language="qu")
    gather = xml(twilio.post("/voice/queue/wait", call_params(sid(1)))).find("Gather")
    assert gather is not None
    assert [(v.tag, v.text) for v in gather] == [
        ("Play", position),
        ("Say", prompt("queue_wait_minutes", minutos=3)),  # not recorded: said in Spanish
        ("Play", offer),
        ("Play", app.config["HOLD_MUSIC_URL"]),
    ]


def test_an_admin_changes_a_queue_sentence_without_code(
    app: Flask, twilio: TwilioSigner, session: Session, redis_client: redis.Redis
) -> None:
    set_text(session, "queue_agent_missed", "es", "Su asesor no contestó; sigue en la fila.")
    ana = add_agent(session, "Ana")
    agents.set_state_from_directory(session, redis_client, ana.id, "available", now=1, settings=S)
    enter(app, sid(1))
    root = xml(
        twilio.post(
            f"/voice/queue/dial-done?call={sid(1)}&agent={ana.id}",
            call_params(sid(1), DialCallStatus="no-answer"),
        )
    )
    assert said(root) == ["Su asesor no contestó; sigue en la fila."]


def test_pressing_1_while_waiting_leaves_for_a_callback_the_same_day(
    app: Flask, twilio: TwilioSigner, session: Session, journey: list
) -> None:
    enter(app, sid(1))
    root = xml(twilio.post("/voice/queue/wait-key", call_params(sid(1), Digits="1")))
    assert [c.tag for c in root] == ["Leave"]
    root = xml(twilio.post("/voice/queue/left", call_params(sid(1), QueueResult="leave")))
    assert [c.tag for c in root] == ["Say", "Say", "Hangup"]
    when = prompt("queue_callback_today"), prompt("queue_callback_next_day")
    assert said(root)[0] in when and said(root)[1] == prompt("thanks")
    [request] = session.scalars(select(CallbackRequest)).all()
    assert (request.source, request.telefono, request.status) == (
        "cola",
        "+51987654321",
        "pendiente",
    )
    assert ("queue_left", "callback") in steps(journey, sid(1))
    assert ("callback_requested", None) in steps(journey, sid(1))
    # Twilio retries the action: still one request
    twilio.post("/voice/queue/left", call_params(sid(1), QueueResult="leave"))
    assert len(session.scalars(select(CallbackRequest)).all()) == 1


def test_another_key_while_waiting_goes_back_to_the_music(app: Flask, twilio: TwilioSigner) -> None:
    enter(app, sid(1))
    root = xml(twilio.post("/voice/queue/wait-key", call_params(sid(1), Digits="5")))
    assert [c.tag for c in root] == ["Redirect"]


def test_a_hangup_in_the_queue_is_an_abandoned_call_with_its_wait(
    app: Flask, twilio: TwilioSigner, redis_client: redis.Redis, journey: list
) -> None:
    enter(app, sid(1))
    twilio.post("/voice/queue/left", call_params(sid(1), QueueResult="hangup"))
    assert line.waiting_count(redis_client) == 0
    assert ("queue_left", "hangup") in steps(journey, sid(1))


# What each of Twilio's documented QueueResult values gives a waiting caller: the TwiML's
# verbs, whether they are still in our line, and whether a callback request was stored.
QUEUE_RESULTS = {
    "hangup": ([], False, False),
    "redirected": ([], True, False),
    "redirected-from-bridged": ([], True, False),
    "bridging-in-progress": ([], True, False),
    "bridged": (["Redirect"], False, False),
    "leave": (["Enqueue"], True, False),
    "queue-full": (["Say", "Say", "Hangup"], False, True),
    "error": (["Say", "Say", "Hangup"], False, True),
    "system-error": (["Say", "Say", "Hangup"], False, True),
    "system-shutdown": (["Say", "Say", "Hangup"], False, True),
}


@pytest.mark.parametrize("result", sorted(QUEUE_RESULTS))
def test_each_documented_queue_result_routes_the_caller_on_purpose(
    app: Flask,
    twilio: TwilioSigner,
    session: Session,
    redis_client: redis.Redis,
    caplog: pytest.LogCaptureFixture,
    result: str,
) -> None:
    """Issue 11.7."""
    tags, in_line, callback = QUEUE_RESULTS[result]
    enter(app, sid(1))
    root = xml(twilio.post("/voice/queue/left", call_params(sid(1), QueueResult=result)))
    assert [c.tag for c in root] == tags
    if tags == ["Redirect"]:
        assert root[0].text == "https://ivr.example.test/voice/survey"
    assert (line.position(redis_client, sid(1)) == 1) is in_line
    stored = session.scalars(select(CallbackRequest)).all()
    assert [r.source for r in stored] == (["cola"] if callback else [])
    assert "unknown QueueResult" not in caplog.text


@pytest.mark.parametrize("status", ["waiting", "offered"])
def test_an_unknown_queue_result_is_logged_and_the_caller_goes_back_in_line(
    app: Flask,
    twilio: TwilioSigner,
    session: Session,
    redis_client: redis.Redis,
    caplog: pytest.LogCaptureFixture,
    status: str,
) -> None:
    """Issue 11.7: never the bridge (nor a dial) for a result the flow does not know."""
    enter(app, sid(1))
    if status == "offered":
        ana = add_agent(session, "Ana")
        agents.set_state_from_directory(
            session, redis_client, ana.id, "available", now=1, settings=S
        )
        assert len(match(redis_client, now=line.now_ms(), settings=S)) == 1
    caller = line.caller(redis_client, sid(1))
    assert caller is not None and caller.status.value == status
    params = call_params(sid(1), QueueResult="moved-to-mars")
    root = xml(twilio.post("/voice/queue/left", params))
    assert [c.tag for c in root] == ["Enqueue"]
    assert "unknown QueueResult 'moved-to-mars'" in caplog.text
    caller = line.caller(redis_client, sid(1))
    assert caller is not None and caller.status.value == status
    assert not caller.bridge_served


def test_a_free_agent_gets_the_caller_out_of_twilios_queue_and_joins_as_a_participant(
    app: Flask,
    twilio: TwilioSigner,
    session: Session,
    redis_client: redis.Redis,
    fake_twilio: FakeTwilio,
    journey: list,
) -> None:
    ana = add_agent(session, "Ana", canal="client", destino="ana")
    agents.set_state_from_directory(session, redis_client, ana.id, "available", now=1, settings=S)
    enter(app, sid(1), detalle="estado_tramite", expediente="2024123", preferencial="gestante")
    [update] = fake_twilio.of("member_update")
    bridge_url = update.one("Url")
    assert bridge_url == f"https://ivr.example.test/voice/queue/bridge?call={sid(1)}&agent={ana.id}"
    root = xml(
        twilio.post(bridge_url.removeprefix("https://ivr.example.test"), call_params(sid(1)))
    )
    # The caller waits with music in the conference named for the call...
    dial = root.find("Dial")
    assert dial is not None
    conference = dial.find("Conference")
    assert conference is not None and conference.text == f"plataforma-{sid(1)}"
    assert conference.attrib["startConferenceOnEnter"] == "false"
    assert conference.attrib["endConferenceOnExit"] == "true"
    assert conference.attrib["waitUrl"] == app.config["HOLD_MUSIC_URL"]
    assert conference.attrib["statusCallback"].endswith(f"/voice/conference/events?call={sid(1)}")
    # ...and the agent's softphone is added to it through the Conference Participants API (no
    # TwiML of its own: the screen pop replaces the whisper), watched from ringing to the end.
    assert fake_twilio.of("call_create") == []
    [leg] = fake_twilio.of("participant_create")
    assert leg.path.endswith(f"/Conferences/plataforma-{sid(1)}/Participants.json")
    assert (leg.one("To"), leg.one("From")) == ("client:ana", app.config["ROUTING_CALLER_ID"])
    assert leg.one("Label") == "agente"
    assert leg.form["StatusCallbackEvent"] == ["initiated", "ringing", "answered", "completed"]
    assert leg.one("Timeout") == str(S.ring_timeout_seconds)
    assert (leg.one("StartConferenceOnEnter"), leg.one("EndConferenceOnExit")) == ("true", "true")
    assert leg.one("Beep") == "false"
    assert local(leg.one("ConferenceStatusCallback")) == f"/voice/conference/events?call={sid(1)}"
    status = local(leg.one("StatusCallback"))
    assert status == f"/voice/queue/agent-participant-status?call={sid(1)}&agent={ana.id}"
    agent_leg = legs.conference(redis_client, sid(1)).agent_leg
    assert agent_leg is not None and agent_leg.startswith("CA")
    ringing = call_params(agent_leg, CallStatus="ringing", ConferenceSid="CF" + "c" * 32)
    assert twilio.post(status, ringing).status_code == 204
    assert agents.presence(redis_client, ana.id).state == "ringing"
    assert ("agent_answered", None) not in steps(journey, sid(1))
    # The softphone answers: the participant's "answered" is the acceptance, twice as Twilio
    # may send it: bridged once.
    answered = call_params(agent_leg, CallStatus="in-progress", ConferenceSid="CF" + "c" * 32)
    for _ in range(2):
        assert twilio.post(status, answered).status_code == 204
    assert agents.presence(redis_client, ana.id).state == "on_call"
    assert steps(journey, sid(1)).count(("agent_answered", None)) == 1
    assert steps(journey, sid(1)).count(("queue_left", "bridged")) == 1
    assert legs.conference(redis_client, sid(1)).agent_leg == agent_leg
    assert fake_twilio.of("call_update") == []  # nobody redirected or hung up
    # the leg's completion at the end of the conversation is no miss
    completed = call_params(agent_leg, CallStatus="completed", ConferenceSid="CF" + "c" * 32)
    assert twilio.post(status, completed).status_code == 204
    assert fake_twilio.of("call_update") == []
    assert agents.presence(redis_client, ana.id).misses == 0
    # the conversation ends (the conference ends: the caller's <Dial> action): wrap-up, then
    # the survey (or a goodbye)
    done = dial.attrib["action"].removeprefix("https://ivr.example.test")
    root = xml(
        twilio.post(done, call_params(sid(1), DialCallStatus="completed", DialCallDuration="95"))
    )
    assert root[-1].tag in ("Redirect", "Hangup")
    assert agents.presence(redis_client, ana.id).state == "wrap_up"
    assert redis_client.lrange("rt:ht", 0, -1) == [b"95"]


@pytest.mark.parametrize(
    ("anexo_dial", "text", "digits"),
    [
        ("sip:{anexo}@pbx.mef.gob.pe", "sip:2301@pbx.mef.gob.pe", None),
        ("+5113115930", "+5113115930", "ww2301"),
    ],
)
def test_an_agent_on_an_anexo_is_dialed_per_anexo_dial(
    app: Flask,
    twilio: TwilioSigner,
    session: Session,
    redis_client: redis.Redis,
    fake_twilio: FakeTwilio,
    anexo_dial: str,
    text: str,
    digits: str | None,
) -> None:
    app.config["ANEXO_DIAL"] = anexo_dial
    luis = add_agent(session, "Luis", canal="anexo", destino="2301")
    agents.set_state_from_directory(session, redis_client, luis.id, "available", now=1, settings=S)
    enter(app, sid(1))
    root = xml(
        twilio.post(f"/voice/queue/bridge?call={sid(1)}&agent={luis.id}", call_params(sid(1)))
    )
    assert root.findtext("Dial/Conference") == f"plataforma-{sid(1)}"
    [leg] = fake_twilio.of("call_create")  # the agent's leg into the conference
    assert leg.one("To") == text
    assert leg.form.get("SendDigits", [None])[0] == digits
    assert "accept=1" in leg.one("Url")  # a phone: the whisper asks for 1


def available(session: Session, r: redis.Redis, nombre: str, **fields: Any) -> int:
    """A new agent of the directory, available now; their id."""
    agent = add_agent(session, nombre, **fields)
    agents.set_state_from_directory(session, r, agent.id, "available", now=1, settings=S)
    return agent.id


def local(url: str) -> str:
    """The path (and query) of one of our absolute URLs, as the signed client posts it."""
    return url.removeprefix("https://ivr.example.test")


def offer_to(twilio: TwilioSigner, fake_twilio: FakeTwilio, call_sid: str) -> ET.Element:
    """The last offer's bridge, as Twilio fetches it for the caller: the caller's <Dial> into
    the conference (the agent's leg is the last call created)."""
    url = fake_twilio.of("member_update")[-1].one("Url")
    assert f"call={call_sid}" in url
    dial = xml(twilio.post(local(url), call_params(call_sid)))
    found = dial.find("Dial")
    assert found is not None and found.findtext("Conference") == f"plataforma-{call_sid}"
    return found


def agent_leg(fake_twilio: FakeTwilio) -> tuple[str, str]:
    """The agent's leg of the last offer: (its TwiML URL, its status callback), local paths."""
    leg = fake_twilio.of("call_create")[-1]
    assert "role=agent" in leg.one("Url")
    return local(leg.one("Url")), local(leg.one("StatusCallback"))


@pytest.mark.parametrize(
    ("canal", "destino"),
    [("anexo", "2301"), ("sip", "sip:luis@pbx.mef.gob.pe")],
)
def test_an_agent_on_a_phone_presses_1_to_accept_and_no_key_is_a_miss(
    app: Flask,
    twilio: TwilioSigner,
    session: Session,
    redis_client: redis.Redis,
    fake_twilio: FakeTwilio,
    journey: list,
    canal: str,
    destino: str,
) -> None:
    """Issue 11.5: the whisper's fetch is not an answer (a voicemail would fetch it too)."""
    luis = available(session, redis_client, "Luis", canal=canal, destino=destino)
    enter(app, sid(1), detalle="informacion")
    leg_params = call_params("CA" + "9" * 32)
    for miss in (1, 2):
        offer_to(twilio, fake_twilio, sid(1))
        join, status = agent_leg(fake_twilio)
        assert fake_twilio.of("call_create")[-1].one("To") == (
            "sip:2301@pbx.mef.gob.pe" if canal == "anexo" else destino
        )
        whisper = xml(twilio.post(join, leg_params))
        assert [c.tag for c in whisper] == ["Gather", "Hangup"]
        gather = whisper[0]
        assert gather.attrib["numDigits"] == "1"
        assert said(gather)[-1] == prompt("whisper_plataforma_accept")
        query = prompt("whisper_query", consulta="información sobre los servicios del MEF")
        assert query in said(gather)
        assert agents.presence(redis_client, luis).state == "ringing"  # not answered yet
        # No key: the whisper hangs up the agent's leg; its status callback says completed,
        # twice (Twilio may repeat it): one miss, and the caller is sent back to the line.
        redirects = len(fake_twilio.of("call_update"))
        for _ in range(2):
            reply = twilio.post(status, call_params("CA" + "9" * 32, CallStatus="completed"))
            assert reply.status_code == 204
        [redirect] = fake_twilio.of("call_update")[redirects:]
        assert redirect.path.endswith(f"/Calls/{sid(1)}.json")
        root = xml(twilio.post(local(redirect.one("Url")), call_params(sid(1))))
        assert [c.tag for c in root] == ["Say", "Enqueue"]
        assert said(root) == [prompt("queue_agent_missed")]
        assert agents.presence(redis_client, luis).misses == miss
    # Two misses in a row pause the agent; the caller waits first in line.
    assert agents.presence(redis_client, luis).state == "paused"
    assert line.position(redis_client, sid(1)) == 1
    assert ("agent_answered", None) not in steps(journey, sid(1))


def test_an_agent_on_a_phone_who_presses_1_takes_the_caller(
    app: Flask,
    twilio: TwilioSigner,
    session: Session,
    redis_client: redis.Redis,
    fake_twilio: FakeTwilio,
    journey: list,
) -> None:
    luis = available(session, redis_client, "Luis", canal="anexo", destino="2301")
    enter(app, sid(1))
    dial = offer_to(twilio, fake_twilio, sid(1))
    join, status = agent_leg(fake_twilio)
    gather = xml(twilio.post(join, call_params("CA" + "9" * 32)))[0]
    accept = local(gather.attrib["action"])
    assert accept == f"/voice/queue/whisper-accept?call={sid(1)}&agent={luis}"
    wrong = xml(twilio.post(accept, call_params("CA" + "9" * 32, Digits="5")))
    assert [c.tag for c in wrong] == ["Hangup"]
    assert agents.presence(redis_client, luis).state == "ringing"
    for _ in range(2):  # Twilio may send it twice: still accepted
        root = xml(twilio.post(accept, call_params("CA" + "9" * 32, Digits="1")))
        # the whisper ends: the agent's leg joins the caller's conference
        assert root.findtext("Dial/Conference") == f"plataforma-{sid(1)}"
    assert agents.presence(redis_client, luis).state == "on_call"
    assert steps(journey, sid(1)).count(("agent_answered", None)) == 1
    # the leg's completion at the end of the conversation is no miss
    assert twilio.post(status, call_params("CA" + "9" * 32, CallStatus="completed"))
    assert fake_twilio.of("call_update") == []
    params = call_params(sid(1), DialCallStatus="completed", DialCallDuration="120")
    root = xml(twilio.post(local(dial.attrib["action"]), params))
    assert root[-1].tag in ("Redirect", "Hangup")
    assert agents.presence(redis_client, luis).state == "wrap_up"


def test_an_agent_who_does_not_answer_puts_the_caller_back_in_place_for_the_next_agent(
    app: Flask,
    twilio: TwilioSigner,
    session: Session,
    redis_client: redis.Redis,
    fake_twilio: FakeTwilio,
) -> None:
    ana = add_agent(session, "Ana")
    enter(app, sid(1))
    enter(app, sid(2))
    agents.set_state_from_directory(session, redis_client, ana.id, "available", now=1, settings=S)
    [m] = match(redis_client, now=line.now_ms(), settings=S)
    assert (m.call_sid, m.agent_id) == (sid(1), ana.id)
    beto = add_agent(session, "Beto")
    agents.set_state_from_directory(session, redis_client, beto.id, "available", now=2, settings=S)
    twilio.post(f"/voice/queue/bridge?call={sid(1)}&agent={ana.id}", call_params(sid(1)))
    # Ana's softphone: a participant of the caller's conference whose status says no answer,
    # twice (Twilio may repeat it): one miss, one redirect back to the line.
    [participant] = fake_twilio.of("participant_create")
    status = local(participant.one("StatusCallback"))
    assert status.startswith("/voice/queue/agent-participant-status?")
    agent_leg = legs.conference(redis_client, sid(1)).agent_leg
    assert agent_leg is not None
    leg = call_params(agent_leg, CallStatus="no-answer", ConferenceSid="CF" + "c" * 32)
    for _ in range(2):
        assert twilio.post(status, leg).status_code == 204
    [redirect] = fake_twilio.of("call_update")
    root = xml(twilio.post(local(redirect.one("Url")), call_params(sid(1))))
    assert [c.tag for c in root] == ["Say", "Enqueue"]
    # sid(1) kept the first place: Beto (idle longer than Ana now) gets sid(1), Ana gets sid(2)
    offers = {u.path.rsplit("/", 1)[-1]: u.one("Url") for u in fake_twilio.of("member_update")}
    assert offers[f"{sid(1)}.json"].endswith(f"agent={beto.id}")
    assert offers[f"{sid(2)}.json"].endswith(f"agent={ana.id}")
    assert agents.presence(redis_client, ana.id).misses == 1


def test_the_wait_limit_ends_in_a_callback_request(
    app: Flask,
    twilio: TwilioSigner,
    session: Session,
    redis_client: redis.Redis,
    fake_twilio: FakeTwilio,
    journey: list,
) -> None:
    from routing.context import from_app
    from routing.jobs import sweep

    enter(app, sid(1))
    limit = S.wait_limit_seconds * 1000
    report = sweep(from_app(), now=line.now_ms() + limit + 1000)
    assert report.timeouts == [sid(1)]
    [update] = fake_twilio.of("member_update")
    assert update.one("Url").endswith(f"/voice/queue/timeout?call={sid(1)}")
    root = xml(twilio.post(f"/voice/queue/timeout?call={sid(1)}", call_params(sid(1))))
    assert root[-1].tag == "Hangup"
    [request] = session.scalars(select(CallbackRequest)).all()
    assert request.source == "limite_espera"
    assert ("queue_left", "timeout") in steps(journey, sid(1))


def test_a_quechua_caller_with_no_speaker_free_gets_an_agent_and_an_interpreter(
    app: Flask,
    twilio: TwilioSigner,
    session: Session,
    redis_client: redis.Redis,
    fake_twilio: FakeTwilio,
) -> None:
    app.config["ROUTING_LANGUAGE_WAIT_SECONDS"] = 0
    add_speaker(session, "qu", "+51984000111")
    ana = add_agent(session, "Ana", canal="sip", destino="sip:ana@pbx.mef.gob.pe")
    agents.set_state_from_directory(session, redis_client, ana.id, "available", now=1, settings=S)
    enter(app, sid(1), language="qu")
    [update] = fake_twilio.of("member_update")
    root = xml(
        twilio.post(update.one("Url").removeprefix("https://ivr.example.test"), call_params(sid(1)))
    )
    conference = root.find("Dial/Conference")
    assert conference is not None and conference.text == f"plataforma-{sid(1)}"
    calls = fake_twilio.of("call_create")
    assert [c.one("To") for c in calls] == ["sip:ana@pbx.mef.gob.pe", "+51984000111"]
    join = calls[0].one("Url").removeprefix("https://ivr.example.test")
    # a SIP phone: the whisper (with the language and the interpreter), then 1 to accept
    gather = xml(twilio.post(join, call_params("CA" + "8" * 32))).find("Gather")
    assert gather is not None
    assert prompt("whisper_language", idioma="quechua") in said(gather)
    assert said(gather)[-2:] == [prompt("whisper_interpreter"), prompt("whisper_plataforma_accept")]
    root = xml(
        twilio.post(local(gather.attrib["action"]), call_params("CA" + "8" * 32, Digits="1"))
    )
    assert root.findtext("Dial/Conference") == f"plataforma-{sid(1)}"
    assert agents.presence(redis_client, ana.id).state == "on_call"


def test_an_interpreter_who_does_not_answer_is_followed_by_the_next_and_registered(
    app: Flask,
    twilio: TwilioSigner,
    session: Session,
    redis_client: redis.Redis,
    fake_twilio: FakeTwilio,
    journey: list,
) -> None:
    # issue 11.8: the interpreter's leg is watched; a miss dials the next speaker of the
    # language; who interpreted is a journey event
    app.config["ROUTING_LANGUAGE_WAIT_SECONDS"] = 0
    first = add_speaker(session, "qu", "+51984000111")
    second = add_speaker(session, "qu", "+51984000222")
    second.nombre_completo = "Hilda Choque Mamani"
    session.commit()
    ana = add_agent(session, "Ana", canal="sip", destino="sip:ana@pbx.mef.gob.pe")
    agents.set_state_from_directory(session, redis_client, ana.id, "available", now=1, settings=S)
    enter(app, sid(1), language="qu")
    [update] = fake_twilio.of("member_update")
    twilio.post(update.one("Url").removeprefix("https://ivr.example.test"), call_params(sid(1)))
    agent_leg, interpreter_leg = fake_twilio.of("call_create")
    assert interpreter_leg.one("To") == "+51984000111"
    status_url = interpreter_leg.one("StatusCallback").removeprefix("https://ivr.example.test")
    assert status_url.startswith("/voice/queue/interpreter-leg-status?")
    assert f"speaker={first.id}" in status_url
    # the interpreter's leg ends unanswered: the next speaker is dialed, watched the same way
    leg = "CA" + "6" * 32
    reply = twilio.post(status_url, call_params(leg, CallStatus="no-answer"))
    assert reply.status_code == 204
    assert twilio.post_badly_signed(status_url, call_params(leg)).status_code == 403
    *_, next_leg = fake_twilio.of("call_create")
    assert next_leg.one("To") == "+51984000222"
    assert f"speaker={second.id}" in next_leg.one("StatusCallback")
    # Hilda answers and joins the conference
    join = next_leg.one("Url").removeprefix("https://ivr.example.test")
    root = xml(twilio.post(join, call_params("CA" + "5" * 32)))
    assert root.findtext("Dial/Conference") == f"plataforma-{sid(1)}"
    attempts = [(e["choice"], e["data"]) for e in journey if e["step"] == "interpreter"]
    assert attempts == [
        ("no-answer", {"language": "qu", "speaker_id": first.id, "nombre": "Intérprete"}),
        ("joined", {"language": "qu", "speaker_id": second.id, "nombre": "Hilda Choque Mamani"}),
    ]
    # when she too had missed, no one is left: registered as such, nothing dialed
    calls = len(fake_twilio.of("call_create"))
    miss = call_params("CA" + "4" * 32, CallStatus="busy")
    assert twilio.post(
        next_leg.one("StatusCallback").removeprefix("https://ivr.example.test"), miss
    )
    assert len(fake_twilio.of("call_create")) == calls
    assert [e["choice"] for e in journey if e["step"] == "interpreter"][-1] == "none"


def test_an_authority_transferred_or_sent_to_the_visits_module(
    app: Flask,
    client: FlaskClient,
    twilio: TwilioSigner,
    session: Session,
    redis_client: redis.Redis,
    fake_twilio: FakeTwilio,
    journey: list,
) -> None:
    from routing.api import agent_token

    ana = add_agent(session, "Ana")
    token = agent_token(app.config["SECRET_KEY"], ana.id)
    headers = {"Authorization": f"Bearer {token}"}
    assert (
        client.post(
            f"/api/agents/{ana.id}/state", json={"state": "available"}, headers=headers
        ).status_code
        == 200
    )
    load_directory(session)
    enter(app, sid(1), tipo_usuario="autoridad", region="Puno", organo_sigla="DGPP")
    twilio.post(f"/voice/queue/bridge?call={sid(1)}&agent={ana.id}", call_params(sid(1)))
    twilio.post(f"/voice/queue/whisper?call={sid(1)}&agent={ana.id}", call_params("CA" + "7" * 32))
    visit = {"nombre": "Rosa Mamani Quispe", "entidad": "Gobierno Regional de Puno"}
    visit |= {"fecha": "2099-12-03", "hora": "10:30"}
    # issue 11.9: who is coming and when is asked for, and checked
    for missing in ("nombre", "entidad", "fecha", "hora"):
        reply = client.post(
            f"/api/calls/{sid(1)}/presencial",
            json={k: v for k, v in visit.items() if k != missing},
            headers=headers,
        )
        assert reply.status_code == 400 and reply.json
        assert reply.json["error"].startswith("Indique")
    reply = client.post(
        f"/api/calls/{sid(1)}/presencial", json=visit | {"organo": "XYZ"}, headers=headers
    )
    assert reply.json == {"error": "El órgano «XYZ» no existe o no está activo."}
    assert fake_twilio.of("message_create") == []
    reply = client.post(f"/api/calls/{sid(1)}/presencial", json=visit, headers=headers)
    assert reply.status_code == 200, reply.json
    [redirect] = fake_twilio.of("call_update")
    assert redirect.one("Url").endswith(f"/voice/queue/presencial?call={sid(1)}")
    [sms] = fake_twilio.of("message_create")
    assert sms.one("To") == "+51999888777"
    body = sms.one("Body")
    assert "Región: Puno" in body and "Atendió: Ana" in body
    assert "Autoridad: Rosa Mamani Quispe." in body
    assert "Entidad: Gobierno Regional de Puno." in body
    assert "Órgano: Presupuesto Público (DGPP)." in body  # the órgano chosen in the IVR
    assert "Fecha y hora acordadas: 03/12/2099 a las 10:30." in body
    root = xml(twilio.post(f"/voice/queue/presencial?call={sid(1)}", call_params(sid(1))))
    assert said(root)[0] == prompt("presencial")
    [transfer] = [e for e in journey if e["step"] == "transfer"]
    assert transfer["data"]["kind"] == "presencial"
    assert transfer["data"]["visita"]["cita"] == "2099-12-03T10:30:00-05:00"
    assert agents.presence(redis_client, ana.id).state == "wrap_up"
    # a second click does nothing more
    again = client.post(f"/api/calls/{sid(1)}/presencial", json=visit, headers=headers)
    assert again.status_code == 409
    assert len(fake_twilio.of("message_create")) == 1


def test_a_visit_in_the_past_or_badly_written_is_refused(session: Session) -> None:
    from datetime import datetime

    from clock import LIMA
    from routing.authorities import VisitInvalid, visit_from

    load_directory(session)
    now = datetime(2026, 12, 2, 10, 0, tzinfo=LIMA)
    fields = {"nombre": "Rosa Mamani", "entidad": "Municipalidad de Juli", "organo": "dgtp"}
    with pytest.raises(VisitInvalid) as past:
        visit_from(session, **fields, fecha="2026-12-02", hora="09:59", now=now)
    assert str(past.value) == "La fecha y hora acordadas ya pasaron."
    with pytest.raises(VisitInvalid) as bad:
        visit_from(session, **fields, fecha="02/12/2026", hora="25:00", now=now)
    assert "AAAA-MM-DD" in str(bad.value) and "HH:MM" in str(bad.value)
    with pytest.raises(VisitInvalid) as no_organo:
        visit_from(session, **(fields | {"organo": ""}), fecha="2026-12-02", hora="10:00", now=now)
    assert str(no_organo.value) == "Indique el órgano (su sigla) que recibirá a la autoridad."
    visit = visit_from(session, **fields, fecha="2026-12-02", hora="10:00", now=now)
    assert (visit.organo, visit.organo_nombre, visit.when()) == (
        "DGTP",
        "Tesoro Público",
        "02/12/2026 a las 10:00",
    )


def test_a_failed_transfer_puts_the_caller_back_in_place(
    app: Flask, twilio: TwilioSigner, session: Session, redis_client: redis.Redis
) -> None:
    enter(app, sid(1))
    enter(app, sid(2))
    ana = add_agent(session, "Ana")
    agents.set_state_from_directory(session, redis_client, ana.id, "available", now=1, settings=S)
    [m] = match(redis_client, now=line.now_ms(), settings=S)
    assert m.call_sid == sid(1)
    twilio.post(f"/voice/queue/bridge?call={sid(1)}&agent={ana.id}", call_params(sid(1)))
    twilio.post(f"/voice/queue/whisper?call={sid(1)}&agent={ana.id}", call_params("CA" + "7" * 32))
    assert agents.presence(redis_client, ana.id).state == "on_call"
    root = xml(twilio.post(f"/voice/queue/transfer?call={sid(1)}&anexo=2301", call_params(sid(1))))
    assert root.findtext("Dial/Sip") == "sip:2301@pbx.mef.gob.pe"
    root = xml(
        twilio.post(
            f"/voice/queue/transfer-done?call={sid(1)}", call_params(sid(1), DialCallStatus="busy")
        )
    )
    assert [c.tag for c in root] == ["Say", "Enqueue"]
    assert said(root) == [prompt("transfer_failed")]
    assert line.position(redis_client, sid(1)) == 1


def test_an_interpreter_mode_agent_who_does_not_answer_sends_the_caller_back_in_place(
    app: Flask,
    twilio: TwilioSigner,
    session: Session,
    redis_client: redis.Redis,
    fake_twilio: FakeTwilio,
) -> None:
    app.config["ROUTING_LANGUAGE_WAIT_SECONDS"] = 0
    ana = add_agent(session, "Ana")
    agents.set_state_from_directory(session, redis_client, ana.id, "available", now=1, settings=S)
    enter(app, sid(1), language="ay")
    twilio.post(f"/voice/queue/bridge?call={sid(1)}&agent={ana.id}", call_params(sid(1)))
    assert fake_twilio.of("call_create") == []  # no aymara speaker registered: the agent only
    [leg] = fake_twilio.of("participant_create")
    status_url = leg.one("StatusCallback").removeprefix("https://ivr.example.test")
    agent_leg = legs.conference(redis_client, sid(1)).agent_leg
    assert agent_leg is not None
    reply = twilio.post(status_url, call_params(agent_leg, CallStatus="no-answer"))
    assert reply.status_code == 204
    [redirect] = fake_twilio.of("call_update")
    assert redirect.path.endswith(f"/Calls/{sid(1)}.json")
    requeue_url = redirect.one("Url").removeprefix("https://ivr.example.test")
    root = xml(twilio.post(requeue_url, call_params(sid(1))))
    assert [c.tag for c in root] == ["Say", "Enqueue"]
    assert agents.presence(redis_client, ana.id).misses == 1


def test_a_caller_who_hangs_up_while_the_agent_rings_is_abandoned_not_a_miss(
    app: Flask, twilio: TwilioSigner, session: Session, redis_client: redis.Redis, journey: list
) -> None:
    ana = add_agent(session, "Ana")
    agents.set_state_from_directory(session, redis_client, ana.id, "available", now=1, settings=S)
    enter(app, sid(1))
    twilio.post(f"/voice/queue/bridge?call={sid(1)}&agent={ana.id}", call_params(sid(1)))
    params = call_params(sid(1), DialCallStatus="canceled", CallStatus="completed")
    twilio.post(f"/voice/queue/dial-done?call={sid(1)}&agent={ana.id}", params)
    assert line.waiting_count(redis_client) == 0
    assert ("queue_left", "hangup") in steps(journey, sid(1))
    presence = agents.presence(redis_client, ana.id)
    assert (presence.state, presence.misses) == ("available", 0)


def test_a_softphone_that_answers_an_offer_that_is_gone_is_hung_up_not_bridged(
    app: Flask,
    twilio: TwilioSigner,
    session: Session,
    redis_client: redis.Redis,
    fake_twilio: FakeTwilio,
    journey: list,
) -> None:
    ana = add_agent(session, "Ana")
    agents.set_state_from_directory(session, redis_client, ana.id, "available", now=1, settings=S)
    enter(app, sid(1))
    dial = offer_to(twilio, fake_twilio, sid(1))
    [participant] = fake_twilio.of("participant_create")
    agent_leg = legs.conference(redis_client, sid(1)).agent_leg
    assert agent_leg is not None
    # the caller hangs up while Ana's softphone rings (its ringing is stopped)...
    gone = call_params(sid(1), DialCallStatus="canceled", CallStatus="completed")
    twilio.post(local(dial.attrib["action"]), gone)
    [stop] = fake_twilio.of("call_update")
    assert stop.path.endswith(f"/Calls/{agent_leg}.json") and stop.one("Status") == "canceled"
    # ...but her answer crossed it: her leg is hung up, no one is bridged, no miss counted
    status = local(participant.one("StatusCallback"))
    answered = call_params(agent_leg, CallStatus="in-progress")
    assert twilio.post(status, answered).status_code == 204
    [_, hangup] = fake_twilio.of("call_update")
    assert hangup.path.endswith(f"/Calls/{agent_leg}.json") and hangup.one("Status") == "completed"
    assert ("agent_answered", None) not in steps(journey, sid(1))
    presence = agents.presence(redis_client, ana.id)
    assert (presence.state, presence.misses) == ("available", 0)


def test_the_sweep_releases_an_offer_whose_call_never_reached_the_agent(
    app: Flask, session: Session, redis_client: redis.Redis, fake_twilio: FakeTwilio
) -> None:
    from routing.context import from_app
    from routing.jobs import sweep

    ana = add_agent(session, "Ana")
    fake_twilio.members = set()  # Twilio knows no member, and the call redirect fails too
    fake_twilio.fail_next("call_update", 404)
    agents.set_state_from_directory(session, redis_client, ana.id, "available", now=1, settings=S)
    enter(app, sid(1))
    # the connect job found the call gone: the caller is out, Ana free again
    caller = line.caller(redis_client, sid(1))
    assert caller is not None and caller.status is CallerStatus.GONE
    assert agents.presence(redis_client, ana.id).state == "available"
    enter(app, sid(2))
    assert agents.presence(redis_client, ana.id).state == "ringing"
    later = line.now_ms() + (S.ring_timeout_seconds + 61) * 1000
    report = sweep(from_app(), now=later)
    assert report.unstuck == [(ana.id, sid(2))]


def test_a_wait_url_that_cannot_read_the_line_takes_the_caller_out_of_twilios_queue(
    app: Flask, twilio: TwilioSigner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 11.3: not hold music forever; the Enqueue action routes the caller next."""
    from extensions import redis_store

    enter(app, sid(1))
    monkeypatch.setattr(redis_store, "_client", dead_redis())
    root = xml(twilio.post("/voice/queue/wait", call_params(sid(1))))
    assert [c.tag for c in root] == ["Leave"]


def redis_down(monkeypatch: pytest.MonkeyPatch) -> None:
    from extensions import redis_store

    monkeypatch.setattr(redis_store, "_client", dead_redis())


def test_without_the_line_or_a_hunt_group_the_caller_leaves_a_callback_request(
    app: Flask, twilio: TwilioSigner, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    enter(app, sid(1))
    redis_down(monkeypatch)
    xml(twilio.post("/voice/queue/wait", call_params(sid(1))))
    root = xml(twilio.post("/voice/queue/left", call_params(sid(1), QueueResult="leave")))
    assert [c.tag for c in root] == ["Say", "Say", "Say", "Hangup"]
    when = prompt("queue_callback_today"), prompt("queue_callback_next_day")
    assert said(root)[0] == prompt("queue_unavailable")
    assert said(root)[1] in when and said(root)[2] == prompt("thanks")
    [request] = session.scalars(select(CallbackRequest)).all()
    assert (request.call_sid, request.source, request.telefono) == (
        sid(1),
        "ruta_fallida",
        "+51987654321",
    )
    # Twilio retries the action: still one request
    twilio.post("/voice/queue/left", call_params(sid(1), QueueResult="leave"))
    assert len(session.scalars(select(CallbackRequest)).all()) == 1


def test_without_the_line_and_the_database_the_caller_still_hears_a_clear_goodbye(
    app: Flask, twilio: TwilioSigner, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.exc import OperationalError

    from register import callbacks

    def database_down(*_args: Any, **_kwargs: Any) -> Any:
        raise OperationalError("INSERT", {}, Exception("the database is down (test)"))

    redis_down(monkeypatch)
    monkeypatch.setattr(callbacks, "request_callback", database_down)
    root = xml(twilio.post("/voice/queue/left", call_params(sid(1), QueueResult="leave")))
    assert [c.tag for c in root] == ["Say", "Say", "Say", "Hangup"]
    assert said(root) == [prompt("queue_unavailable"), prompt("queue_call_again"), prompt("thanks")]


@pytest.mark.parametrize(
    ("fallback", "tag"),
    [("+5113115000", "Number"), ("sip:plataforma@pbx.mef.gob.pe", "Sip")],
)
def test_without_the_line_the_caller_is_dialed_to_the_plataforma_hunt_group(
    app: Flask,
    twilio: TwilioSigner,
    session: Session,
    monkeypatch: pytest.MonkeyPatch,
    journey: list,
    fallback: str,
    tag: str,
) -> None:
    app.config["PLATAFORMA_FALLBACK_DIAL"] = fallback
    enter(app, sid(1))
    redis_down(monkeypatch)
    assert [c.tag for c in xml(twilio.post("/voice/queue/wait", call_params(sid(1))))] == ["Leave"]
    root = xml(twilio.post("/voice/queue/left", call_params(sid(1), QueueResult="leave")))
    assert [c.tag for c in root] == ["Say", "Dial"]
    assert said(root) == [prompt("to_plataforma_error")]
    assert root.findtext(f"Dial/{tag}") == fallback
    assert ("transfer", None) in steps(journey, sid(1))
    done = root[1].attrib["action"].removeprefix("https://ivr.example.test")
    assert done == "/voice/queue/fallback-done"
    # Nobody answers at the hunt group: a callback request, and a goodbye.
    root = xml(twilio.post(done, call_params(sid(1), DialCallStatus="no-answer")))
    assert root[-1].tag == "Hangup"
    assert [r.source for r in session.scalars(select(CallbackRequest))] == ["ruta_fallida"]


def test_a_call_the_hunt_group_answered_goes_on_to_the_survey_and_is_registered_answered(
    app: Flask, twilio: TwilioSigner, monkeypatch: pytest.MonkeyPatch, journey: list
) -> None:
    app.config["PLATAFORMA_FALLBACK_DIAL"] = "+5113115000"
    redis_down(monkeypatch)
    params = call_params(sid(1), DialCallStatus="completed", DialCallDuration="240")
    root = xml(twilio.post("/voice/queue/fallback-done", params))
    assert [c.tag for c in root] == ["Redirect"]
    [answered] = [e for e in journey if e["step"] == "agent_answered"]
    assert answered["data"]["nombre"] == "Plataforma (línea de respaldo)"


def test_a_malformed_fallback_dial_stops_the_app(config: Any) -> None:
    from app import create_app
    from config import ConfigError

    config.PLATAFORMA_FALLBACK_DIAL = "plataforma"
    with pytest.raises(ConfigError, match="PLATAFORMA_FALLBACK_DIAL"):
        create_app(config)


def test_the_sweep_command_reports_what_it_did(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["routing", "sweep"])
    assert result.exit_code == 0
    assert result.output.strip() == (
        "Barrido: 0 con límite de espera, 0 ofertas liberadas, 0 asignadas, "
        "0 devoluciones vencidas."
    )


def test_a_sweep_round_survives_redis_being_down(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    from extensions import redis_store
    from routing.cli import sweep_round

    redis_store.configure("redis://127.0.0.1:1/0")  # nobody listens there
    try:
        assert sweep_round(quiet=True) is False
        result = app.test_cli_runner().invoke(args=["routing", "sweep"])
    finally:
        redis_store.configure(app.config["REDIS_URL"])
    assert "sweep failed" in caplog.text
    assert result.exit_code == 1
    assert "El barrido falló" in result.output
    assert sweep_round(quiet=True) is True


def test_the_scheduled_sweep_keeps_one_next_run(app: Flask, redis_client: redis.Redis) -> None:
    from rq.registry import ScheduledJobRegistry

    from extensions import redis_store
    from routing.jobs import SWEEP_JOB_ID, sweep_job

    runner = app.test_cli_runner()
    assert runner.invoke(args=["routing", "schedule-sweep", "--every", "5"]).exit_code == 0
    assert runner.invoke(args=["routing", "schedule-sweep", "--every", "5"]).exit_code == 0
    assert sweep_job(5)["matches"] == 0
    registry = ScheduledJobRegistry(queue=redis_store.queue("default"))
    assert registry.get_job_ids() == [SWEEP_JOB_ID]


@pytest.mark.parametrize(
    ("path", "params", "tags"),
    [
        ("/voice/queue/left", {"QueueResult": "leave"}, ["Say", "Say", "Say", "Hangup"]),
        ("/voice/queue/bridge?call=CAx&agent=1", {}, ["Enqueue"]),
        ("/voice/queue/whisper?call=CAx&agent=1", {}, ["Say"]),
        ("/voice/queue/dial-done?call=CAx&agent=1", {"DialCallStatus": "no-answer"}, ["Enqueue"]),
        ("/voice/queue/wait-key", {"Digits": "1"}, ["Redirect"]),
    ],
)
def test_with_redis_down_every_caller_still_gets_a_route(
    app: Flask,
    twilio: TwilioSigner,
    monkeypatch: pytest.MonkeyPatch,
    path: str,
    params: dict[str, str],
    tags: list[str],
) -> None:
    from extensions import redis_store

    monkeypatch.setattr(redis_store, "_client", dead_redis())
    root = xml(twilio.post(path, call_params(sid(1), **params)))
    assert [c.tag for c in root] == tags
