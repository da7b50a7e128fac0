"""register/cli.py: exports and reports refuse what they cannot write, before writing."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest
from flask.testing import FlaskCliRunner
from openpyxl import load_workbook
from sqlalchemy.orm import Session

from register.ingest import ingest_events
from tests.register.journeys import plataforma_answered, technical_alterno


@pytest.fixture
def october(session: Session) -> None:
    ingest_events(session, plataforma_answered("CA" + "a" * 32))
    ingest_events(session, technical_alterno("CA" + "b" * 32))  # DGPP


def export(runner: FlaskCliRunner, output: Path, *extra: str) -> tuple[int, str]:
    result = runner.invoke(
        args=["register", "export", "--month", "2026-10", "--output", str(output), *extra]
    )
    assert isinstance(result.exception, SystemExit | None), result.exception  # no traceback
    return result.exit_code, result.output


def test_an_unknown_sigla_is_an_error_not_an_empty_export(
    october: None, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    out = tmp_path / "octubre.csv"
    code, output = export(runner, out, "--organo", "XYZ")
    assert code == 1
    assert output == "Error: No existe el órgano «XYZ»; siglas registradas: DGPP.\n"
    assert not out.exists()


def test_a_known_sigla_in_any_case_exports_its_calls(
    october: None, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    code, output = export(runner, tmp_path / "dgpp.csv", "--organo", "dgpp")
    assert (code, output) == (0, f"1 llamada exportada a {tmp_path / 'dgpp.csv'}.\n")


def test_an_output_in_a_missing_folder_is_an_error(
    october: None, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    code, output = export(runner, tmp_path / "no-existe" / "octubre.csv")
    assert code == 1
    assert output == (
        f"Error: La carpeta «{tmp_path / 'no-existe'}» no existe: créela o elija otra.\n"
    )


def test_the_csv_export_starts_with_a_bom_so_excel_reads_accents(
    october: None, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    out = tmp_path / "octubre.csv"
    assert export(runner, out)[0] == 0
    data = out.read_bytes()
    assert data.startswith(codecs.BOM_UTF8 + b"fecha,hora_inicio,")
    assert data.count(codecs.BOM_UTF8) == 1


def test_the_csv_download_carries_the_same_bom(october: None, session: Session) -> None:
    import io

    from register.export import export_rows, write_csv

    text = io.StringIO()
    write_csv(export_rows(session, "2026-10"), text)
    assert text.getvalue().startswith("\ufefffecha,")


@pytest.mark.parametrize("command", [["monthly", "--month", "2026-10"],
                                     ["quarterly", "--quarter", "2026-Q4"]])  # fmt: skip
def test_a_report_is_never_an_xlsx_under_a_csv_name(
    october: None, runner: FlaskCliRunner, tmp_path: Path, command: list[str]
) -> None:
    out = tmp_path / "r.csv"
    result = runner.invoke(args=["report", *command, "--output", str(out)])
    assert result.exit_code == 1
    assert result.output == "Error: «r.csv»: el archivo de salida debe terminar en .xlsx.\n"
    assert not out.exists()

    xlsx = tmp_path / "r.xlsx"
    result = runner.invoke(args=["report", *command, "--output", str(xlsx)])
    assert result.exit_code == 0, result.output
    assert load_workbook(xlsx).sheetnames[0] == "Resumen"


def test_a_report_into_a_missing_folder_is_an_error(
    october: None, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    out = tmp_path / "no-existe" / "r.xlsx"
    result = runner.invoke(args=["report", "monthly", "--month", "2026-10", "--output", str(out)])
    assert result.exit_code == 1
    assert "no existe: créela o elija otra." in result.output


def test_a_bad_period_names_its_option(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["report", "quarterly", "--quarter", "2026-Q5"])
    assert result.exit_code == 2
    assert "Error: Valor no válido para '--quarter': " in result.output
