"""Sign-in, roles and the report and register pages (admin/views.py)."""

from __future__ import annotations

import csv
import re
from datetime import date, timedelta
from io import BytesIO

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openpyxl import load_workbook
from sqlalchemy.orm import Session

from admin.models import User
from register.demo import seed_demo_calls
from register.ingest import ingest_events
from tests.admin.conftest import PASSWORD, login
from tests.register.journeys import plataforma_answered


def test_login_then_reports_then_logout(client: FlaskClient, users: dict[str, User]) -> None:
    response = login(client, "lector")
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert client.get("/").headers["Location"] == "/admin/reportes"
    assert client.get("/admin/").headers["Location"] == "/admin/reportes"
    assert client.get("/admin/reportes").status_code == 200
    response = client.post("/admin/logout")
    assert response.status_code == 302
    assert client.get("/admin/reportes").status_code == 302


def test_wrong_password_is_refused_with_a_spanish_message(
    client: FlaskClient, users: dict[str, User]
) -> None:
    response = login(client, "admin", "otra-clave")
    assert response.status_code == 200
    assert "Usuario o contraseña incorrectos." in response.get_data(as_text=True)
    assert client.get("/admin/reportes").status_code == 302


def test_inactive_user_cannot_sign_in(
    client: FlaskClient, users: dict[str, User], session: Session
) -> None:
    users["lector"].activo = False
    session.commit()
    login(client, "lector")
    assert client.get("/admin/reportes").status_code == 302


def test_anonymous_reader_is_sent_to_the_login_page(client: FlaskClient) -> None:
    response = client.get("/admin/reportes?mes=2026-10")
    assert response.status_code == 302
    assert "/admin/login?next=" in response.headers["Location"]


def test_login_follows_a_local_next_but_not_an_outside_one(
    client: FlaskClient, users: dict[str, User]
) -> None:
    response = client.post(
        "/admin/login?next=/admin/reportes?mes=2026-10",
        data={"username": "admin", "password": PASSWORD},
    )
    assert response.headers["Location"] == "/admin/reportes?mes=2026-10"
    client.post("/admin/logout")
    response = client.post(
        "/admin/login?next=//evil.example/x", data={"username": "admin", "password": PASSWORD}
    )
    assert response.headers["Location"] == "/"


def test_agents_may_not_read_reports(client: FlaskClient, users: dict[str, User]) -> None:
    login(client, "agente")
    # after signing in an agent lands on a page they may open, not on a 403
    assert client.get("/admin/").headers["Location"] == "/agente"
    forbidden = client.get("/admin/reportes")
    assert forbidden.status_code == 403
    assert "Su usuario no tiene permiso para ver esta página." in forbidden.get_data(as_text=True)
    assert client.get("/admin/registro.csv?mes=2026-10").status_code == 403


@pytest.fixture
def csrf_app(app: Flask) -> Flask:
    app.config["WTF_CSRF_ENABLED"] = True
    return app


def test_csrf_is_enforced_when_enabled(csrf_app: Flask, users: dict[str, User]) -> None:
    client = csrf_app.test_client()
    response = login(client, "admin")  # no token
    assert response.status_code == 400
    assert "El formulario venció" in response.get_data(as_text=True)
    assert client.get("/admin/reportes").status_code == 302
    page = client.get("/admin/login").get_data(as_text=True)
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert match
    response = client.post(
        "/admin/login",
        data={"username": "admin", "password": PASSWORD, "csrf_token": match.group(1)},
    )
    assert response.status_code == 302
    assert client.get("/admin/reportes").status_code == 200
    # Logging out needs the token too.
    assert client.post("/admin/logout").status_code == 400
    assert client.get("/admin/reportes").status_code == 200


@pytest.mark.parametrize(
    ("username", "shown"), [("lector", "+51 9** *** 321"), ("supervisor", "+51987654321")]
)
def test_register_download_masks_phones_by_the_users_role(
    client: FlaskClient, users: dict[str, User], session: Session, username: str, shown: str
) -> None:
    ingest_events(session, plataforma_answered("CA" + "a" * 32))
    login(client, username)
    response = client.get("/admin/registro.csv?mes=2026-10")
    assert response.status_code == 200
    rows = list(csv.DictReader(response.get_data(as_text=True).splitlines()))
    assert [r["telefono"] for r in rows] == [shown]
    response = client.get("/admin/registro.xlsx?mes=2026-10")
    ws = load_workbook(BytesIO(response.data)).active
    assert ws is not None and ws["F2"].value == shown


def test_report_page_draws_svg_charts_and_the_numbers(
    client: FlaskClient, users: dict[str, User], session: Session
) -> None:
    seed_demo_calls(session, months=2, per_day=10, today=date(2026, 11, 10))
    login(client, "supervisor")
    response = client.get("/admin/reportes?mes=2026-10")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "octubre de 2026" in html
    for chart in (
        "chart-por-dia",
        "chart-atendidas-por",
        "chart-por-organo",
        "chart-erlang",
        "chart-encuesta",
    ):
        assert f'id="{chart}"' in html
    assert html.count("<svg") == 5
    assert "<script" not in html and "http://" not in html.replace(
        'xmlns="http://www.w3.org/2000/svg"', ""
    )
    response = client.get("/admin/reportes?trimestre=2026-Q4")
    assert "4.º trimestre de 2026" in response.get_data(as_text=True)
    assert client.get("/admin/reportes?mes=2026-13").status_code == 400
    xlsx = client.get("/admin/reportes.xlsx?trimestre=2026-Q4")
    assert xlsx.status_code == 200
    assert load_workbook(BytesIO(xlsx.data)).sheetnames[0] == "Resumen"


def test_report_page_opens_on_last_month_while_this_month_has_no_calls(
    client: FlaskClient, users: dict[str, User]
) -> None:
    from clock import lima_now

    login(client, "lector")
    html = client.get("/admin/reportes").get_data(as_text=True)
    first = lima_now().date().replace(day=1)
    last_month = first - timedelta(days=1)
    assert f'value="{last_month:%Y-%m}"' in html


def test_error_pages_are_in_spanish_but_twilio_gets_a_bare_status(client: FlaskClient) -> None:
    page = client.get("/no-existe")
    assert page.status_code == 404
    assert "Página no encontrada" in page.get_data(as_text=True)
    webhook = client.post("/voice/incoming")  # unsigned
    assert webhook.status_code == 403
    assert "Acceso no permitido" not in webhook.get_data(as_text=True)


def test_the_report_page_says_who_interpreted(
    client: FlaskClient, users: dict[str, User], session: Session
) -> None:
    from tests.register.journeys import T0, event

    events = [e for e in plataforma_answered("CA" + "1" * 32) if e["step"] != "language"]
    events.append(event("CA" + "1" * 32, "language", "ay", at=T0 + timedelta(seconds=3)))
    data = {"language": "ay", "speaker_id": 4, "nombre": "Teodora Mamani Ticona"}
    events.append(
        event("CA" + "1" * 32, "interpreter", "joined", at=T0 + timedelta(seconds=30), **data)
    )
    ingest_events(session, events)
    session.commit()
    login(client, "lector")
    page = client.get("/admin/reportes?mes=2026-10").get_data(as_text=True)
    assert "Intérprete (Aimara): Teodora Mamani Ticona" in page
