"""Users of every role, and a helper that signs in through the login form."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
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
