"""routing/cli.py: the line, the agents' states and the callbacks, printed with labels."""

from __future__ import annotations

from datetime import date

import redis
from flask.testing import FlaskCliRunner
from sqlalchemy.orm import Session

from register import callbacks
from routing import queue as line
from routing.context import Context
from tests.routing.conftest import add_agent


def test_an_empty_line_says_so(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["routing", "queue"])
    assert result.exit_code == 0
    assert result.output == "No hay nadie esperando en la fila de la Plataforma.\n"


def test_the_line_shows_each_callers_class_and_language_as_labels(
    runner: FlaskCliRunner, redis_client: redis.Redis, ctx: Context
) -> None:
    now = line.now_ms()
    for digit, language, priority in (("1", "es", "normal"), ("2", "qu", "preferential")):
        line.enqueue(
            redis_client,
            "CA" + digit * 32,
            language=language,
            priority=priority,
            now=now,
            settings=ctx.settings,
        )
    result = runner.invoke(args=["routing", "queue"])
    assert result.exit_code == 0
    first, second = result.output.splitlines()
    assert first.split() == ["1", "CA" + "2" * 32, "preferencial", "quechua"]
    assert second.split() == ["2", "CA" + "1" * 32, "general", "español"]


def test_agent_states_are_printed_as_labels(runner: FlaskCliRunner, session: Session) -> None:
    ana = add_agent(session, "Ana")
    result = runner.invoke(args=["routing", "agent-state", str(ana.id), "paused"])
    assert result.exit_code == 0
    assert result.output == f"Agente {ana.id}: en pausa.\n"


def test_callbacks_are_listed_with_labels_not_codes(
    runner: FlaskCliRunner, session: Session
) -> None:
    request, _ = callbacks.request_callback(
        session,
        call_sid="CA" + "3" * 32,
        source="limite_espera",
        telefono="+51987654321",
        due=date.today(),
    )
    session.commit()
    runner.invoke(args=["callbacks", "take", str(request.id), "--agent", "Ana"])
    result = runner.invoke(args=["callbacks", "list"])
    assert result.exit_code == 0
    assert "límite de espera" in result.output and "en curso" in result.output
    assert "limite_espera" not in result.output and "en_curso" not in result.output
    done = runner.invoke(
        args=["callbacks", "done", str(request.id), "--agent", "Ana", "--outcome", "no_contesta"]
    )
    assert done.output == f"Solicitud {request.id}: no contesta (1 intento).\n"


def test_the_sweep_says_what_it_did_in_spanish(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["routing", "sweep"])
    assert result.exit_code == 0
    assert "timeouts" not in result.output and "matches" not in result.output
    assert result.output.startswith("Barrido: 0 con límite de espera")
