"""directory/cli.py: agents and the §5.4 registry refuse duplicates, agents come back with
`agents activate`, an unknown language is named, and exports carry a BOM."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest
from flask.testing import FlaskCliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from directory.models import Agent, LanguageSpeaker
from tests.directory.helpers import BASE_CSV

ROSA = ["agents", "add", "Rosa Huamán Quispe", "--canal", "anexo", "--destino", "2101"]
OLINDA = [
    *("languages", "speakers", "add", "--idioma", "shp", "--nombre", "Olinda Ahuanari Sánchez"),
    *("--unidad", "OGSU", "--anexo", "4121"),
]


def count(session: Session, model: type[Agent] | type[LanguageSpeaker]) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_an_agent_added_twice_is_refused_and_the_existing_row_is_named(
    runner: FlaskCliRunner, session: Session
) -> None:
    first = runner.invoke(args=[*ROSA, "--idioma", "es", "--idioma", "qu"])
    assert first.exit_code == 0, first.output
    agent_id = session.scalars(select(Agent.id)).one()

    again = runner.invoke(args=["agents", "add", "ROSA HUAMAN QUISPE", "--canal", "anexo",
                                "--destino", " 2101 "])  # fmt: skip
    assert again.exit_code == 1
    assert again.output == (
        f"Error: ya existe el agente {agent_id}: Rosa Huamán Quispe (anexo 2101).\n"
    )
    assert count(session, Agent) == 1


def test_the_same_name_at_another_destination_is_another_agent(
    runner: FlaskCliRunner, session: Session
) -> None:
    assert runner.invoke(args=ROSA).exit_code == 0
    other = runner.invoke(args=[*ROSA[:-1], "2102"])
    assert other.exit_code == 0, other.output
    assert count(session, Agent) == 2


def test_a_deactivated_agent_is_named_with_the_way_back_and_activate_brings_it_back(
    runner: FlaskCliRunner, session: Session
) -> None:
    runner.invoke(args=ROSA)
    agent_id = session.scalars(select(Agent.id)).one()
    assert runner.invoke(args=["agents", "deactivate", str(agent_id)]).exit_code == 0

    again = runner.invoke(args=ROSA)
    assert again.exit_code == 1
    assert f"está inactivo: `agents activate {agent_id}`" in again.output

    back = runner.invoke(args=["agents", "activate", str(agent_id)])
    assert back.exit_code == 0
    assert back.output == f"Agente {agent_id} (Rosa Huamán Quispe) activado.\n"
    session.expire_all()
    assert session.get(Agent, agent_id).activo  # type: ignore[union-attr]
    assert "Rosa Huamán Quispe" in runner.invoke(args=["agents", "list"]).output


def test_activating_an_unknown_agent_says_so(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["agents", "activate", "99"])
    assert result.exit_code == 1
    assert result.output == "Error: no existe el agente 99.\n"


def test_a_speaker_added_twice_is_refused_and_the_existing_row_is_named(
    runner: FlaskCliRunner, session: Session
) -> None:
    first = runner.invoke(args=OLINDA)
    assert first.exit_code == 0, first.output
    speaker_id = session.scalars(select(LanguageSpeaker.id)).one()

    again = runner.invoke(args=OLINDA)
    assert again.exit_code == 1
    assert again.output == (
        f"Error: ya está en el registro el servidor {speaker_id}: Olinda Ahuanari Sánchez "
        "(shp; anexo 4121).\n"
    )
    assert count(session, LanguageSpeaker) == 1
    # Removed from the registry, the same person may be registered again.
    assert runner.invoke(args=["languages", "speakers", "remove", str(speaker_id)]).exit_code == 0
    assert runner.invoke(args=OLINDA).exit_code == 0


@pytest.mark.parametrize("code", ["zz", "ZZ "])
def test_listing_the_speakers_of_an_unknown_language_says_it_is_unknown(
    runner: FlaskCliRunner, code: str
) -> None:
    result = runner.invoke(args=["languages", "speakers", "list", "--idioma", code])
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: El idioma «{code}» no está registrado; registrados: ")
    assert "qu" in result.output


def test_a_known_language_without_speakers_says_there_are_none(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["languages", "speakers", "list", "--idioma", "qu"])
    assert result.exit_code == 0
    assert result.output == "No hay servidores registrados.\n"


def test_agents_are_listed_with_their_channel_as_a_label(
    runner: FlaskCliRunner, session: Session
) -> None:
    runner.invoke(args=["agents", "add", "Carmen", "--canal", "client", "--destino", "csalazar"])
    result = runner.invoke(args=["agents", "list"])
    assert "navegador (Twilio Client) csalazar" in result.output


@pytest.mark.parametrize("group", ["directory", "centers"])
def test_csv_exports_carry_a_bom_for_excel(
    runner: FlaskCliRunner, tmp_path: Path, group: str
) -> None:
    source = tmp_path / "anexo2.csv"
    source.write_text(BASE_CSV, encoding="utf-8")
    runner.invoke(args=["directory", "import", str(source)])
    out = tmp_path / "salida.csv"
    result = runner.invoke(args=[group, "export", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(codecs.BOM_UTF8)
    assert not out.read_bytes()[3:].startswith(codecs.BOM_UTF8)


def test_an_export_into_a_missing_folder_is_refused(runner: FlaskCliRunner, tmp_path: Path) -> None:
    result = runner.invoke(args=["directory", "export", str(tmp_path / "no" / "anexo2.csv")])
    assert result.exit_code == 1
    assert (
        result.output == f"Error: La carpeta «{tmp_path / 'no'}» no existe: créela o elija otra.\n"
    )
