"""Fixtures of the console's tests: an agent of the directory, the user linked to them, signed
in; the live channel's messages caught by a real Redis subscription."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from admin.models import User
from config import TestConfig
from directory.models import Agent
from tests.admin.conftest import PASSWORD, login


@pytest.fixture
def config(config: TestConfig) -> TestConfig:
    config.RQ_ASYNC = False  # jobs run inside the request that queues them
    return config


def add_agent(session: Session, nombre: str, canal: str = "client", destino: str = "") -> Agent:
    agent = Agent(nombre=nombre, canal=canal, destino=destino or nombre.lower(), activo=True)
    session.add(agent)
    session.commit()
    return agent


def add_user(session: Session, username: str, agent: Agent | None, role: str = "agente") -> User:
    user = User(username=username, nombre=f"Usuaria {username}", role=role, activo=True)
    user.set_password(PASSWORD)
    user.agent_id = agent.id if agent else None
    session.add(user)
    session.commit()
    return user


@pytest.fixture
def rosa(session: Session) -> Agent:
    return add_agent(session, "Rosa Huamán", canal="client", destino="agente_rosa")


@pytest.fixture
def signed_in(app: Flask, session: Session, rosa: Agent) -> FlaskClient:
    add_user(session, "rosa", rosa)
    client = app.test_client()
    assert login(client, "rosa").status_code == 302
    return client


class Listener:
    """Every live-channel message published while it listens (a real SUBSCRIBE)."""

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
                body = orjson.loads(msg["data"])
                out.append(
                    (msg["channel"].decode().removeprefix("live:"), body["event"], body["data"])
                )
        return out


@pytest.fixture
def listener(redis_client: redis.Redis) -> Iterator[Listener]:
    found = Listener(redis_client)
    yield found
    found.pubsub.close()
