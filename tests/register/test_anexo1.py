"""Deriving the Anexo 1 row from a call's events (register/anexo1.py)."""

from __future__ import annotations

import random
from datetime import date, time

import pytest

from register.anexo1 import COLUMNS, build_row, mask_phone
from tests.register.journeys import (
    abandoned_in_queue,
    closed_voicemail,
    plataforma_answered,
    technical_alterno,
)

SID = "CA" + "1" * 32


def test_answered_plataforma_call_fills_every_anexo1_column() -> None:
    row = build_row(SID, plataforma_answered(SID))
    assert set(COLUMNS) <= set(row)
    assert row["fecha"] == date(2026, 10, 14)
    assert row["hora_inicio"] == time(10, 0, 0)  # America/Lima is UTC-5
    assert row["hora_fin"] == time(10, 4, 0)
    assert row["canal"] == "telefonico"
    assert row["telefono"] == "+51987654321"
    assert row["region"] == "Lima"
    assert row["idioma"] == "es"
    assert row["tipo_usuario"] == "ciudadano"
    assert row["preferencial"] is None
    assert row["tipo_consulta"] == "administrativa"
    assert row["detalle"] == "estado_tramite"
    assert row["expediente"] == "2026-0012345"
    assert row["derivacion"] == "plataforma"
    assert row["atendido_por"] == "Rosa Quispe"
    assert row["resultado"] == "atendida"
    assert row["espera_seg"] == 15
    assert row["duracion_seg"] == 240
    assert row["encuesta"] == 4
    assert row["atencion_seg"] == 193
    assert row["journey"]["queued_at"].startswith("2026-10-14T15:00:32")


def test_technical_call_answered_by_the_alterno() -> None:
    row = build_row(SID, technical_alterno(SID))
    assert row["tipo_consulta"] == "tecnica"
    assert row["organo"] == "DGPP"
    assert row["derivacion"] == "alterno"
    assert row["atendido_por"] == "Luis Mamani"
    assert row["idioma"] == "qu"
    assert row["espera_seg"] == 29  # from the first dial to the alterno's answer
    assert row["encuesta"] is None  # skipped
    outcomes = [d.get("outcome") for d in row["journey"]["dials"] if "outcome" in d]
    assert outcomes == ["no-answer", "accepted"]
    assert row["journey"]["recordings"][0]["kind"] == "summary"


def test_preferential_caller_hanging_up_in_queue_is_abandoned() -> None:
    row = build_row(SID, abandoned_in_queue(SID))
    assert row["resultado"] == "abandonada"
    assert row["preferencial"] == "adulto_mayor"
    assert row["espera_seg"] == 60
    assert row["atendido_por"] is None
    assert row["region"] is None


def test_closed_hours_voice_message() -> None:
    row = build_row(SID, closed_voicemail(SID))
    assert row["resultado"] == "mensaje_de_voz"
    assert row["derivacion"] is None
    assert row["tipo_consulta"] is None


def test_authority_turn_marks_the_caller_as_autoridad() -> None:
    events = plataforma_answered(SID)
    events[2]["data"] = {"detalle": "autoridad"}
    assert build_row(SID, events)["tipo_usuario"] == "autoridad"


def test_same_events_in_any_order_and_duplicated_give_the_same_row() -> None:
    events = technical_alterno(SID)
    expected = build_row(SID, events)
    shuffled = events + events[:4]
    random.Random(7).shuffle(shuffled)
    assert build_row(SID, shuffled) == expected


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("+51987654321", "+51 9** *** 321"),
        ("+5113115930", "+51 1** ** 930"),
        ("+51 9** *** 321", "+51 9** *** 321"),
        (None, None),
        ("anonymous", "anonymous"),
    ],
)
def test_phone_masking_keeps_country_code_first_digit_and_last_three(
    number: str | None, masked: str | None
) -> None:
    assert mask_phone(number) == masked
