"""Staff accounts: the rules (admin/accounts.py), `flask users ...` (also in the production
profile), /admin/usuarios, the forced change of a temporary password, and sessions the server
ends (sign-out, disabling, a new password or role)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from admin import accounts
from admin.models import User
from directory.audit import entries
from directory.registry import add_agent
from tests.admin.conftest import PASSWORD, login

ROOT = Path(__file__).resolve().parents[2]


def test_passwords_are_hashed_with_argon2_and_checked(session: Session) -> None:
    user = accounts.create_user(
        session,
        username="Ana",
        nombre="Ana Quispe",
        role="supervisor",
        password="una clave bastante larga",
        actor="test",
    )
    assert user.username == "ana"
    assert user.password_hash.startswith("$argon2id$")
    assert user.check_password("una clave bastante larga")
    assert not user.check_password("una clave bastante corta")
    assert user.must_change_password


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        ({"password": "corta"}, "password", "al menos 12 caracteres"),
        ({"username": "Ñandú Pérez"}, "username", "letras minúsculas"),
        ({"role": "root"}, "role", "no existe"),
        ({"role": "agente"}, "agent_id", "vinculado a su agente"),
        ({"role": "red"}, "representative_id", "vinculado a su designación"),
        ({"role": "lector", "agent_id": 1}, "role", "no se vincula"),
    ],
)
def test_account_rules_name_the_field_in_spanish(
    session: Session, kwargs: dict[str, object], field: str, message: str
) -> None:
    base: dict[str, object] = {
        "username": "ana",
        "nombre": "Ana",
        "role": "lector",
        "password": "x" * 12,
    }
    with pytest.raises(accounts.AccountError) as caught:
        accounts.create_user(session, **(base | kwargs), actor="test")  # type: ignore[arg-type]
    assert caught.value.field == field
    assert message in str(caught.value)


def test_an_agent_user_is_linked_to_the_agent_record(session: Session) -> None:
    agent = add_agent(
        session, nombre="Rosa", canal="anexo", destino="2101", languages=["es"], actor="t"
    )
    user = accounts.create_user(
        session,
        username="rosa",
        nombre="Rosa",
        role="agente",
        password="p" * 12,
        agent_id=agent.id,
        actor="test",
    )
    assert user.agent_id == agent.id
    with pytest.raises(accounts.AccountError):
        accounts.create_user(
            session,
            username="rosa2",
            nombre="Rosa",
            role="agente",
            password="p" * 12,
            agent_id=agent.id + 99,
            actor="test",
        )


def test_the_last_admin_cannot_be_disabled_or_demoted(session: Session) -> None:
    accounts.create_user(
        session, username="jefa", nombre="Jefa", role="admin", password="p" * 12, actor="t"
    )
    with pytest.raises(accounts.AccountError, match="único administrador"):
        accounts.set_active(session, "jefa", False, actor="t")
    with pytest.raises(accounts.AccountError, match="único administrador"):
        accounts.set_role(session, "jefa", "lector", actor="t")


def _flask(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_first_admin_is_made_with_one_command_in_production(
    app: Flask, session: Session, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RED_", "FLASK_"))} | {
        "RED_ENV": "production",
        "SECRET_KEY": "s" * 40,
        "TWILIO_AUTH_TOKEN": "t" * 32,
        "PUBLIC_BASE_URL": "https://ivr.example.test",
        "DATABASE_URL": app.config["DATABASE_URL"],
        "REDIS_URL": app.config["REDIS_URL"],
    }
    made = _flask(
        env,
        "users",
        "create",
        "jefa",
        "--rol",
        "admin",
        "--nombre",
        "Jefa de la Oficina",
        "--password-stdin",
        stdin="una clave de produccion\n",
    )
    assert made.returncode == 0, made.stderr
    assert "Usuario jefa creado con el rol admin" in made.stdout
    listed = _flask(env, "users", "list")
    assert listed.returncode == 0, listed.stderr
    assert "jefa\tadmin (Administrador(a))\tJefa de la Oficina" in listed.stdout
    short = _flask(
        env, "users", "create", "otra", "--rol", "lector", "--password-stdin", stdin="corta\n"
    )
    assert short.returncode == 1
    assert "al menos 12 caracteres" in short.stderr
    # The password never travels as an argument: there is no option for it.
    argv = _flask(env, "users", "create", "x", "--rol", "lector", "--password", "abc")
    assert argv.returncode != 0 and "No existe la opción" in argv.stderr

    session.expire_all()
    user = session.scalar(select(User).where(User.username == "jefa"))
    assert user is not None and user.check_password("una clave de produccion")
    assert user.must_change_password  # a temporary password: changed at first sign-in
    [entry] = entries(session, "user")
    assert entry.action == "create" and entry.actor.startswith("cli:")
    assert "password_hash" not in (entry.after or {})


def test_users_commands_disable_enable_set_password_and_role(
    runner: FlaskCliRunner, session: Session
) -> None:
    out = runner.invoke(
        args=["users", "create", "ana", "--rol", "lector"],
        input="una clave larga 1\nuna clave larga 1\n",
    )
    assert out.exit_code == 0, out.output
    assert runner.invoke(args=["users", "disable", "ana"]).exit_code == 0
    assert "desactivado" in runner.invoke(args=["users", "list"]).output
    assert runner.invoke(args=["users", "enable", "ana"]).exit_code == 0
    out = runner.invoke(
        args=["users", "set-password", "ana", "--password-stdin"], input="otra clave larga 2\n"
    )
    assert out.exit_code == 0, out.output
    out = runner.invoke(args=["users", "set-role", "ana", "supervisor"])
    assert out.exit_code == 0 and "rol supervisor" in out.output
    missing = runner.invoke(args=["users", "disable", "nadie"])
    assert missing.exit_code == 1 and "No existe el usuario «nadie»" in missing.output
    user = session.scalar(select(User).where(User.username == "ana"))
    assert user is not None and user.role == "supervisor" and user.activo
    assert user.check_password("otra clave larga 2")
    assert [e.action for e in entries(session, "user")] == [
        "create",
        "disable",
        "enable",
        "password",
        "role",
    ]


def test_a_temporary_password_must_be_changed_before_anything_else(
    client: FlaskClient, users: dict[str, User], session: Session
) -> None:
    users["lector"].must_change_password = True
    session.commit()
    response = login(client, "lector")
    assert response.headers["Location"] == "/admin/clave"
    assert client.get("/admin/reportes").headers["Location"] == "/admin/clave"
    bad = client.post(
        "/admin/clave",
        data={"current": PASSWORD, "password": "corta", "confirm": "corta"},
    )
    assert bad.status_code == 400
    assert "al menos 12 caracteres" in bad.get_data(as_text=True)
    ok = client.post(
        "/admin/clave",
        data={"current": PASSWORD, "password": "mi clave nueva 1", "confirm": "mi clave nueva 1"},
    )
    assert ok.status_code == 302
    assert client.get("/admin/reportes").status_code == 200  # this browser stays signed in
    session.expire_all()
    assert not users["lector"].must_change_password


def _cookie(client: FlaskClient) -> str:
    cookie = client.get_cookie("session")
    assert cookie is not None
    return cookie.value


def _with_cookie(app: Flask, value: str) -> FlaskClient:
    other = app.test_client()
    other.set_cookie("session", value)
    return other


def test_signing_out_ends_the_session_on_the_server(
    app: Flask, client: FlaskClient, users: dict[str, User]
) -> None:
    login(client, "supervisor")
    copied = _cookie(client)
    assert _with_cookie(app, copied).get("/admin/reportes").status_code == 200
    client.post("/admin/logout")
    assert _with_cookie(app, copied).get("/admin/reportes").status_code == 302


@pytest.mark.parametrize("change", ["disable", "password", "role"])
def test_disabling_or_a_new_password_or_role_ends_the_users_sessions(
    app: Flask, client: FlaskClient, users: dict[str, User], session: Session, change: str
) -> None:
    login(client, "supervisor")
    assert client.get("/admin/reportes").status_code == 200
    if change == "disable":
        accounts.set_active(session, "supervisor", False, actor="t")
    elif change == "password":
        accounts.set_password(session, "supervisor", "nueva clave 12345", temporary=True, actor="t")
    else:
        accounts.set_role(session, "supervisor", "lector", actor="t")
    session.commit()
    assert client.get("/admin/reportes").status_code == 302


def test_admin_creates_an_agent_user_on_the_users_page(
    client: FlaskClient, users: dict[str, User], session: Session
) -> None:
    agent = add_agent(
        session, nombre="Rosa", canal="anexo", destino="2101", languages=["es"], actor="t"
    )
    session.commit()
    login(client, "admin")
    page = client.get("/admin/usuarios")
    assert page.status_code == 200 and "Crear usuario" in page.get_data(as_text=True)
    bad = client.post(
        "/admin/usuarios",
        data={
            "username": "rosa",
            "nombre": "Rosa",
            "role": "agente",
            "agent_id": "",
            "representative_id": "",
            "password": "temporal 123456",
        },
    )
    assert bad.status_code == 400
    assert 'id="error-agent_id"' in bad.get_data(as_text=True)
    ok = client.post(
        "/admin/usuarios",
        data={
            "username": "rosa",
            "nombre": "Rosa",
            "role": "agente",
            "agent_id": str(agent.id),
            "representative_id": "",
            "password": "temporal 123456",
        },
    )
    assert ok.status_code == 302
    user = session.scalar(select(User).where(User.username == "rosa"))
    assert user is not None and user.agent_id == agent.id and user.must_change_password
    assert client.get("/admin/usuarios").status_code == 200
    client.post("/admin/logout")
    login(client, "lector")
    assert client.get("/admin/usuarios").status_code == 403


def test_the_demo_red_user_is_linked_to_dgpp_titular(session: Session) -> None:
    from admin.demo import seed_demo_users
    from admin.models import User
    from directory.demo import seed_demo
    from directory.models import Organo

    seed_demo(session, actor="test")
    assert seed_demo_users(session, "test") == 5
    red = session.scalars(select(User).where(User.username == "red")).one()
    titular = session.scalars(select(Organo).where(Organo.sigla == "DGPP")).one().current("titular")
    assert red.role == "red" and titular is not None and red.representative_id == titular.id
    assert seed_demo_users(session, "test") == 0  # again: nothing added
