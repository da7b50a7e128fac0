"""The board's data function: callers queued through the signed wait URL, agents' presence,
today's register rows (and only today's), the open callbacks, the Erlang C need, the alerts."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import redis
from flask import Flask
from sqlalchemy.orm import Session

from board import alerts
from board.data import need_by_half_hour, snapshot
from board.settings import BoardSettings
from clock import LIMA
from register.erlang import agents_needed
from register.models import CallbackRequest, VoiceMessage
from routing import agents
from routing import queue as line
from routing.settings import RoutingSettings
from tests.board.conftest import queue_caller, register_row
from tests.conftest import TwilioSigner
from tests.routing.conftest import add_agent, caller_state, sid

S = BoardSettings()
R = RoutingSettings()


def _now_ms() -> int:
    return line.now_ms()


def _today() -> date:
    return datetime.now(LIMA).date()


def test_callers_queued_through_signed_webhooks_are_on_the_board_in_service_order(
    app: Flask, twilio: TwilioSigner, session: Session, redis_client: redis.Redis
) -> None:
    caller_state(sid(1))
    caller_state(sid(2), tipo_usuario="autoridad", language="qu")
    caller_state(sid(3), preferencial="adulto_mayor")
    for n in (1, 2, 3):
        queue_caller(twilio, sid(n))

    board = snapshot(session, redis_client, S, now_ms=_now_ms() + 7000)

    cola = board["cola"]
    assert cola["total"] == 3
    assert cola["por_clase"] == {"preferencial": 1, "autoridad": 1, "general": 1}
    assert cola["por_idioma"] == {"es": 2, "qu": 1, "ay": 0}
    assert [c["call_sid"] for c in cola["llamantes"]] == [sid(3), sid(2), sid(1)]
    assert [c["puesto"] for c in cola["llamantes"]] == [1, 2, 3]
    assert all(7 <= c["espera_seg"] <= 9 for c in cola["llamantes"])
    assert cola["espera_max_seg"] >= 7
    assert cola["sobre_limite"] == 0
    assert not board["disponibles"]
    assert [a.kind for a in alerts.evaluate(board, S)] == ["sin_agentes"]


def test_callers_past_the_wait_limit_are_flagged_and_raise_an_alert(
    app: Flask, session: Session, redis_client: redis.Redis
) -> None:
    now = _now_ms()
    line.enqueue(
        redis_client, sid(1), language="es", priority="normal", now=now - 400_000, settings=R
    )
    line.enqueue(
        redis_client, sid(2), language="es", priority="normal", now=now - 10_000, settings=R
    )
    agent = add_agent(session, "Ana")
    agents.set_state(redis_client, agent.id, "available", languages=[], now=now, settings=R)
    # the agent is available but not matched (no sweep ran): the line still shows two

    board = snapshot(session, redis_client, S, now_ms=now)

    flagged = {c["call_sid"]: c["sobre_limite"] for c in board["cola"]["llamantes"]}
    assert flagged == {sid(1): True, sid(2): False}
    assert board["cola"]["sobre_limite"] == 1
    assert board["cola"]["espera_max_seg"] == 400
    found = alerts.evaluate(board, S)
    assert [a.key for a in found] == ["espera"]
    assert found[0].message == "1 llamada espera más de 5 minutos (la más larga, 6 minutos)."


def test_only_the_first_callers_are_listed_but_every_caller_is_counted(
    app: Flask, session: Session, redis_client: redis.Redis
) -> None:
    now = _now_ms()
    for n in range(30):
        line.enqueue(
            redis_client, sid(n), language="es", priority="normal", now=now - n, settings=R
        )
    board = snapshot(session, redis_client, BoardSettings(callers_shown=5), now_ms=now)
    assert board["cola"]["total"] == 30
    assert [c["call_sid"] for c in board["cola"]["llamantes"]] == [
        sid(n) for n in (29, 28, 27, 26, 25)
    ]


def test_every_agent_with_state_time_in_it_and_todays_calls(
    app: Flask, session: Session, redis_client: redis.Redis
) -> None:
    now = _now_ms()
    ana = add_agent(session, "Ana")
    beto = add_agent(session, "Beto")
    agents.set_state(redis_client, ana.id, "available", languages=[], now=now - 65_000, settings=R)
    today = _today()
    session.add_all(
        [
            register_row(today, atendido_por="Ana", agent_id=ana.id, atencion_seg=100),
            # a call Ana handed to a Red member is hers too (its atendido_por names both)
            register_row(
                today,
                atendido_por="Ana → Tita Titular (titular)",
                agent_id=ana.id,
                atencion_seg=200,
            ),
            register_row(
                today - timedelta(days=1), atendido_por="Ana", agent_id=ana.id, atencion_seg=900
            ),
            # another agent of the same name is not Ana
            register_row(today, atendido_por="Ana", agent_id=ana.id + 100, atencion_seg=50),
        ]
    )
    session.commit()

    board = snapshot(session, redis_client, S, now_ms=now)

    by_name = {a["nombre"]: a for a in board["agentes"]}
    assert by_name["Ana"]["estado"] == "available"
    assert by_name["Ana"]["estado_nombre"] == "Disponible"
    assert by_name["Ana"]["en_estado_seg"] == 65
    assert by_name["Ana"]["llamadas_hoy"] == 2
    assert by_name["Ana"]["aht_seg"] == 150
    assert by_name["Beto"]["estado"] == "offline"
    assert by_name["Beto"]["llamadas_hoy"] == 0
    assert board["disponibles"] == 1 and board["conectados"] == 1
    del beto


def test_todays_figures_count_only_todays_rows(
    app: Flask, session: Session, redis_client: redis.Redis
) -> None:
    today = _today()
    session.add_all(
        [
            register_row(today, espera_seg=5),
            register_row(today, espera_seg=50),
            register_row(
                today, answered_at=None, resultado="abandonada", espera_seg=30, atendido_por=None
            ),
            # still waiting (no final status yet): not abandoned
            register_row(
                today,
                answered_at=None,
                resultado="abandonada",
                final_status=None,
                atendido_por=None,
            ),
            # a Red member answered: never reached the Plataforma
            register_row(today, queued_at=None, derivacion="titular", organo="DGPP"),
            # other days and simulated calls are left out
            register_row(today - timedelta(days=1)),
            register_row(today - timedelta(days=20), espera_seg=300),
            register_row(today, simulada=True),
        ]
    )
    session.commit()

    hoy = snapshot(session, redis_client, S, now_ms=_now_ms())["hoy"]

    assert hoy["ofrecidas"] == 4
    assert hoy["atendidas"] == 2
    assert hoy["abandonadas"] == 1
    assert hoy["nivel_servicio"] == round(1 / 3, 3)  # 5 s of 5, 50 and an abandoned call
    assert hoy["asa_seg"] == 28  # (5 + 50) / 2, rounded


def test_per_organo_technical_calls_and_the_red_members_who_missed(
    app: Flask, session: Session, redis_client: redis.Redis
) -> None:
    today = _today()

    def dials(alterno: str) -> dict[str, Any]:
        """The titular did not answer; the alterno's outcome is ``alterno``."""
        return {
            "dials": [
                {"rol": "titular", "nombre": "Tita Titular", "anexo": "2301"},
                {"rol": "titular", "outcome": "no-answer"},
                {"rol": "alterno", "nombre": "Alberto Alterno", "anexo": "2302"},
                {"rol": "alterno", "outcome": alterno},
            ]
        }

    missed_both, missed_titular = dials("busy"), dials("accepted")
    technical: dict[str, Any] = {"tipo_consulta": "tecnica", "organo": "DGPP", "queued_at": None}
    session.add_all(
        [
            register_row(today, derivacion="titular", **technical),
            register_row(today, derivacion="alterno", journey=missed_titular, **technical),
            register_row(
                today,
                derivacion="plataforma",
                journey=missed_both,
                **(technical | {"queued_at": datetime.now(UTC)}),
            ),
            register_row(today, derivacion="plataforma", journey=missed_both, **technical),
            register_row(
                today - timedelta(days=3), derivacion="plataforma", journey=missed_both, **technical
            ),
        ]
    )
    session.commit()

    board = snapshot(session, redis_client, S, now_ms=_now_ms())

    (dgpp,) = board["organos"]
    assert (
        dgpp["sigla"],
        dgpp["tecnicas"],
        dgpp["titular"],
        dgpp["alterno"],
        dgpp["plataforma"],
    ) == (
        "DGPP",
        4,
        1,
        1,
        2,
    )
    assert dgpp["perdidas"] == [
        {"rol": "alterno", "nombre": "Alberto Alterno", "llamadas": 2},
        {"rol": "titular", "nombre": "Tita Titular", "llamadas": 3},
    ]
    found = alerts.evaluate(board, S)
    assert [a.key for a in found] == ["red:DGPP:titular"]
    assert "Tita Titular" in found[0].message and "3 llamadas" in found[0].message


def test_callbacks_due_and_overdue_and_voice_messages_pending(
    app: Flask, session: Session, redis_client: redis.Redis
) -> None:
    today = _today()

    def cb(n: int, due: date, status: str = "pendiente") -> CallbackRequest:
        return CallbackRequest(
            call_sid=sid(n), source="cola", telefono="+51987654321", due_date=due, status=status
        )

    session.add_all(
        [
            cb(1, today),
            cb(2, today, "no_contesta"),
            cb(3, today, "realizada"),
            cb(4, today - timedelta(days=2)),
            cb(5, today + timedelta(days=1)),
            VoiceMessage(call_sid=sid(6), telefono="+51987654321", due_date=today),
            VoiceMessage(
                call_sid=sid(7), telefono="+51987654321", due_date=today, status="atendido"
            ),
        ]
    )
    session.commit()
    hoy = snapshot(session, redis_client, S, now_ms=_now_ms())["hoy"]
    assert (hoy["devoluciones_hoy"], hoy["devoluciones_vencidas"], hoy["mensajes_pendientes"]) == (
        2,
        1,
        1,
    )


def test_the_need_comes_from_the_last_four_same_weekdays_through_erlang_c(
    app: Flask, session: Session
) -> None:
    day = date(2026, 11, 25)  # a Wednesday
    rows = []
    for weeks in range(1, 5):
        for n in range(weeks * 10):  # 10, 20, 30, 40 calls at 10:00-10:30: 25 on average
            rows.append(
                register_row(day - timedelta(weeks=weeks), at=time(10, n % 30), atencion_seg=180)
            )
    rows.append(register_row(day - timedelta(days=1), at=time(10, 0)))  # not the same weekday
    rows.append(register_row(day - timedelta(weeks=5), at=time(10, 0)))  # five weeks back
    session.add_all(rows)
    session.commit()

    need = need_by_half_hour(session, day, S)

    assert list(need) == ["10:00"]
    assert need["10:00"]["llamadas"] == 25
    # 25 calls a half hour of 180 s: 2.5 Erlangs; 4 agents answer 72.9 % within 20 s, 5 answer 90.1 %
    assert need["10:00"]["agentes"] == 5 == agents_needed(50, 180, 0.8, 20)


def test_service_level_of_the_last_half_hour_below_target_alerts(
    app: Flask, session: Session, redis_client: redis.Redis
) -> None:
    now = datetime.now(UTC)
    today = now.astimezone(LIMA).date()
    session.add_all(
        [
            register_row(today, queued_at=now - timedelta(minutes=5), espera_seg=60),
            register_row(today, queued_at=now - timedelta(minutes=5), espera_seg=10),
            register_row(today, queued_at=now - timedelta(hours=2), espera_seg=5),
            register_row(today, queued_at=now - timedelta(hours=2), espera_seg=5),
        ]
    )
    session.commit()
    board = snapshot(session, redis_client, S, now_ms=int(now.timestamp() * 1000))
    assert board["hoy"]["nivel_servicio"] == 0.75
    assert board["hoy"]["nivel_servicio_30min"] == 0.5
    assert [a.key for a in alerts.evaluate(board, S)] == ["nivel_servicio"]
