"""Deriving the Anexo 1 row from a call's events (register/anexo1.py)."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from register.anexo1 import COLUMNS, RESULTADOS, build_row, mask_phone
from register.ingest import ingest_events
from register.models import RegisterCall
from tests.register.journeys import (
    T0,
    abandoned_in_queue,
    closed_voicemail,
    event,
    plataforma_answered,
    technical_alterno,
)

SID = "CA" + "1" * 32
Journey = Callable[[str], list[dict[str, Any]]]


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def incoming(**data: Any) -> dict[str, Any]:
    return event(SID, "incoming", at=T0, **{"from": "+51987654321", "region": "Lima", **data})


def status(
    seconds: float, duration: int | None = None, choice: str = "completed"
) -> dict[str, Any]:
    return event(SID, "status", choice, at=at(seconds), duration=duration)


def technical_until_dial(organo: str = "DGPP") -> list[dict[str, Any]]:
    """Consulta técnica up to the titular's dial (at 41 s)."""
    return [
        incoming(),
        event(SID, "main_menu", "3", at=at(12), detalle="consulta_tecnica"),
        event(SID, "organo", organo, at=at(20)),
        event(SID, "dial", "titular", at=at(41), anexo="1201", nombre="Ana Torres"),
    ]


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
    assert row["agent_id"] == 3  # the board counts her calls by it
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
    assert row["agent_id"] is None  # a Red member, not a Plataforma agent
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


# --- resultado ---------------------------------------------------------------------------


def _callback_from_the_queue() -> list[dict[str, Any]]:
    return [
        incoming(),
        event(SID, "main_menu", "2", at=at(10), detalle="informacion"),
        event(SID, "plataforma", at=at(11), reason="menu"),
        event(SID, "queued", at=at(11), priority="normal", language="es"),
        event(SID, "queue_left", "callback", at=at(71), wait_seconds=60),
        event(SID, "callback_requested", at=at(75), source="cola", telefono="+51987654321"),
        status(80, 80),
    ]


def _closed_hung_up() -> list[dict[str, Any]]:
    return [
        incoming(),
        event(SID, "closed", at=at(1), reason="feriado"),
        event(SID, "closed_option", None, at=at(20)),
        status(21, 21),
    ]


RESULTADO_JOURNEYS: list[tuple[str, Callable[[], list[dict[str, Any]]]]] = [
    ("atendida", lambda: plataforma_answered(SID)),
    ("abandonada", lambda: abandoned_in_queue(SID)),
    ("devolucion_solicitada", _callback_from_the_queue),
    ("mensaje_de_voz", lambda: closed_voicemail(SID)),
    ("fuera_de_horario", _closed_hung_up),
]


def test_every_resultado_has_a_journey_here() -> None:
    assert sorted(name for name, _journey in RESULTADO_JOURNEYS) == sorted(RESULTADOS)


@pytest.mark.parametrize(("resultado", "journey"), RESULTADO_JOURNEYS)
def test_resultado_of_each_kind_of_call(
    resultado: str, journey: Callable[[], list[dict[str, Any]]]
) -> None:
    assert build_row(SID, journey())["resultado"] == resultado


def test_callback_asked_while_waiting_is_devolucion_with_its_wait_and_source() -> None:
    row = build_row(SID, _callback_from_the_queue())
    assert row["espera_seg"] == 60
    assert row["derivacion"] == "plataforma"
    assert row["answered_at"] is None
    assert row["journey"]["callbacks"] == [{"at": at(75).isoformat(), "source": "cola"}]


def test_callback_chosen_when_closed_is_devolucion_not_fuera_de_horario() -> None:
    events = [
        incoming(),
        event(SID, "closed", at=at(1), reason="fuera_de_horario"),
        event(SID, "closed_option", "1", at=at(10)),
        event(SID, "callback_requested", at=at(12), source="fuera_de_horario"),
        status(15, 15),
    ]
    assert build_row(SID, events)["resultado"] == "devolucion_solicitada"


def test_voice_message_wins_over_a_callback_request_and_is_kept_as_a_recording() -> None:
    events = _callback_from_the_queue() + [
        event(SID, "voicemail", at=at(78), recording_sid="RE1", recording_url="u", duration=2)
    ]
    row = build_row(SID, events)
    assert row["resultado"] == "mensaje_de_voz"
    assert row["journey"]["recordings"] == [
        {"kind": "voicemail", "recording_sid": "RE1", "recording_url": "u", "duration": 2}
    ]


def test_an_answered_call_is_atendida_even_after_a_callback_request() -> None:
    events = plataforma_answered(SID)
    events.insert(5, event(SID, "callback_requested", at=at(31), source="ruta_fallida"))
    assert build_row(SID, events)["resultado"] == "atendida"


# --- derivacion, espera, atendido_por -----------------------------------------------------


def test_titular_accepting_is_derivacion_titular_with_the_wait_from_the_dial() -> None:
    events = [
        *technical_until_dial(),
        # The result comes when the bridged conversation ends, 120 s after the answer.
        event(SID, "dial_result", "titular", at=at(170), outcome="accepted", duration=120),
        status(175, 175),
    ]
    row = build_row(SID, events)
    assert (row["derivacion"], row["atendido_por"]) == ("titular", "Ana Torres")
    assert row["answered_at"] == at(50)
    assert row["espera_seg"] == 9  # from the dial (41 s) to the answer (50 s)
    assert row["atencion_seg"] == 125
    assert row["resultado"] == "atendida"
    assert (row["tipo_consulta"], row["organo"]) == ("tecnica", "DGPP")


def test_red_member_without_a_name_is_named_by_role() -> None:
    events = [
        *technical_until_dial(),
        event(SID, "dial", "alterno", at=at(62), anexo="1202"),
        event(SID, "dial_result", "alterno", at=at(70), outcome="accepted", duration=0),
    ]
    assert build_row(SID, events)["atendido_por"] == "alterno"


def test_neither_red_member_accepting_ends_at_the_plataforma() -> None:
    events = [
        *technical_until_dial(),
        event(SID, "dial_result", "titular", at=at(61), outcome="no-answer", duration=0),
        event(SID, "dial", "alterno", at=at(62), anexo="1202", nombre="Luis Mamani"),
        event(SID, "dial_result", "alterno", at=at(82), outcome="busy", duration=0),
        event(SID, "plataforma", at=at(83), reason="route_failed"),
        event(SID, "queued", at=at(83), priority="normal", language="es"),
        event(SID, "agent_answered", at=at(98), agent_id=3, nombre="Rosa Quispe"),
        status(200, 200),
    ]
    row = build_row(SID, events)
    assert row["derivacion"] == "plataforma"
    assert row["atendido_por"] == "Rosa Quispe"
    assert row["espera_seg"] == 15  # no wait_seconds: from queued to answered
    assert row["tipo_consulta"] == "tecnica"
    assert [d.get("outcome") for d in row["journey"]["dials"]] == [None, "no-answer", None, "busy"]


def test_red_members_dialed_and_the_caller_hanging_up_is_still_derivacion_plataforma() -> None:
    events = [
        *technical_until_dial(),
        event(SID, "dial_result", "titular", at=at(61), outcome="no-answer", duration=0),
        status(62, 62),
    ]
    row = build_row(SID, events)
    assert (row["derivacion"], row["resultado"]) == ("plataforma", "abandonada")


def test_a_later_dial_result_never_changes_who_accepted() -> None:
    events = [
        *technical_until_dial(),
        event(SID, "dial_result", "titular", at=at(50), outcome="accepted", duration=0),
        event(SID, "dial_result", "alterno", at=at(60), outcome="accepted", duration=0),
    ]
    row = build_row(SID, events)
    assert (row["derivacion"], row["atendido_por"], row["espera_seg"]) == (
        "titular",
        "Ana Torres",
        9,
    )


def test_a_call_the_red_member_transfers_to_the_plataforma_keeps_the_red_answer() -> None:
    events = [
        *technical_until_dial(),
        event(SID, "dial_result", "titular", at=at(50), outcome="accepted", duration=0),
        event(SID, "transfer", at=at(120), to="plataforma", kind="plataforma", by="1201"),
        event(SID, "queued", at=at(121), priority="normal", language="es"),
        event(SID, "agent_answered", at=at(140), agent_id=3, nombre="Rosa Quispe", wait_seconds=19),
    ]
    row = build_row(SID, events)
    assert (row["derivacion"], row["atendido_por"]) == ("titular", "Ana Torres")
    assert (row["answered_at"], row["espera_seg"]) == (at(50), 9)


def test_menu_call_hung_up_before_the_plataforma_has_no_derivacion() -> None:
    events = [incoming(), event(SID, "main_menu", "2", at=at(10), detalle="informacion")]
    row = build_row(SID, events)
    assert (row["derivacion"], row["tipo_consulta"]) == (None, "administrativa")
    assert row["resultado"] == "abandonada"


def test_agent_without_a_name_is_named_by_id() -> None:
    events = plataforma_answered(SID)
    events[6]["data"] = {"agent_id": 7, "wait_seconds": 15}
    assert build_row(SID, events)["atendido_por"] == "agente 7"


# --- caller: preferential, authority, region, language -------------------------------------


@pytest.mark.parametrize("reason", ["gestante", "adulto_mayor", "discapacidad"])
def test_preferential_reason_is_kept(reason: str) -> None:
    events = abandoned_in_queue(SID)
    events[3]["choice"] = reason
    assert build_row(SID, events)["preferencial"] == reason


def test_preferential_caller_choosing_consulta_tecnica_is_administrativa() -> None:
    events = [
        incoming(),
        event(SID, "preferential", "gestante", at=at(5)),
        event(SID, "main_menu", "3", at=at(10), detalle="consulta_tecnica"),
        event(SID, "plataforma", at=at(12), reason="preferential"),
    ]
    row = build_row(SID, events)
    assert (row["preferencial"], row["tipo_consulta"]) == ("gestante", "administrativa")


@pytest.mark.parametrize(
    "authority_event",
    [
        lambda: event(SID, "main_menu", "8", at=at(10), detalle="autoridad"),
        lambda: event(SID, "plataforma", at=at(10), reason="authority"),
        lambda: event(SID, "queued", at=at(10), priority="authority", language="es"),
    ],
    ids=["main_menu", "plataforma", "queued"],
)
def test_any_authority_turn_makes_the_caller_autoridad(
    authority_event: Callable[[], dict[str, Any]],
) -> None:
    assert build_row(SID, [incoming()])["tipo_usuario"] == "ciudadano"
    row = build_row(SID, [incoming(), authority_event()])
    assert row["tipo_usuario"] == "autoridad"


def test_authority_stays_after_going_back_to_the_menu() -> None:
    events = [
        incoming(),
        event(SID, "main_menu", "8", at=at(10), detalle="autoridad"),
        event(SID, "main_menu", "2", at=at(20), detalle="informacion"),
    ]
    row = build_row(SID, events)
    assert (row["tipo_usuario"], row["detalle"]) == ("autoridad", "informacion")


def test_region_chosen_in_the_menu_wins_over_the_number_s_region() -> None:
    events = [incoming(region="Lima"), event(SID, "region", "Cusco", at=at(30))]
    assert build_row(SID, events)["region"] == "Cusco"
    assert build_row(SID, events[:1])["region"] == "Lima"


def test_language_is_espanol_unless_chosen() -> None:
    assert build_row(SID, [incoming()])["idioma"] == "es"
    assert build_row(SID, [incoming(), event(SID, "language", "ay", at=at(5))])["idioma"] == "ay"


# --- times, survey, status -----------------------------------------------------------------


def test_without_a_status_callback_the_call_ends_at_its_last_event() -> None:
    events = plataforma_answered(SID)[:-1]  # the survey (227 s) is the last event
    row = build_row(SID, events)
    assert row["duracion_seg"] == 227
    assert row["ended_at"] == at(227)
    assert row["final_status"] is None


def test_call_duration_from_twilio_is_the_duration_and_extends_the_end() -> None:
    events = [incoming(), status(30, 45)]
    row = build_row(SID, events)
    assert row["duracion_seg"] == 45
    assert row["ended_at"] == at(45)
    assert row["hora_fin"] == time(10, 0, 45)


def test_a_step_after_the_status_callback_does_not_move_the_end() -> None:
    events = [incoming(), status(30, 30), event(SID, "survey", "5", at=at(31))]
    row = build_row(SID, events)
    assert (row["ended_at"], row["duracion_seg"], row["encuesta"]) == (at(30), 30, 5)


def test_non_final_status_is_kept_but_does_not_end_the_call() -> None:
    events = [
        incoming(),
        event(SID, "status", "in-progress", at=at(5)),
        event(SID, "language", "es", at=at(9)),
    ]
    row = build_row(SID, events)
    assert (row["final_status"], row["ended_at"], row["duracion_seg"]) == ("in-progress", at(9), 9)


@pytest.mark.parametrize(
    ("choice", "encuesta"), [("1", 1), ("5", 5), (None, None), ("0", None), ("9", None)]
)
def test_survey_score_is_1_to_5_else_none(choice: str | None, encuesta: int | None) -> None:
    row = build_row(SID, [incoming(), event(SID, "survey", choice, at=at(100))])
    assert row["encuesta"] == encuesta
    assert row["journey"]["survey"] == {"at": at(100).isoformat(), "score": encuesta}


def test_times_are_lima_and_microseconds_dropped() -> None:
    start = datetime(2026, 10, 15, 4, 59, 59, 900000, tzinfo=UTC)  # 23:59:59.9 the day before
    row = build_row(SID, [event(SID, "incoming", at=start, **{"from": "+51987654321"})])
    assert (row["fecha"], row["hora_inicio"]) == (date(2026, 10, 14), time(23, 59, 59))


def test_no_events_is_an_error() -> None:
    with pytest.raises(ValueError, match="no events"):
        build_row(SID, [])


# --- the journey kept beside the row --------------------------------------------------------


def test_journey_keeps_every_step_in_time_order_and_the_events_themselves() -> None:
    events = technical_alterno(SID)
    row = build_row(SID, list(reversed(events)))
    assert [step for _at, step, _choice in row["journey"]["path"]] == [e["step"] for e in events]
    assert row["events"] == events
    assert row["event_count"] == len(events)
    assert row["journey"]["answered_by"] == "Luis Mamani"
    assert row["journey"]["dials"][0] == {
        "at": at(41).isoformat(),
        "rol": "titular",
        "anexo": "1201",
        "nombre": "Ana Torres",
    }


def test_journey_keeps_transfers_and_summary_recordings() -> None:
    url = "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE" + "c" * 32
    events = [
        incoming(),
        event(SID, "summary", at=at(30), recording_url=url),
        event(SID, "summary", at=at(31), recording_url=None),  # skipped
        event(SID, "transfer", at=at(90), to="DGPP", kind="red", by=3),
    ]
    journey = build_row(SID, events)["journey"]
    assert journey["recordings"] == [
        {"kind": "summary", "recording_sid": "RE" + "c" * 32, "recording_url": url}
    ]
    assert journey["transfers"] == [
        {"at": at(90).isoformat(), "to": "DGPP", "kind": "red", "by": 3}
    ]


@pytest.mark.parametrize(
    "journey", [plataforma_answered, technical_alterno, abandoned_in_queue, closed_voicemail]
)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_journey_reordered_and_duplicated_gives_the_same_row(
    journey: Journey, seed: int
) -> None:
    events = journey(SID)
    expected = build_row(SID, events)
    rng = random.Random(seed)
    delivery = events + rng.sample(events, 3) + [dict(e) for e in rng.sample(events, 2)]
    rng.shuffle(delivery)
    assert build_row(SID, delivery) == expected


def test_events_at_the_same_time_are_ordered_by_id() -> None:
    first = event(SID, "incoming", at=T0, **{"from": "+51987654321"})
    second = event(SID, "language", "qu", at=T0)
    third = event(SID, "language", "ay", at=T0)
    first["id"], second["id"], third["id"] = "a", "b", "c"
    for delivery in ([first, second, third], [third, second, first], [second, third, first]):
        row = build_row(SID, delivery)
        assert [e["id"] for e in row["events"]] == ["a", "b", "c"]
        assert row["idioma"] == "ay"


def test_times_with_other_offsets_or_as_datetimes_are_read_as_utc() -> None:
    events = plataforma_answered(SID)
    expected = build_row(SID, events)
    events[0]["at"] = T0.astimezone(timezone(timedelta(hours=-5))).isoformat()  # 10:00-05:00
    events[1]["at"] = at(8)
    row = build_row(SID, events)
    for key in COLUMNS:
        assert row[key] == expected[key], key
    assert row["events"][1]["at"] == at(8).isoformat()


# --- odd field values (issue 15) -------------------------------------------------------------

SIP_CALLER = "sip:+51987654321@mef-atencion.sip.us1.twilio.com"


def _odd_call() -> list[dict[str, Any]]:
    """A call whose fields hold control characters (NUL, a line break, DEL, a C1 control)."""
    events = plataforma_answered(SID)
    events[0]["data"] = {"from": "+5198765\x004321", "to": "+5113115930", "region": "Li\x00ma"}
    events[2]["data"] = {"detalle": "estado_tramite\x00"}
    events[3]["data"] = {"expediente": "2026-\x000012345\n"}
    events[6]["data"] = {"agent_id": 3, "nombre": "Rosa\x7f Quispe\x85", "wait_seconds": 15}
    events[-1]["choice"] = "completed\x00"
    return events


def test_control_characters_are_stripped_from_every_text_value_of_the_row() -> None:
    row = build_row(SID, _odd_call())
    assert row["telefono"] == "+51987654321"
    assert row["region"] == "Lima"
    assert row["detalle"] == "estado_tramite"
    assert row["expediente"] == "2026-0012345"
    assert row["atendido_por"] == "Rosa Quispe"
    assert row["final_status"] == "completed"
    texts = [value for value in row.values() if isinstance(value, str)]
    assert texts and all(value.isprintable() for value in texts)


def test_control_characters_stay_in_the_journey_events_as_received() -> None:
    events = _odd_call()
    row = build_row(SID, events)
    assert row["events"][0]["data"]["from"] == "+5198765\x004321"
    assert row["journey"]["answered_by"] == "Rosa Quispe"


def test_printable_text_is_kept_as_is() -> None:
    events = plataforma_answered(SID)
    events[6]["data"] = {"agent_id": 3, "nombre": "Rosa Quispe Ñahui\u00a0(quechua)"}
    assert build_row(SID, events)["atendido_por"] == "Rosa Quispe Ñahui\u00a0(quechua)"


def test_a_long_sip_caller_id_is_kept_whole() -> None:
    events = plataforma_answered(SID)
    events[0]["data"] = {"from": SIP_CALLER, "to": "+5113115930", "region": None}
    row = build_row(SID, events)
    assert row["telefono"] == SIP_CALLER
    assert row["region"] is None


def test_a_call_with_control_characters_is_registered(session: Session) -> None:
    ingest_events(session, _odd_call())
    session.expire_all()
    stored = session.scalars(select(RegisterCall).where(RegisterCall.call_sid == SID)).one()
    assert (stored.telefono, stored.atendido_por) == ("+51987654321", "Rosa Quispe")
    assert stored.resultado == "atendida"
    assert stored.event_count == len(_odd_call())


def test_an_authority_sent_to_the_visits_module_shows_in_detalle_and_the_journey() -> None:
    # issue 11.9: atención presencial is in the row, not only in the journey; the call was
    # answered by the agent, so its resultado is atendida (PRODUCT.md's values)
    visita = {
        "nombre": "Rosa Mamani",
        "entidad": "Gobierno Regional de Puno",
        "organo": "DGPP",
        "organo_nombre": "Presupuesto Público",
        "cita": "2026-10-20T10:30:00-05:00",
    }
    events = [
        incoming(),
        event(SID, "main_menu", "8", at=at(10), detalle="autoridad"),
        event(SID, "queued", at=at(12), priority="authority", language="es"),
        event(SID, "agent_answered", at=at(40), agent_id=1, nombre="Ana", wait_seconds=28),
        event(
            SID,
            "transfer",
            at=at(200),
            to="modulo_visitas",
            kind="presencial",
            by="Ana",
            visita=visita,
        ),
        status(230, duration=230),
    ]
    row = build_row(SID, events)
    assert (row["tipo_usuario"], row["resultado"]) == ("autoridad", "atendida")
    assert row["detalle"] == "atencion_presencial"
    [transfer] = row["journey"]["transfers"]
    assert transfer["kind"] == "presencial" and transfer["visita"] == visita
