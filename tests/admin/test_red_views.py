"""/red: the Red member's designation, their calls (today, this month), the summary played
through the app, the note saved into the register row (and the export), the Anexo 1."""

from __future__ import annotations

import io
from datetime import datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from directory.models import AuditEntry
from register.anexo1 import COLUMNS
from register.ingest import ingest_events
from register.models import RegisterCall
from tests.admin.conftest import login
from tests.admin.red_fixtures import (
    ALTERNO_ONLY,
    EARLIER_TAKEN,
    LAST_MONTH,
    OTHER_ORGANO,
    TODAY_MISSED,
    TODAY_TAKEN,
    RedMember,
    fixed_now,  # noqa: F401  (fixture)
    seed_red_member,
)
from tests.register.journeys import event

pytestmark = pytest.mark.usefixtures("fixed_now")


@pytest.fixture
def member(session: Session) -> RedMember:
    return seed_red_member(session)


def _row(session: Session, call_sid: str) -> RegisterCall:
    session.expire_all()
    return session.scalars(select(RegisterCall).where(RegisterCall.call_sid == call_sid)).one()


def test_the_red_user_starts_on_their_page_with_their_designation(
    client: FlaskClient, member: RedMember
) -> None:
    login(client, "red")
    assert client.get("/").headers["Location"].endswith("/red")
    page = client.get("/red").get_data(as_text=True)
    assert "Dirección General de Presupuesto Público (DGPP)" in page
    assert member.rep.anexo in page and "titular" in page
    assert member.rep.memorando and member.rep.memorando in page
    assert 'href="/red"' in page  # in the navigation bar


def test_the_late_flag_shows_for_a_late_designation(
    client: FlaskClient, session: Session, member: RedMember
) -> None:
    from directory.models import Organo  # DGCP's alterno is the demo's late designation

    dgcp = session.scalars(select(Organo).where(Organo.sigla == "DGCP")).one()
    late = dgcp.current("alterno")
    assert late is not None
    member.user.representative_id = late.id
    session.commit()
    login(client, "red")
    page = client.get("/red").get_data(as_text=True)
    assert 'id="tardia"' in page and "fuera de plazo" in page
    member.user.representative_id = member.rep.id
    session.commit()
    assert 'id="tardia"' not in client.get("/red").get_data(as_text=True)


def test_their_calls_today_and_this_month_masked(client: FlaskClient, member: RedMember) -> None:
    login(client, "red")
    page = client.get("/red").get_data(as_text=True)
    today, earlier = page.split('id="tabla-hoy"')[1].split('id="tabla-mes"')
    assert f'data-call="{TODAY_MISSED}" data-outcome="no-answer"' in today
    assert f'data-call="{TODAY_TAKEN}" data-outcome="accepted"' in today
    assert f'data-call="{EARLIER_TAKEN}"' in earlier and EARLIER_TAKEN not in today
    for absent in (ALTERNO_ONLY, OTHER_ORGANO, LAST_MONTH):
        assert absent not in page
    assert "+51 9** *** 321" in today and "+51987654321" not in page  # masked (Ley 29733)
    assert 'id="hoy-total">2<' in page and 'id="mes-total">3<' in page
    assert f"/red/llamadas/{TODAY_MISSED}/resumen" in today
    # A note only on the calls they took.
    assert f"/red/llamadas/{TODAY_TAKEN}/nota" in today
    assert f"/red/llamadas/{TODAY_MISSED}/nota" not in today


def test_a_note_goes_into_the_register_row_and_its_export(
    client: FlaskClient, session: Session, member: RedMember, runner: object, tmp_path: object
) -> None:
    login(client, "red")
    row = _row(session, TODAY_TAKEN)
    response = client.post(
        f"/red/llamadas/{TODAY_TAKEN}/nota",
        data={f"n{row.id}-nota": "  Se explicó la\nmodificación presupuestaria. "},
    )
    assert response.status_code == 302
    row = _row(session, TODAY_TAKEN)
    assert row.nota_red == "Se explicó la modificación presupuestaria."
    assert row.nota_red_por == member.rep.nombre_completo
    entry = session.scalars(select(AuditEntry).where(AuditEntry.entity == "register_call")).one()
    assert entry.actor == "red" and entry.after == {
        "nota_red": row.nota_red,
        "nota_red_por": member.rep.nombre_completo,
    }

    # A late event re-derives the row: the note stays.
    ingest_events(
        session,
        [event(TODAY_TAKEN, "survey", "5", at=datetime.fromisoformat("2026-12-02T14:40:00+00:00"))],
    )
    row = _row(session, TODAY_TAKEN)
    assert row.encuesta == 5 and row.nota_red == "Se explicó la modificación presupuestaria."

    # In the export: in detalle, marked as the Red member's.
    csv_text = client.get("/red/anexo1.csv?mes=2026-12").get_data(as_text=True)
    header, *lines = csv_text.lstrip("\ufeff").splitlines()
    assert header == ",".join(COLUMNS)
    [line] = [line for line in lines if TODAY_TAKEN in line]
    assert "consulta_tecnica | nota de la Red: Se explicó la modificación presupuestaria." in line
    assert all(OTHER_ORGANO not in line for line in lines)  # their órgano only
    assert "+51 9** *** 333" in line


def test_no_note_on_a_call_they_did_not_take_nor_on_another_members(
    client: FlaskClient, session: Session, member: RedMember
) -> None:
    login(client, "red")
    missed = _row(session, TODAY_MISSED)
    client.post(f"/red/llamadas/{TODAY_MISSED}/nota", data={f"n{missed.id}-nota": "x"})
    assert _row(session, TODAY_MISSED).nota_red is None
    other = _row(session, ALTERNO_ONLY)
    response = client.post(f"/red/llamadas/{ALTERNO_ONLY}/nota", data={f"n{other.id}-nota": "x"})
    assert response.status_code == 404 and _row(session, ALTERNO_ONLY).nota_red is None
    assert client.get(f"/red/llamadas/{OTHER_ORGANO}/resumen").status_code == 404


def test_the_anexo1_download_is_their_organos_month(client: FlaskClient, member: RedMember) -> None:
    login(client, "red")
    response = client.get("/red/anexo1.xlsx?mes=2026-11")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.data)).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == COLUMNS
    assert [r[COLUMNS.index("call_sid")] for r in rows[1:]] == [LAST_MONTH]
    assert client.get("/red/anexo1.xlsx?mes=2026-13").status_code == 400


def test_other_roles_get_403_and_an_unlinked_red_user_is_told_why(
    app: Flask, client: FlaskClient, session: Session, member: RedMember
) -> None:
    from admin.models import User
    from tests.admin.conftest import PASSWORD

    lector = User(username="lector", nombre="L", role="lector")
    lector.set_password(PASSWORD)
    session.add(lector)
    member.user.representative_id = None
    session.commit()
    login(client, "lector")
    assert client.get("/red").status_code == 403
    client.post("/admin/logout")
    login(client, "red")
    response = client.get("/red")
    assert response.status_code == 403
    assert "no está vinculado" in response.get_data(as_text=True)
