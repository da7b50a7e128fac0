"""The screen pop: what connect_caller (the rq job) shows on the agent's console before the
agent answers, and the rule that a softphone agent whose console is closed is offered no one."""

from __future__ import annotations

from datetime import date

import redis
from flask import Flask
from sqlalchemy.orm import Session
from twilio.twiml.voice_response import VoiceResponse

import livebus
from register import callbacks
from register.ingest import ingest_events
from routing import agents, screenpop
from routing import queue as line
from routing.context import from_app
from routing.jobs import sweep
from routing.settings import RoutingSettings
from tests.console.conftest import Listener
from tests.register.journeys import plataforma_answered
from tests.routing.conftest import add_agent, caller_state, send_to_plataforma, sid
from tests.twilio_fake import FakeTwilio

S = RoutingSettings()
NUMBER = "+51987654321"


def offers(listener: Listener, agent_id: int) -> list[dict]:
    return [d for t, e, d in listener.messages() if t == f"agent:{agent_id}" and e == "offer"]


def test_the_offer_shows_the_caller_before_the_agent_answers(
    app: Flask, session: Session, redis_client: redis.Redis, fake_twilio: FakeTwilio
) -> None:
    ingest_events(session, plataforma_answered(sid(9)))  # an earlier call of this number
    callbacks.request_callback(
        session, call_sid=sid(8), source="cola", telefono=NUMBER, due=date(2026, 12, 3)
    )
    session.commit()
    ana = add_agent(session, "Ana")
    agents.set_state_from_directory(session, redis_client, ana.id, "available", now=1, settings=S)
    listener = Listener(redis_client)
    state = caller_state(
        sid(1),
        preferencial="adulto_mayor",
        region="Cusco",
        detalle="estado_tramite",
        expediente="20261234",
        organo_sigla="DGPP",
        summary_url="https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1",
    )
    with app.test_request_context():
        send_to_plataforma(VoiceResponse(), state, "preferential")
    [offer] = offers(listener, ana.id)
    assert offer["call_sid"] == sid(1) and offer["agent_id"] == ana.id
    assert offer["telefono"] == "+51 9** *** 321"  # an agent does not read full numbers
    assert offer["region"] == "Cusco" and offer["idioma"] == "español"
    assert offer["tipo_usuario"] == "Ciudadano" and offer["autoridad"] is False
    assert offer["preferencial"] == "adulto mayor" and offer["prioridad"] == "preferencial"
    assert offer["expediente"] == "20261234"
    assert offer["organo"] == {"sigla": "DGPP", "nombre": None}
    assert offer["ruta_menu"][-2:] == ["Órgano: DGPP", "Expediente 20261234"]
    assert "Atención preferencial: adulto mayor" in offer["ruta_menu"]
    assert offer["tiene_resumen"] is True and "summary_url" not in offer
    assert offer["timbre_seg"] == 20 and 0 <= offer["espera_seg"] < 5
    [earlier] = offer["llamadas_previas"]
    assert earlier["fecha"] == "2026-10-14" and earlier["atendido_por"] == "Rosa Quispe"
    [pending] = offer["devoluciones_pendientes"]
    assert pending["vence"] == "2026-12-03" and pending["estado"] == "pendiente"
    listener.pubsub.close()
    # published before the caller was taken out of Twilio's queue
    caller = line.caller(redis_client, sid(1))
    assert fake_twilio.sent and caller is not None and caller.is_offered_to(ana.id)


def test_a_supervisor_reading_the_pop_sees_the_full_number(
    app: Flask, session: Session, redis_client: redis.Redis
) -> None:
    ana = add_agent(session, "Ana")
    agents.set_state_from_directory(session, redis_client, ana.id, "available", now=1, settings=S)
    state = caller_state(sid(1), tipo_usuario="autoridad")
    with app.test_request_context():
        send_to_plataforma(VoiceResponse(), state, "authority")
    pop = screenpop.offer_for(
        session, redis_client, screenpop.PopSettings(), sid(1), role="supervisor"
    )
    assert pop is not None and pop["telefono"] == NUMBER
    assert pop["autoridad"] is True and pop["tipo_usuario"] == "Autoridad"
    assert pop["llamadas_previas"] == [] and pop["devoluciones_pendientes"] == []
    assert screenpop.offer_for(session, redis_client, screenpop.PopSettings(), sid(5)) is None


def test_a_softphone_agent_whose_console_is_closed_is_not_offered_a_caller(
    app: Flask, session: Session, redis_client: redis.Redis, fake_twilio: FakeTwilio
) -> None:
    ana = add_agent(session, "Ana")  # channel client
    beto = add_agent(session, "Beto", canal="anexo", destino="2104")
    agents.set_state_from_directory(session, redis_client, ana.id, "available", now=1, settings=S)
    agents.mark_console(redis_client, ana.id, softphone=True)  # she went available on the page
    agents.set_state_from_directory(session, redis_client, beto.id, "available", now=2, settings=S)
    # Ana is the longest idle, but no stream keeps her console's key alive
    state = caller_state(sid(1))
    with app.test_request_context():
        send_to_plataforma(VoiceResponse(), state, "menu")
    caller = line.caller(redis_client, sid(1))
    assert caller is not None and caller.is_offered_to(beto.id)
    found = agents.presence(redis_client, ana.id)
    assert found.state == "offline" and found.reason == "consola_cerrada"


def test_an_open_console_keeps_the_agent_offered_and_the_sweep_drops_a_closed_one(
    app: Flask, session: Session, redis_client: redis.Redis
) -> None:
    ana = add_agent(session, "Ana")
    agents.set_state_from_directory(session, redis_client, ana.id, "available", now=1, settings=S)
    agents.mark_console(redis_client, ana.id, softphone=True)
    redis_client.set(livebus.here_key(f"agent:{ana.id}"), 1, ex=15)  # as the live process does
    assert sweep(from_app(), now=line.now_ms()).matches == []
    assert agents.presence(redis_client, ana.id).state == "available"
    redis_client.delete(livebus.here_key(f"agent:{ana.id}"))  # the stream closed
    sweep(from_app(), now=line.now_ms())
    assert agents.presence(redis_client, ana.id).state == "offline"


def test_an_agent_set_available_by_the_api_is_not_held_to_the_console(
    app: Flask, session: Session, redis_client: redis.Redis
) -> None:
    ana = add_agent(session, "Ana")
    agents.set_state_from_directory(session, redis_client, ana.id, "available", now=1, settings=S)
    sweep(from_app(), now=line.now_ms())
    assert agents.presence(redis_client, ana.id).state == "available"


def test_a_missed_offer_publishes_the_agents_state(
    app: Flask, session: Session, redis_client: redis.Redis
) -> None:
    ana = add_agent(session, "Ana")
    agents.set_state_from_directory(session, redis_client, ana.id, "available", now=1, settings=S)
    with app.test_request_context():
        send_to_plataforma(VoiceResponse(), caller_state(sid(1)), "menu")
    listener = Listener(redis_client)
    agents.missed(redis_client, sid(1), ana.id, now=line.now_ms(), settings=S)
    states = [d for t, e, d in listener.messages() if e == "state" and t == f"agent:{ana.id}"]
    listener.pubsub.close()
    assert states and states[-1]["estado"] == "available" and states[-1]["fallos"] == 1
