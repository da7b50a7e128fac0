"""Fixtures of the console's call-control tests: jobs run at once (the REST work reaches the
fake Twilio inside the request), a directory with DGPP, an agent on the softphone signed in,
and the live channel of their console listened to."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from admin.models import User
from config import TestConfig
from directory.models import Agent, Representative
from routing import agents
from routing import queue as line
from routing.settings import RoutingSettings
from tests.admin.conftest import PASSWORD, login
from tests.ivr.helpers import load_directory
from tests.routing.conftest import add_agent

S = RoutingSettings()
BASE_URL = "https://ivr.example.test"


@pytest.fixture
def config(config: TestConfig) -> TestConfig:
    config.RQ_ASYNC = False  # jobs (and the register's drain) run inside the request
    config.VISITS_MODULE_PHONE = "+51999888777"
    return config


@pytest.fixture
def directory(session: Session) -> None:
    """DGPP with a titular (1201) and an alterno (1202) who have names, and other órganos."""
    load_directory(session)
    names = {"1201": "Rosa Huamán Titular", "1202": "Jorge Salas Paredes"}
    for rep in session.scalars(select(Representative)):
        rep.nombre_completo = names.get(rep.anexo, rep.nombre_completo)
    session.commit()


@pytest.fixture
def ana(session: Session, redis_client: redis.Redis) -> Agent:
    """Ana, on the softphone, available now."""
    agent = add_agent(session, "Ana Torres", canal="client", destino="ana")
    agents.set_state_from_directory(
        session, redis_client, agent.id, "available", now=line.now_ms(), settings=S
    )
    return agent


def sign_in(session: Session, client: FlaskClient, username: str, agent_id: int | None) -> None:
    user = User(username=username, nombre=username, role="agente", activo=True)
    user.agent_id = agent_id
    user.set_password(PASSWORD)
    session.add(user)
    session.commit()
    assert login(client, username).status_code == 302


@pytest.fixture
def signed_in(session: Session, client: FlaskClient, ana: Agent) -> FlaskClient:
    sign_in(session, client, "ana", ana.id)
    return client


class Live:
    """What the agent's console hears on the live channel (livebus topic agent:<id>)."""

    def __init__(self, r: redis.Redis, agent_id: int) -> None:
        self.pubsub = r.pubsub(ignore_subscribe_messages=True)
        self.pubsub.subscribe(f"live:agent:{agent_id}")
        self.pubsub.get_message(timeout=1)  # the subscription's confirmation
        self.heard: list[dict[str, Any]] = []

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        while (message := self.pubsub.get_message(timeout=0.01)) is not None:
            self.heard.append(json.loads(message["data"]))
        return [m["data"] for m in self.heard if name in (None, m["event"])]


@pytest.fixture
def live(redis_client: redis.Redis, ana: Agent) -> Iterator[Live]:
    listener = Live(redis_client, ana.id)
    yield listener
    listener.pubsub.close()


def local(url: str) -> str:
    return url.removeprefix(BASE_URL)


# --- The console page's own tests (console.views, the live channel) --------------------


def add_user(session: Session, username: str, agent: Agent | None, role: str = "agente") -> User:
    user = User(username=username, nombre=f"Usuaria {username}", role=role, activo=True)
    user.set_password(PASSWORD)
    user.agent_id = agent.id if agent else None
    session.add(user)
    session.commit()
    return user


@pytest.fixture
def rosa(session: Session) -> Agent:
    """Rosa, on the softphone, offline (she has not opened the console yet)."""
    return add_agent(session, "Rosa Huamán", canal="client", destino="agente_rosa")


@pytest.fixture
def rosa_client(session: Session, client: FlaskClient, rosa: Agent) -> FlaskClient:
    add_user(session, "rosa", rosa)
    assert login(client, "rosa").status_code == 302
    return client


class Listener:
    """Every live-channel message of any topic published while it listens (a real
    PSUBSCRIBE): (topic, event, data)."""

    def __init__(self, r: redis.Redis) -> None:
        self.pubsub = r.pubsub()
        self.pubsub.psubscribe("live:*")
        self.pubsub.get_message(timeout=2)  # the confirmation

    def messages(self, wait: float = 0.3) -> list[tuple[str, str, dict[str, Any]]]:
        out = []
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            msg = self.pubsub.get_message(ignore_subscribe_messages=True, timeout=0.05)
            if msg and msg["type"] == "pmessage":
                body = json.loads(msg["data"])
                topic = msg["channel"].decode().removeprefix("live:")
                out.append((topic, body["event"], body["data"]))
        return out


@pytest.fixture
def listener(redis_client: redis.Redis) -> Iterator[Listener]:
    found = Listener(redis_client)
    yield found
    found.pubsub.close()
