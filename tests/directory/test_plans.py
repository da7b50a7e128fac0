"""directory/plans.py and the import commands: preview then apply, `;` and XLSX files,
--dry-run, --yes for an import that would deactivate more than half."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask.testing import FlaskCliRunner
from sqlalchemy.orm import Session

from directory import plans
from directory.centers import parse_centers
from directory.csvio import FileRejected, write_xlsx
from directory.importer import HEADER, import_directory
from tests.directory.helpers import BASE_CSV, BASE_ROWS, csv_text, directory_state

CHANGED_CSV = csv_text(
    *BASE_ROWS[:4],
    BASE_ROWS[4].replace("4101", "4109"),
    "DGA,Dirección General de Abastecimiento,4,titular,Luis Rojas Puma,Director,lrojas@mef.gob.pe,2601",
)


def _load(session: Session, text: str) -> None:
    import_directory(session, text, actor="test")
    session.commit()


def test_preview_changes_nothing_and_apply_makes_exactly_the_previewed_changes(
    session: Session,
) -> None:
    _load(session, BASE_CSV)
    before = directory_state(session)
    plan = plans.preview(session, "anexo2", CHANGED_CSV, actor="ana")
    assert directory_state(session) == before
    assert plan.added == [
        "Órgano DGA Dirección General de Abastecimiento (orden 4)",
        "DGA titular: Luis Rojas Puma",
    ]
    assert plan.changed == ["OGSU titular: Teresa Ramos Inga (anexo «4101» → «4109»)"]
    applied = plans.apply(session, "anexo2", CHANGED_CSV, expected=plan.fingerprint, actor="ana")
    session.commit()
    assert applied.summary == plan.summary
    assert plans.preview(session, "anexo2", CHANGED_CSV, actor="ana").unchanged


def test_apply_refuses_when_the_directory_changed_after_the_preview(session: Session) -> None:
    _load(session, BASE_CSV)
    plan = plans.preview(session, "anexo2", CHANGED_CSV, actor="ana")
    _load(session, BASE_CSV.replace("2302", "2309"))  # someone else, meanwhile
    with pytest.raises(plans.DirectoryChanged, match="cambió desde la vista previa"):
        plans.apply(session, "anexo2", CHANGED_CSV, expected=plan.fingerprint, actor="ana")


def test_semicolon_csv_and_xlsx_read_like_the_comma_csv(session: Session) -> None:
    rows = [line.split(",") for line in BASE_ROWS]
    semicolon = csv_text().replace(",", ";") + "\n".join(";".join(r) for r in rows) + "\n"
    xlsx = write_xlsx(HEADER, rows, "Anexo 2")
    comma_plan = plans.preview(session, "anexo2", BASE_CSV, actor="t")
    assert plans.preview(session, "anexo2", semicolon.encode("utf-8-sig"), actor="t").summary == (
        comma_plan.summary
    )
    assert plans.preview(session, "anexo2", xlsx, actor="t").summary == comma_plan.summary


def test_xlsx_errors_name_the_row_and_column(session: Session) -> None:
    rows = [line.split(",") for line in BASE_ROWS]
    rows[1][7] = "23"
    with pytest.raises(FileRejected) as caught:
        plans.preview(session, "anexo2", write_xlsx(HEADER, rows, "x"), actor="t")
    assert [str(e) for e in caught.value.errors] == [
        "línea 3, columna anexo (n.° 8): el anexo «23» debe tener de 3 a 6 dígitos."
    ]


def test_a_repeated_center_department_reads_as_a_sentence() -> None:
    with pytest.raises(FileRejected) as caught:
        parse_centers("centro,departamento,telefono\nIca,Ica,056 123456\nIca,Ica,056 123456\n")
    assert str(caught.value.errors[0]) == (
        "línea 3, columna departamento (n.° 2): el centro «Ica» ya figura con el departamento "
        "Ica en la línea 2; quite la fila repetida."
    )


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_cli_dry_run_shows_the_changes_and_changes_nothing(
    runner: FlaskCliRunner, session: Session, tmp_path: Path
) -> None:
    _load(session, BASE_CSV)
    before = directory_state(session)
    out = runner.invoke(
        args=["directory", "import", write(tmp_path, "a.csv", CHANGED_CSV), "--dry-run"]
    )
    assert out.exit_code == 0, out.output
    assert "Vista previa (--dry-run): no se cambió nada." in out.output
    assert "Agregado: DGA titular: Luis Rojas Puma" in out.output
    assert directory_state(session) == before
    out = runner.invoke(args=["directory", "import", write(tmp_path, "a.csv", CHANGED_CSV)])
    assert out.exit_code == 0 and "Agregado: DGA titular: Luis Rojas Puma" in out.output
    assert directory_state(session) != before


def test_cli_accepts_semicolons(runner: FlaskCliRunner, session: Session, tmp_path: Path) -> None:
    text = "centro;departamento;telefono\nAbancay;Apurímac;(083) 321-045\n"
    out = runner.invoke(args=["centers", "import", write(tmp_path, "c.csv", text)])
    assert out.exit_code == 0, out.output
    assert "Centros: 1 agregado(s)" in out.output


def test_cli_asks_for_yes_before_deactivating_more_than_half(
    runner: FlaskCliRunner, session: Session, tmp_path: Path
) -> None:
    _load(session, BASE_CSV)
    before = directory_state(session)
    only_one = write(tmp_path, "one.csv", csv_text(BASE_ROWS[4]))
    out = runner.invoke(args=["directory", "import", only_one])
    assert out.exit_code == 1
    assert "desactivaría 2 de los 3 órganos activos" in out.output
    assert "--yes" in out.output
    assert directory_state(session) == before
    out = runner.invoke(args=["directory", "import", only_one, "--yes"])
    assert out.exit_code == 0, out.output
    assert "Órganos: 0 agregado(s), 0 modificado(s), 2 desactivado(s)." in out.output
