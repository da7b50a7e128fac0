"""cli_support.py: every project command speaks Spanish, click's own messages included."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from flask import Flask
from flask.testing import FlaskCliRunner

FLASKS_OWN = {"run", "shell", "routes"}
# What click prints in English when nobody translates it, and words of English help texts.
ENGLISH = re.compile(
    r"Usage:|Options:|Commands:|Show this message|\[OPTIONS\]|COMMAND \[ARGS\]|"
    r"\b(TEXT|INTEGER|FLOAT|PATH|FILE|default|required|the|and|with|of|only)\b"
)


def project_commands(app: Flask) -> Iterator[list[str]]:
    """The path of every project group and command (``["languages", "speakers", "add"]``)."""

    def walk(path: list[str], command: click.Command) -> Iterator[list[str]]:
        yield path
        if isinstance(command, click.Group):
            for name, sub in sorted(command.commands.items()):
                yield from walk([*path, name], sub)

    for name, command in sorted(app.cli.commands.items()):
        if name not in FLASKS_OWN:
            yield from walk([name], command)


def test_every_project_command_has_its_help_in_spanish(app: Flask, runner: FlaskCliRunner) -> None:
    paths = list(project_commands(app))
    assert ["languages", "speakers", "add"] in paths and ["simulate"] in paths
    for path in paths:
        result = runner.invoke(args=[*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert result.output.startswith("Uso: "), path
        assert "Muestra esta ayuda y termina." in result.output, path
        # Option names (--from, --with-calls) and the examples' own words are not prose.
        prose = re.sub(r"--?[\w-]+|`[^`]*`|\"[^\"]*\"", "", result.output)
        assert not ENGLISH.search(prose), (path, ENGLISH.search(prose), result.output)


def test_a_missing_option_is_said_in_spanish(runner: FlaskCliRunner, tmp_path: Path) -> None:
    result = runner.invoke(args=["register", "export", "--output", str(tmp_path / "x.csv")])
    assert result.exit_code == 2
    assert result.output.splitlines() == [
        "Uso: app register export [OPCIONES]",
        "Pruebe «app register export --help» para ver la ayuda.",
        "",
        "Error: Falta la opción '--month'.",
    ]


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (
            ["routing", "agent-state", "x", "available"],
            "Error: Valor no válido para 'AGENTE': «x» no es un número válido.",
        ),
        (
            ["routing", "agent-state", "1", "busy"],
            "Error: Valor no válido para 'ESTADO': «busy» no es ninguno de estos valores: "
            "'offline', 'available', 'wrap_up', 'paused'.",
        ),
        (["agents", "list", "--todos"], "Error: No existe la opción «--todos»."),
        (["agents", "lista"], "Error: No existe el comando «lista»."),
        (
            ["directory", "designate", "DGPP", "--rol", "titular", "--memorando", "M",
             "--memorando-fecha", "05/08/2026", "--vigente-desde", "2026-07-24",
             "--comunicado-el", "2026-08-05"],
            "Error: Valor no válido para '--memorando-fecha': «05/08/2026» no es una fecha "
            "AAAA-MM-DD.",
        ),
        (["centers", "import", "no-existe.csv"], "Archivo «no-existe.csv»: no existe."),
    ],
)  # fmt: skip
def test_clicks_own_errors_are_spanish(runner: FlaskCliRunner, args: list[str], said: str) -> None:
    result = runner.invoke(args=args)
    assert result.exit_code == 2
    assert said in result.output
    assert "Uso: app " in result.output and "Usage" not in result.output


def test_an_unknown_agent_is_said_in_spanish_without_a_traceback(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["routing", "agent-state", "99", "available"])
    assert result.exit_code == 1
    assert result.output == "Error: No existe el agente 99.\n"
    assert isinstance(result.exception, SystemExit)


def test_a_bad_moment_for_a_simulated_call_is_said_in_spanish(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["simulate", "--at", "mañana"])
    assert result.exit_code == 2
    assert "Error: Valor no válido para '--at': «mañana» no es un momento AAAA-MM-DD HH:MM" in (
        result.output
    )
    assert "isoformat" not in result.output


def test_a_scenario_file_with_a_bad_moment_is_said_in_spanish(
    runner: FlaskCliRunner, tmp_path: Path
) -> None:
    scenario = tmp_path / "llamada.json"
    scenario.write_text('{"at": "ayer"}', encoding="utf-8")
    result = runner.invoke(args=["simulate", "--scenario", str(scenario)])
    assert result.exit_code == 1
    assert result.output == (
        "Error: El campo «at» del escenario no es un momento AAAA-MM-DD HH:MM (hora de Lima).\n"
    )


def test_a_database_that_does_not_answer_is_said_in_spanish(
    runner: FlaskCliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.exc import OperationalError

    from directory import registry

    def broken(*args: object, **kwargs: object) -> None:
        raise OperationalError("SELECT 1", {}, Exception("no such table: agents"))

    monkeypatch.setattr(registry, "list_agents", broken)
    result = runner.invoke(args=["agents", "list"])
    assert result.exit_code == 1
    assert result.output == (
        "Error: La base de datos no respondió o su esquema no está al día "
        "(flask --app app db upgrade): OperationalError.\n"
    )


def test_a_server_that_does_not_answer_is_said_in_spanish(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["simulate", "--url", "http://127.0.0.1:1"])
    assert result.exit_code == 1
    assert result.output.endswith("Error: No se pudo conectar con 127.0.0.1:1 (ConnectionError).\n")
    assert isinstance(result.exception, SystemExit)


def test_a_file_that_cannot_be_written_is_said_in_spanish(
    runner: FlaskCliRunner, tmp_path: Path
) -> None:
    taken = tmp_path / "anexo2.csv"
    taken.mkdir()  # a folder where the file should go
    result = runner.invoke(args=["directory", "export", str(taken)])
    assert result.exit_code == 2
    assert f"Archivo «{taken}»: es una carpeta, no un archivo." in result.output


def test_a_write_the_system_refuses_is_said_in_spanish(
    runner: FlaskCliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "anexo2.csv"

    def refused(self: Path, *args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "write_text", refused)
    result = runner.invoke(args=["directory", "export", str(out)])
    assert result.exit_code == 1
    assert result.output == f"Error: No se pudo usar el archivo «{out}»: permiso denegado.\n"
