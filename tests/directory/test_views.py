"""GET /directorio: the read-only directory page."""

from __future__ import annotations

from flask.testing import FlaskClient, FlaskCliRunner


def test_directorio_shows_the_demo_directory(client: FlaskClient, runner: FlaskCliRunner) -> None:
    assert runner.invoke(args=["seed", "demo", "--without-calls"]).exit_code == 0

    response = client.get("/directorio")

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Dirección General de Presupuesto Público" in page
    assert "Ana Lucía Quispe Mamani" in page  # DGPP titular
    assert "2301" in page
    assert page.index("DGPP") < page.index("DGETP") < page.index("OGSU")  # menu order
    assert "Comunicada fuera de plazo" in page  # DGCP alterno, demo late designation
    assert "Julio Mamani Condori" in page and "ay, es" in page
    assert "Shipibo-Konibo" in page and "Olinda Ahuanari Sánchez" in page
    assert "Lima - Huacho" in page and "Callao, Lima" in page
    assert "+5183321045" in page


def test_directorio_on_an_empty_directory_says_so(client: FlaskClient) -> None:
    response = client.get("/directorio")
    assert response.status_code == 200
    assert "No hay órganos registrados." in response.get_data(as_text=True)
