"""README.md: every command example runs as written on the demo data, and none of them adds a
row twice."""

from __future__ import annotations

import re
import shlex
from datetime import datetime
from pathlib import Path

import pytest
from flask.testing import FlaskCliRunner
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from clock import LIMA
from directory.models import Agent, LanguageSpeaker
from directory.rules import fold
from extensions import Base

README = Path(__file__).resolve().parents[1] / "README.md"
# How the README writes a command: plain (virtualenv active), or spelled out for a fresh shell.
PREFIXES = ("flask --app app ", "RED_ENV=development .venv/bin/flask --app app ")
# The day the examples are read on (the README's closure day must still be ahead of it).
TODAY = datetime(2026, 12, 1, 10, 0, tzinfo=LIMA)


def readme_examples() -> list[list[str]]:
    """The arguments of every ``flask --app app`` line of the README's code blocks (indented
    four spaces; a trailing backslash continues the line; `` # `` after a space starts a
    comment, a ``#`` inside a word is a key: ``--keys 1,3,1,#``)."""
    examples: list[list[str]] = []
    pending = ""
    for line in README.read_text(encoding="utf-8").splitlines():
        if not line.startswith("    "):
            pending = ""
            continue
        command = f"{pending} {line.strip()}" if pending else line[4:]
        pending = command[:-1] if command.endswith("\\") else ""
        if pending:
            continue
        for prefix in PREFIXES:
            if command.startswith(prefix):
                code = re.split(r"\s+#(?:\s|$)", command.removeprefix(prefix), maxsplit=1)[0]
                examples.append(shlex.split(code))
    return examples


def start_ids_at_one(session: Session) -> None:
    """The demo's ids as on a fresh database (`agents languages 5`): SQLite reuses them once
    the tables are emptied, PostgreSQL's sequences go on counting unless told."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for table in Base.metadata.sorted_tables:
        empty = not session.scalar(select(func.count()).select_from(table))
        if "id" in table.c and empty:
            session.execute(
                text("SELECT setval(pg_get_serial_sequence(:t, 'id'), 1, false)"),
                {"t": table.name},
            )
    session.commit()


def test_the_examples_are_found() -> None:
    examples = readme_examples()
    assert ["seed", "demo", "--if-empty"] in examples
    assert "1,3,1,#" in next(a for a in examples if a[0] == "simulate")
    assert examples[examples.index(["directory", "late"]) - 1][:2] == ["directory", "designate"]
    assert len(examples) >= 40


def test_the_readme_examples_run_as_written_on_the_demo_data(
    runner: FlaskCliRunner,
    session: Session,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("ivr.cli.lima_now", lambda: TODAY)
    monkeypatch.chdir(tmp_path)  # the examples write anexo2.csv, noviembre.xlsx...
    start_ids_at_one(session)
    seeded = runner.invoke(args=["seed", "demo"])  # what `make run` does on a fresh machine
    assert seeded.exit_code == 0, seeded.output

    for args in readme_examples():
        result = runner.invoke(args=args)
        assert result.exit_code == 0, (args, result.output)

    session.expire_all()
    agents = [(fold(a.nombre), a.canal, a.destino) for a in session.scalars(select(Agent))]
    assert len(agents) == len(set(agents)) == 5
    speakers = [
        (fold(s.nombre_completo), s.language_code, s.anexo, s.telefono)
        for s in session.scalars(select(LanguageSpeaker).where(LanguageSpeaker.activo))
    ]
    assert len(speakers) == len(set(speakers)) == 6

    # Run again, the examples that add something refuse to add it twice.
    again = runner.invoke(args=next(a for a in readme_examples() if a[:2] == ["agents", "add"]))
    assert again.exit_code == 1
    assert "ya existe el agente 5: Lucía Ccori Mamani (anexo 2105)." in again.output
