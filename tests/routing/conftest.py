"""Fixtures of the routing tests: Twilio faked at the network edge (always), rq jobs run at
once, journey events captured, agents in the directory, callers' state in Redis."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from flask import Flask
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy.orm import Session
from twilio.twiml.voice_response import VoiceResponse

from config import TestConfig
from directory.models import Agent, AgentLanguage, LanguageSpeaker
from extensions import redis_store
from ivr import state as call_state
from ivr.state import CallState
from routing import flows
from routing import queue as line
from routing.context import Context, from_app

BASE = 1_800_000_000_000  # a fixed "now" in ms for domain tests


@pytest.fixture
def config(config: TestConfig) -> TestConfig:
    config.RQ_ASYNC = False  # jobs run inside the request that queues them
    config.ROUTING_API_TOKEN = "supervisor-token"
    config.VISITS_MODULE_PHONE = "+51999888777"
    return config


def steps(events: list[dict[str, Any]], call_sid: str) -> list[tuple[str, str | None]]:
    return [(e["step"], e["choice"]) for e in events if e["call_sid"] == call_sid]


@pytest.fixture
def ctx(app: Flask) -> Context:
    return from_app()


def add_agent(
    session: Session,
    nombre: str,
    *,
    canal: str = "client",
    destino: str | None = None,
    languages: tuple[str, ...] = (),
) -> Agent:
    agent = Agent(nombre=nombre, canal=canal, destino=destino or nombre.lower(), activo=True)
    agent.languages = [AgentLanguage(language_code=code) for code in languages]
    session.add(agent)
    session.commit()
    return agent


def add_speaker(session: Session, language: str, telefono: str) -> LanguageSpeaker:
    speaker = LanguageSpeaker(
        nombre_completo="Intérprete", language_code=language, telefono=telefono, activo=True
    )
    session.add(speaker)
    session.commit()
    return speaker


def caller_state(call_sid: str, **fields: Any) -> CallState:
    state = CallState(call_sid=call_sid, from_number="+51987654321", **fields)
    call_state.save(redis_store.client, state)
    return state


def sid(n: int) -> str:
    return f"CA{n:032x}"


def dead_redis() -> redis.Redis:
    """A client of a Redis that does not answer (connection refused, no retries)."""
    return redis.Redis(
        host="127.0.0.1", port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0)
    )


def send_to_plataforma(
    response: VoiceResponse, state: CallState | None, reason: str
) -> VoiceResponse:
    """routing.flows.send_to_plataforma as the call flow calls it, its events handed over."""
    ctx = from_app()
    response = flows.send_to_plataforma(response, state, reason, ctx, now=line.now_ms())
    ctx.hand_over()
    return response
