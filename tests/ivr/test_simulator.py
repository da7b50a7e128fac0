"""Whole calls walked through the real flow by the simulator (signed requests, in-process)."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.serving import make_server

from extensions import redis_store
from ivr.simulator import (
    HttpTransport,
    Result,
    Scenario,
    SimulationError,
    Simulator,
    load_scenario,
    simulate_in_process,
)
from register.models import CallbackRequest, RegisterCall, VoiceMessage
from routing import queue as line
from tests.conftest import Journey
from tests.ivr.helpers import OPEN, lima

pytestmark = pytest.mark.usefixtures("directory")


def run(app: Flask, **kw: Any) -> tuple[Result, list[str]]:
    lines: list[str] = []
    scenario = Scenario(**({"at": OPEN} | kw))
    return simulate_in_process(app, scenario, lines.append), lines


def test_technical_call_titular_no_answer_then_alterno_accepts(
    app: Flask, journey: Journey
) -> None:
    result, lines = run(app, keys=["1", "3", "1", "#", "5"], dial=["no-answer", "accept"])
    assert result.ended == "hangup"  # after the survey
    text = "\n".join(lines)
    assert "sip:1201@pbx.mef.gob.pe" in text and "sip:1202@pbx.mef.gob.pe" in text
    assert "[Resultado] no contesta" in text
    assert "Miembro de la Red acepta" in text
    assert "Presupuesto Público" in text  # the whisper names the órgano
    results = [(e["choice"], e["data"]["outcome"]) for e in journey.of("dial_result")]
    assert results == [("titular", "no-answer"), ("alterno", "accepted")]
    assert [e["choice"] for e in journey.of("survey")] == ["5"]
    assert not journey.of("plataforma")


def test_flask_simulate_reproduces_titular_no_answer_alterno_answers(
    app: Flask, runner: FlaskCliRunner
) -> None:
    outcome = runner.invoke(
        args=[
            "simulate",
            "--from",
            "+51987654321",
            "--at",
            "2026-11-26 10:00",
            "--keys",
            "1,3,1,#",
            "--dial",
            "no-answer",
            "--dial",
            "accept",
        ]
    )
    assert outcome.exit_code == 0, outcome.output
    assert outcome.output.index("sip:1201@") < outcome.output.index("no contesta")
    assert outcome.output.index("no contesta") < outcome.output.index("sip:1202@")
    assert "Miembro de la Red acepta" in outcome.output
    assert "califique la atención" in outcome.output


def test_neither_titular_nor_alterno_accepts_goes_to_plataforma_marked_route_failed(
    app: Flask, journey: Journey
) -> None:
    result, lines = run(app, keys=["1", "3", "1", "#"], dial=["busy", "reject"])
    assert result.ended == "plataforma"
    assert lines[-1].startswith("  → en cola de la Plataforma")
    assert [e["data"]["outcome"] for e in journey.of("dial_result")] == ["busy", "not-accepted"]
    assert [e["data"]["reason"] for e in journey.of("plataforma")] == ["route_failed"]


def test_organo_without_alterno_goes_to_plataforma_after_the_titular(
    app: Flask, journey: Journey
) -> None:
    result, _ = run(app, keys=["1", "3", "2", "#"], dial=["no-answer"])
    assert result.ended == "plataforma"
    assert [e["choice"] for e in journey.of("dial")] == ["titular"]


def test_summary_recorded_is_played_to_the_red_member(app: Flask, journey: Journey) -> None:
    result, lines = run(app, keys=["1", "3", "1", "rec:12"], dial=["accept"])
    assert any("[Red oye una grabación] https://api.twilio.com" in line for line in lines)
    assert journey.of("summary")[0]["data"]["recording_url"].startswith("https://api.twilio.com")


def test_estado_de_tramite_reads_back_and_goes_to_plataforma(app: Flask, journey: Journey) -> None:
    result, lines = run(app, keys=["1", "1", "20261234#", "1"])
    assert result.ended == "plataforma"
    assert "2 0 2 6 1 2 3 4" in "\n".join(result.heard)
    assert journey.of("expediente")[0]["data"] == {"expediente": "20261234"}


def test_a_simulated_caller_leaves_the_plataforma_line_when_the_simulation_ends(
    app: Flask, journey: Journey
) -> None:
    """Issue 11.12: no ghost caller is left to be offered to agents."""
    result, _ = run(app, keys=["1", "2"])
    assert result.ended == "plataforma"
    assert journey.of("queued") and journey.of("queue_left")[0]["choice"] == "hangup"
    assert line.waiting_count(redis_store.client) == 0


def test_preferential_caller_goes_to_plataforma_first_in_line(app: Flask, journey: Journey) -> None:
    result, _ = run(app, keys=["1", "9", "2"])
    assert result.ended == "plataforma"
    assert journey.of("preferential")[0]["choice"] == "adulto_mayor"
    assert journey.of("plataforma")[0]["data"]["reason"] == "preferential"


def test_authority_is_told_the_turn_is_taken(app: Flask, journey: Journey) -> None:
    result, _ = run(app, keys=["1", "8"])
    assert result.ended == "plataforma"
    # Told once (routing's seam announces the authority turn; the flow adds nothing to it).
    assert len([h for h in result.heard if "autoridad" in h and "turno" in h]) == 1
    assert journey.of("plataforma")[0]["data"]["reason"] == "authority"


def test_conectamef_landline_is_transferred_to_its_region_center(
    app: Flask, journey: Journey
) -> None:
    result, lines = run(app, from_number="+5154212345", keys=["1", "4", "4"], dial=["answer"])
    assert "[Marcando] +5154283140" in "\n".join(lines)
    assert journey.of("conectamef")[0]["choice"] == "Arequipa"
    assert [e["choice"] for e in journey.of("survey")] == ["4"]


def test_conectamef_mobile_caller_picks_the_department(app: Flask, journey: Journey) -> None:
    result, lines = run(app, keys=["1", "4", "2"], dial=["no-answer"])
    assert "[Marcando] +5184234567" in "\n".join(lines)  # Cusco, second in the department menu
    assert journey.of("region")[0]["choice"] == "Cusco"
    assert result.ended == "plataforma"


def test_closed_line_callback_for_the_caller_id(app: Flask, session: Session) -> None:
    result, _ = run(app, at=lima("2026-11-26 16:31"), keys=["1", "1"])
    assert result.ended == "hangup"
    assert any("de lunes a viernes, de 8:30 a 16:30" in h for h in result.heard)
    row = session.scalars(select(CallbackRequest)).one()
    assert (row.source, row.telefono, str(row.due_date)) == (
        "fuera_de_horario",
        "+51987654321",
        "2026-11-27",
    )


def test_closed_line_voicemail_is_stored_with_its_recording(
    app: Flask, session: Session, journey: Journey
) -> None:
    result, _ = run(app, at=lima("2026-11-28 11:00"), keys=["2", "rec:25"])
    message = session.scalars(select(VoiceMessage)).one()
    assert message.duration_seconds == 25 and message.recording_sid
    assert str(message.due_date) == "2026-11-30"  # Saturday → Monday
    assert journey.of("voicemail")[0]["data"]["duration"] == 25


def test_scenario_file_in_yaml_and_json(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(
        "from: '+5154212345'\nat: '2026-11-26 10:00'\nkeys: [1, 3, 1, '#']\n"
        "dial: [no-answer, accept]\n"
    )
    (tmp_path / "b.json").write_text(json.dumps({"keys": "1,2", "dial": ["busy"]}))
    a = load_scenario(tmp_path / "a.yaml")
    b = load_scenario(tmp_path / "b.json")
    assert (a.from_number, a.keys, a.dial, a.at) == (
        "+5154212345",
        ["1", "3", "1", "#"],
        ["no-answer", "accept"],
        lima("2026-11-26 10:00"),
    )
    assert (b.keys, b.dial) == (["1", "2"], ["busy"])


def test_unknown_dial_outcome_is_refused() -> None:
    with pytest.raises(ValueError, match="contesta-tarde"):
        Scenario(dial=["contesta-tarde"])


def test_a_looping_flow_is_stopped(app: Flask) -> None:
    with pytest.raises(SimulationError, match="loop"):
        run(app, keys=["1"] + ["*"] * 80)


def test_flask_simulate_reads_a_scenario_file(runner: FlaskCliRunner, tmp_path: Path) -> None:
    scenario = tmp_path / "llamada.yaml"
    scenario.write_text("at: '2026-11-26 10:00'\nkeys: [1, 9, 1]\n")
    outcome = runner.invoke(args=["simulate", "--scenario", str(scenario)])
    assert outcome.exit_code == 0, outcome.output
    assert "en cola de la Plataforma" in outcome.output


def test_simulator_over_http_against_a_running_server(app: Flask) -> None:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        app.config["IVR_NOW"] = OPEN
        transport = HttpTransport(
            f"http://127.0.0.1:{server.server_port}",
            app.config["TWILIO_AUTH_TOKEN"],
            app.config["PUBLIC_BASE_URL"],
        )
        result = Simulator(transport, Scenario(keys=["1", "2"])).run()
    finally:
        server.shutdown()
        thread.join()
    assert result.ended == "plataforma"
    assert result.requests == ["/voice/incoming", "/voice/language", "/voice/menu"]


def test_a_simulated_call_is_registered_at_its_moment_and_kept_out_of_reports(
    app: Flask, session: Session, work: Any, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    """Issue 11.11: `simulate --at` routes and registers the call at that moment, marked
    simulated; exports and reports leave it out unless asked."""
    at = lima("2026-10-06 11:15")  # a Tuesday in October, the line open
    result, _ = run(app, at=at, keys=["1", "2"])
    assert result.ended == "plataforma"
    work()
    row = session.scalars(select(RegisterCall)).one()
    assert (row.fecha.isoformat(), row.hora_inicio.isoformat()) == ("2026-10-06", "11:15:00")
    assert row.simulada is True
    out = tmp_path / "octubre.csv"
    export = ["register", "export", "--month", "2026-10", "--output", str(out)]
    assert "0 llamadas exportadas" in runner.invoke(args=export).output
    assert "1 llamada exportada" in runner.invoke(args=[*export, "--incluir-simuladas"]).output
    report = runner.invoke(args=["report", "monthly", "--month", "2026-10"]).output
    with_simulated = runner.invoke(
        args=["report", "monthly", "--month", "2026-10", "--incluir-simuladas"]
    ).output
    assert report != with_simulated
