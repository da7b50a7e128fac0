"""/admin/directorio: the directory edited in the browser with the CLI's rules, errors beside
their field, and the Anexo 2 / Anexo 3 upload: preview, confirm, stale preview, downloads."""

from __future__ import annotations

import io
import re

from flask.testing import FlaskClient
from openpyxl import load_workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from admin.models import User
from directory.audit import entries
from directory.csvio import write_xlsx
from directory.importer import HEADER, import_directory
from directory.models import Agent, ConectamefCenter, Organo
from directory.registry import add_agent
from tests.admin.conftest import login
from tests.directory.helpers import BASE_CSV, BASE_ROWS, csv_text, directory_state, serving


def _base(session: Session) -> None:
    import_directory(session, BASE_CSV, actor="test")
    session.commit()


def test_only_admins_open_the_directory_editor(client: FlaskClient, users: dict[str, User]) -> None:
    login(client, "agente")
    assert client.get("/admin/directorio").status_code == 403
    client.post("/admin/logout")
    login(client, "admin")
    assert client.get("/admin/directorio").status_code == 200


def test_an_organ_order_taken_is_shown_beside_the_field(
    client: FlaskClient, users: dict[str, User], session: Session
) -> None:
    _base(session)
    login(client, "admin")
    response = client.post(
        "/admin/directorio/organos/OGSU",
        data={
            "o-OGSU-sigla": "OGSU",
            "o-OGSU-nombre": "Oficina",
            "o-OGSU-orden": "1",
            "o-OGSU-activo": "y",
        },
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert re.search(r'data-error-for="o-OGSU-orden">El orden 1 ya es de DGPP; dos órganos', page)
    ok = client.post(
        "/admin/directorio/organos/OGSU",
        data={
            "o-OGSU-sigla": "OGSU",
            "o-OGSU-nombre": "Oficina General de Servicios al Usuario",
            "o-OGSU-orden": "7",
            "o-OGSU-activo": "y",
        },
    )
    assert ok.status_code == 302
    assert session.scalar(select(Organo.orden).where(Organo.sigla == "OGSU")) == 7
    [entry] = [e for e in entries(session, "organo") if e.actor == "admin:admin"]
    assert (entry.before or {})["orden"] == 3 and (entry.after or {})["orden"] == 7


def test_appointing_retires_the_previous_holder_and_flags_a_late_designation(
    client: FlaskClient, users: dict[str, User], session: Session
) -> None:
    _base(session)
    login(client, "admin")
    data = {
        "d-sigla": "DGCP",
        "d-rol": "alterno",
        "d-nombre_completo": "Rocío Vela Ruiz",
        "d-cargo": "Especialista",
        "d-correo": "rvela@mef.gob.pe",
        "d-anexo": "25",
        "d-memorando": "Memorando N° 0348-2026-EF/51.01",
        "d-memorando_fecha": "2026-08-05",
        "d-vigente_desde": "2026-07-24",
        "d-comunicado_el": "2026-08-05",
    }
    bad = client.post("/admin/directorio/designar", data=data)
    assert bad.status_code == 400
    assert 'data-error-for="d-anexo">El anexo «25» debe tener de 3 a 6 dígitos.' in bad.get_data(
        as_text=True
    )
    ok = client.post("/admin/directorio/designar", data=data | {"d-anexo": "2525"})
    assert ok.status_code == 302
    rep = serving(session)[("DGCP", "alterno")]
    assert rep.nombre_completo == "Rocío Vela Ruiz" and (rep.memorando or "").startswith(
        "Memorando"
    )
    page = client.get("/admin/directorio").get_data(as_text=True)
    assert "Fuera de plazo: 6 días hábiles (plazo: 04/08/2026)" in page
    actions = [e.action for e in entries(session, "representative") if e.actor == "admin:admin"]
    assert actions == ["retire", "create", "designate"]


def test_a_titular_with_an_alterno_cannot_be_retired(
    client: FlaskClient, users: dict[str, User], session: Session
) -> None:
    _base(session)
    login(client, "admin")
    titular = serving(session)[("DGPP", "titular")]
    response = client.post(f"/admin/directorio/representantes/{titular.id}/retirar")
    assert response.status_code == 302
    assert "DGPP tiene alterno" in client.get("/admin/directorio").get_data(as_text=True)
    alterno = serving(session)[("DGPP", "alterno")]
    client.post(f"/admin/directorio/representantes/{alterno.id}/retirar")
    assert ("DGPP", "alterno") not in serving(session)


def test_agents_and_centers_follow_the_same_rules(
    client: FlaskClient, users: dict[str, User], session: Session
) -> None:
    agent = add_agent(
        session, nombre="Rosa", canal="anexo", destino="2101", languages=["es"], actor="t"
    )
    session.commit()
    login(client, "admin")
    bad = client.post(
        f"/admin/directorio/agentes/{agent.id}",
        data={
            f"a-{agent.id}-nombre": "Rosa",
            f"a-{agent.id}-canal": "sip",
            f"a-{agent.id}-destino": "rosa",
            f"a-{agent.id}-idiomas": ["es", "qu"],
            f"a-{agent.id}-activo": "y",
        },
    )
    assert bad.status_code == 400
    assert "no es una URI SIP" in bad.get_data(as_text=True)
    ok = client.post(
        f"/admin/directorio/agentes/{agent.id}",
        data={
            f"a-{agent.id}-nombre": "Rosa",
            f"a-{agent.id}-canal": "sip",
            f"a-{agent.id}-destino": "sip:rosa@pbx.mef.gob.pe",
            f"a-{agent.id}-idiomas": ["es", "qu"],
        },
    )
    assert ok.status_code == 302
    session.expire_all()
    saved = session.get(Agent, agent.id)
    assert saved is not None and saved.language_codes == ["es", "qu"] and not saved.activo

    bad = client.post(
        "/admin/directorio/centros",
        data={"c-new-centro": "Ica", "c-new-telefono": "123", "c-new-departamentos": "Ica"},
    )
    assert bad.status_code == 400 and "no es un número de teléfono" in bad.get_data(as_text=True)
    ok = client.post(
        "/admin/directorio/centros",
        data={
            "c-new-centro": "Ica",
            "c-new-telefono": "056 123456",
            "c-new-departamentos": "ica, HUANCAVELICA",
        },
    )
    assert ok.status_code == 302
    center = session.scalar(select(ConectamefCenter).where(ConectamefCenter.centro == "Ica"))
    assert center is not None and center.telefono == "+5156123456"
    assert [d.departamento for d in center.departments] == ["Huancavelica", "Ica"]


def _upload(client: FlaskClient, kind: str, data: bytes, name: str):
    return client.post(
        f"/admin/directorio/importar/{kind}",
        data={"archivo": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )


def _token(page: str) -> str:
    match = re.search(r'name="token" type="hidden" value="([^"]+)"', page)
    assert match
    return match.group(1)


def test_upload_previews_then_confirm_applies_and_audits(
    client: FlaskClient, users: dict[str, User], session: Session
) -> None:
    _base(session)
    login(client, "admin")
    before = directory_state(session)
    changed = csv_text(*BASE_ROWS[:4], BASE_ROWS[4].replace("4101", "4109"))
    preview = _upload(client, "anexo2", changed.replace(",", ";").encode("utf-8-sig"), "a.csv")
    assert preview.status_code == 200
    page = preview.get_data(as_text=True)
    assert "OGSU titular: Teresa Ramos Inga (anexo «4101» → «4109»)" in page
    assert directory_state(session) == before  # nothing changed yet
    confirm = client.post(
        "/admin/directorio/importar/anexo2/confirmar", data={"token": _token(page)}
    )
    assert confirm.status_code == 302
    assert serving(session)[("OGSU", "titular")].anexo == "4109"
    [entry] = [e for e in entries(session, "representative") if e.actor == "admin:admin"]
    assert (entry.before or {})["anexo"] == "4101" and (entry.after or {})["anexo"] == "4109"
    # The token is spent.
    again = client.post("/admin/directorio/importar/anexo2/confirmar", data={"token": _token(page)})
    assert again.status_code == 302
    assert "venció" in client.get("/admin/directorio").get_data(as_text=True)


def test_a_stale_preview_says_so_and_previews_again(
    client: FlaskClient, users: dict[str, User], session: Session
) -> None:
    _base(session)
    login(client, "admin")
    changed = csv_text(*BASE_ROWS[:4], BASE_ROWS[4].replace("4101", "4109"))
    page = _upload(client, "anexo2", changed.encode(), "a.csv").get_data(as_text=True)
    import_directory(session, BASE_CSV.replace("2302", "2309"), actor="otra")  # meanwhile
    session.commit()
    response = client.post(
        "/admin/directorio/importar/anexo2/confirmar", data={"token": _token(page)}
    )
    assert response.status_code == 200
    again = response.get_data(as_text=True)
    assert "El directorio cambió desde la vista previa" in again
    assert "jsalas" not in again and "2309" in again  # the new preview, from the new state
    assert serving(session)[("OGSU", "titular")].anexo == "4101"
    client.post("/admin/directorio/importar/anexo2/confirmar", data={"token": _token(again)})
    assert serving(session)[("OGSU", "titular")].anexo == "4109"


def test_a_bad_upload_lists_every_error_with_line_and_column(
    client: FlaskClient, users: dict[str, User], session: Session
) -> None:
    login(client, "admin")
    rows = [line.split(",") for line in BASE_ROWS]
    rows[0][6] = "no-es-correo"
    rows[2][2] = "0"
    response = _upload(client, "anexo2", write_xlsx(HEADER, rows, "x"), "anexo2.xlsx")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "línea 2, columna correo (n.° 7)" in page
    assert "línea 4, columna orden (n.° 3)" in page
    assert "Confirmar" not in page
    wrong_type = _upload(client, "anexo2", b"%PDF-1.4", "anexo2.pdf")
    assert wrong_type.status_code == 302


def test_downloads_are_csv_with_bom_and_xlsx(
    client: FlaskClient, users: dict[str, User], session: Session
) -> None:
    _base(session)
    login(client, "admin")
    csv_response = client.get("/admin/directorio/anexo2.csv")
    assert csv_response.data.startswith(b"\xef\xbb\xbf" + ",".join(HEADER).encode())
    xlsx = client.get("/admin/directorio/anexo2.xlsx")
    sheet = load_workbook(io.BytesIO(xlsx.data)).active
    assert sheet is not None and sheet["H2"].value == "2301"
    # Uploading the download back changes nothing.
    page = _upload(client, "anexo2", xlsx.data, "anexo2.xlsx").get_data(as_text=True)
    assert "Sin cambios" in page
    assert client.get("/admin/directorio/anexo3.csv").status_code == 200


def test_the_editor_refuses_an_agent_that_exists_as_the_cli_does(
    client: FlaskClient, users: dict[str, User], session: Session
) -> None:
    """The twin rule lives in directory.registry, under both the CLI and the web editor."""
    add_agent(
        session, nombre="Rosa Huamán", canal="anexo", destino="2101", languages=["es"], actor="t"
    )
    session.commit()
    login(client, "admin")
    twin = client.post(
        "/admin/directorio/agentes",
        data={
            "a-new-nombre": "rosa huaman",
            "a-new-canal": "anexo",
            "a-new-destino": "2101",
            "a-new-idiomas": ["es"],
        },
    )
    assert twin.status_code == 400
    assert "Ya existe el agente" in twin.get_data(as_text=True)
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Agent)) == 1
