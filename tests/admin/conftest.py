"""Users of every role, and a helper that signs in through the login form."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.serving import make_server
from werkzeug.test import TestResponse

from admin.models import User

PASSWORD = "cambiar-esta-clave"
USERS = {
    "admin": "admin",
    "supervisor": "supervisor",
    "agente": "agente",
    "lector": "lector",
}


@pytest.fixture
def users(session: Session) -> dict[str, User]:
    made = {}
    for username, role in USERS.items():
        user = User(username=username, nombre=f"Demo {username}", role=role, activo=True)
        user.set_password(PASSWORD)
        session.add(user)
        made[username] = user
    session.commit()
    return made


def login(client: FlaskClient, username: str, password: str = PASSWORD) -> TestResponse:
    return client.post("/admin/login", data={"username": username, "password": password})


# Web pages are tested in Debian's Chromium, driven by Playwright (never a downloaded browser).
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
BROWSER = [
    pytest.mark.browser,
    pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="Debian's chromium is missing"),
]


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    """The app served on a free loopback port, for the browser."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)
