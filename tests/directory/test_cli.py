"""directory/cli.py: the commands, driven through Flask's CLI runner."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from admin.models import User
from directory.audit import entries
from directory.models import Agent, ConectamefCenter, Organo
from register.models import RegisterCall
from tests.directory.helpers import BASE_CSV, BASE_ROWS, csv_text, directory_state, serving


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_directory_import_then_reimport_says_nothing_changed(
    runner: FlaskCliRunner, session: Session, tmp_path: Path
) -> None:
    path = write(tmp_path, "anexo2.csv", BASE_CSV)

    first = runner.invoke(args=["directory", "import", path, "--actor", "ana"])
    assert first.exit_code == 0, first.output
    assert "Representantes: 5 agregado(s)" in first.output

    second = runner.invoke(args=["directory", "import", path])
    assert second.exit_code == 0, second.output
    assert "Sin cambios" in second.output
    assert {e.actor for e in entries(session)} == {"ana"}


def test_a_bad_file_prints_every_error_exits_non_zero_and_changes_nothing(
    runner: FlaskCliRunner, session: Session, tmp_path: Path
) -> None:
    runner.invoke(args=["directory", "import", write(tmp_path, "ok.csv", BASE_CSV)])
    before = directory_state(session)
    bad = write(
        tmp_path,
        "bad.csv",
        csv_text(
            BASE_ROWS[0].replace("aquispe@mef.gob.pe", "aquispe-at-mef"),
            BASE_ROWS[1].replace(",2302", ",23"),
        ),
    )

    result = runner.invoke(args=["directory", "import", bad])

    assert result.exit_code == 1
    assert "línea 2, columna correo (n.° 7)" in result.stderr
    assert "línea 3, columna anexo (n.° 8)" in result.stderr
    assert "no se cambió nada" in result.stderr
    assert directory_state(session) == before


def test_directory_export_writes_the_anexo2_csv(
    runner: FlaskCliRunner, session: Session, tmp_path: Path
) -> None:
    runner.invoke(args=["directory", "import", write(tmp_path, "in.csv", BASE_CSV)])
    out = tmp_path / "out.csv"
    result = runner.invoke(args=["directory", "export", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM, for Excel
    assert out.read_text(encoding="utf-8-sig") == BASE_CSV
    xlsx = tmp_path / "out.xlsx"
    assert runner.invoke(args=["directory", "export", str(xlsx)]).exit_code == 0
    again = runner.invoke(args=["directory", "import", str(xlsx)])
    assert again.exit_code == 0 and "Sin cambios" in again.output


def test_designate_and_late_commands(
    runner: FlaskCliRunner, session: Session, tmp_path: Path
) -> None:
    runner.invoke(args=["directory", "import", write(tmp_path, "in.csv", BASE_CSV)])
    result = runner.invoke(
        args=[
            "directory",
            "designate",
            "DGCP",
            "--rol",
            "alterno",
            "--memorando",
            "Memorando N° 0348-2026-EF/51.01",
            "--memorando-fecha",
            "2026-08-05",
            "--vigente-desde",
            "2026-07-24",
            "--comunicado-el",
            "2026-08-05",
        ]
    )
    assert result.exit_code == 0, result.output
    assert "fuera de plazo" in result.output
    assert serving(session)[("DGCP", "alterno")].memorando == "Memorando N° 0348-2026-EF/51.01"

    late = runner.invoke(args=["directory", "late"])
    assert late.exit_code == 0
    assert "DGCP alterno: Milagros Torres Neyra" in late.output
    assert "6 días hábiles (plazo: 2026-08-04)" in late.output

    missing = runner.invoke(
        args=[
            "directory",
            "designate",
            "OGSU",
            "--rol",
            "alterno",
            "--memorando",
            "M-1",
            "--memorando-fecha",
            "2026-01-05",
            "--vigente-desde",
            "2026-01-05",
            "--comunicado-el",
            "2026-01-06",
        ]
    )
    assert missing.exit_code == 1
    assert "OGSU no tiene alterno" in missing.stderr


def test_centers_import_and_export_round_trip(
    runner: FlaskCliRunner, session: Session, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        "anexo3.csv",
        "centro,departamento,telefono\nCajamarca,Cajamarca,076 123456\nHuaraz,Ancash,(043) 421-695\n",
    )
    assert runner.invoke(args=["centers", "import", path]).exit_code == 0
    out = tmp_path / "out.csv"
    assert runner.invoke(args=["centers", "export", str(out)]).exit_code == 0
    assert out.read_text(encoding="utf-8-sig").splitlines()[1:] == [
        "Cajamarca,Cajamarca,+5176123456",
        "Huaraz,Áncash,+5143421695",
    ]
    again = runner.invoke(args=["centers", "import", str(out)])
    assert "Sin cambios" in again.output

    bad = runner.invoke(
        args=[
            "centers",
            "import",
            write(tmp_path, "bad.csv", "centro,departamento,telefono\nX,Narnia,1\n"),
        ]
    )
    assert bad.exit_code == 1
    assert "línea 2, columna departamento (n.° 2)" in bad.stderr
    assert "línea 2, columna telefono (n.° 3)" in bad.stderr
    assert session.scalar(select(func.count()).select_from(ConectamefCenter)) == 2


def test_seed_demo_if_empty_twice_loads_once(runner: FlaskCliRunner, session: Session) -> None:
    first = runner.invoke(args=["seed", "demo", "--if-empty"])
    assert first.exit_code == 0, first.output
    state = directory_state(session)
    assert (session.scalar(select(func.count()).select_from(Organo)) or 0) >= 10
    assert session.scalar(select(func.count()).select_from(ConectamefCenter)) == 27
    calls = session.scalar(select(func.count()).select_from(RegisterCall)) or 0
    assert calls > 1000  # two months of demo calls for the reports
    assert f"{calls} llamadas" in first.output

    second = runner.invoke(args=["seed", "demo", "--if-empty"])
    assert second.exit_code == 0
    assert "no se cargaron" in second.output
    assert directory_state(session) == state
    assert session.scalar(select(func.count()).select_from(RegisterCall)) == calls


def test_seed_demo_without_flag_is_idempotent(runner: FlaskCliRunner, session: Session) -> None:
    assert runner.invoke(args=["seed", "demo", "--without-calls"]).exit_code == 0
    state = directory_state(session)
    again = runner.invoke(args=["seed", "demo", "--without-calls"])
    assert again.exit_code == 0
    assert "Sin cambios: el directorio ya coincide con el archivo." in again.output
    assert directory_state(session) == state
    assert session.scalar(select(func.count()).select_from(Agent)) == 4
    assert sorted(session.scalars(select(User.username))) == [
        "admin",
        "agente",
        "lector",
        "red",
        "supervisor",
    ]


def test_demo_users_have_their_roles_and_the_documented_password(
    runner: FlaskCliRunner, session: Session
) -> None:
    runner.invoke(args=["seed", "demo", "--without-calls"])
    users = {u.username: u for u in session.scalars(select(User))}
    assert {name: u.role for name, u in users.items()} == {
        "admin": "admin",
        "supervisor": "supervisor",
        "agente": "agente",
        "lector": "lector",
        "red": "red",
    }
    assert all(u.check_password("cambiar-esta-clave") for u in users.values())
    assert users["agente"].agent_id is not None


def test_agents_commands(runner: FlaskCliRunner, session: Session) -> None:
    added = runner.invoke(
        args=[
            "agents",
            "add",
            "Rosa Huamán",
            "--canal",
            "anexo",
            "--destino",
            "2101",
            "--idioma",
            "es",
            "--idioma",
            "qu",
            "--actor",
            "admin",
        ]
    )
    assert added.exit_code == 0, added.output
    agent_id = session.scalars(select(Agent.id)).one()
    listed = runner.invoke(args=["agents", "list"])
    assert "Rosa Huamán\tanexo 2101\tidiomas: es, qu" in listed.output

    changed = runner.invoke(args=["agents", "languages", str(agent_id), "es", "ay"])
    assert changed.exit_code == 0
    assert "Rosa Huamán: ay, es." in changed.output

    bad = runner.invoke(args=["agents", "add", "X", "--canal", "anexo", "--destino", "12"])
    assert bad.exit_code == 1
    assert "de 3 a 6 dígitos" in bad.stderr

    assert runner.invoke(args=["agents", "deactivate", str(agent_id)]).exit_code == 0
    assert "No hay agentes" in runner.invoke(args=["agents", "list"]).output
    assert [e.action for e in entries(session, "agent")] == ["create", "update", "deactivate"]


def test_language_speakers_commands(runner: FlaskCliRunner, session: Session) -> None:
    added = runner.invoke(
        args=[
            "languages",
            "speakers",
            "add",
            "--idioma",
            "shp",
            "--nombre",
            "Olinda Ahuanari",
            "--unidad",
            "OGSU",
            "--anexo",
            "4121",
        ]
    )
    assert added.exit_code == 0, added.output
    listed = runner.invoke(args=["languages", "speakers", "list", "--idioma", "shp"])
    assert "Olinda Ahuanari\tOGSU\tanexo 4121" in listed.output
    speaker_id = listed.output.split("\t", 1)[0]

    edited = runner.invoke(
        args=["languages", "speakers", "edit", speaker_id, "--anexo", "4122", "--unidad", ""]
    )
    assert edited.exit_code == 0, edited.output
    listed = runner.invoke(args=["languages", "speakers", "list", "--idioma", "shp"])
    assert "Olinda Ahuanari\t-\tanexo 4122" in listed.output
    bad = runner.invoke(args=["languages", "speakers", "edit", speaker_id, "--anexo", "41"])
    assert bad.exit_code == 1

    removed = runner.invoke(args=["languages", "speakers", "remove", speaker_id])
    assert removed.exit_code == 0
    assert "No hay servidores" in runner.invoke(args=["languages", "speakers", "list"]).output
    assert [e.action for e in entries(session, "language_speaker")] == [
        "create",
        "update",
        "remove",
    ]
    (update,) = [e for e in entries(session, "language_speaker") if e.action == "update"]
    assert update.before is not None and update.after is not None
    assert (update.before["anexo"], update.after["anexo"]) == ("4121", "4122")
    assert (update.before["unidad"], update.after["unidad"]) == ("OGSU", None)

    assert runner.invoke(args=["languages", "add", "quz", "Quechua del Cusco"]).exit_code == 0
    assert "quz\tQuechua del Cusco" in runner.invoke(args=["languages", "list"]).output


def test_the_default_actor_is_the_os_user(runner: FlaskCliRunner, session: Session) -> None:
    runner.invoke(args=["languages", "add", "quz", "Quechua del Cusco"])
    (entry,) = entries(session, "language")
    assert entry.actor.startswith("cli:")


def test_seed_demo_is_refused_in_production(
    runner: FlaskCliRunner, session: Session, app: Flask
) -> None:
    app.config["ENV_NAME"] = "production"
    result = runner.invoke(args=["seed", "demo"])
    assert result.exit_code == 1
    assert "producción" in result.stderr
    assert session.scalar(select(func.count()).select_from(User)) == 0
