"""GET /directorio: the read-only directory page, for signed-in staff."""

from __future__ import annotations

from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import update
from sqlalchemy.orm import Session

from admin.models import User
from directory.registry import add_speaker

PASSWORD = "cambiar-esta-clave"


def _seed_and_sign_in(
    client: FlaskClient, runner: FlaskCliRunner, session: Session, username: str
) -> None:
    assert runner.invoke(args=["seed", "demo", "--without-calls"]).exit_code == 0
    session.execute(update(User).values(must_change_password=False))
    session.commit()
    response = client.post("/admin/login", data={"username": username, "password": PASSWORD})
    assert response.status_code == 302


def test_directorio_needs_a_signed_in_user(client: FlaskClient) -> None:
    response = client.get("/directorio")
    assert response.status_code == 302
    assert "/admin/login?next=" in response.headers["Location"]


def test_directorio_shows_the_demo_directory(
    client: FlaskClient, runner: FlaskCliRunner, session: Session
) -> None:
    _seed_and_sign_in(client, runner, session, "lector")

    response = client.get("/directorio")

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Dirección General de Presupuesto Público" in page
    assert "Ana Lucía Quispe Mamani" in page  # DGPP titular
    assert "2301" in page
    assert page.index("DGPP") < page.index("DGETP") < page.index("OGSU")  # menu order
    assert "Comunicada fuera de plazo" in page  # DGCP alterno, demo late designation
    assert "días hábiles" in page
    assert "Julio Mamani Condori" in page and "ay, es" in page
    assert "Shipibo-Konibo" in page and "Olinda Ahuanari Sánchez" in page
    assert "Lima - Huacho" in page and "Callao, Lima" in page
    assert "(083) 321045" in page and "+5183321045" not in page  # the Peruvian way


def test_directorio_hides_how_agents_are_reached_and_masks_phones_for_a_reader(
    client: FlaskClient, runner: FlaskCliRunner, session: Session
) -> None:
    _seed_and_sign_in(client, runner, session, "lector")
    add_speaker(
        session,
        nombre_completo="Rut Condori",
        language_code="ay",
        telefono="987654321",
        actor="test",
    )
    session.commit()
    page = client.get("/directorio").get_data(as_text=True)
    assert "sip:jmamani@pbx.mef.gob.pe" not in page and "agente_csalazar" not in page
    assert "+51 9** *** 321" in page and "987 654 321" not in page

    client.post("/admin/logout")
    client.post("/admin/login", data={"username": "supervisor", "password": PASSWORD})
    page = client.get("/directorio").get_data(as_text=True)
    assert "sip:jmamani@pbx.mef.gob.pe" in page and "agente_csalazar" in page
    assert "987 654 321" in page


def test_directorio_on_an_empty_directory_says_so(client: FlaskClient, session: Session) -> None:
    user = User(username="lee", nombre="Lee", role="lector", activo=True)
    user.set_password(PASSWORD)
    session.add(user)
    session.commit()
    client.post("/admin/login", data={"username": "lee", "password": PASSWORD})
    response = client.get("/directorio")
    assert response.status_code == 200
    assert "No hay órganos registrados." in response.get_data(as_text=True)
