"""The /voice/* webhooks, through signed requests: every step, every wrong-input path,
replays, and the safe route when Redis or the database is down."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import config as settings
from app import create_app
from extensions import Base, db, redis_store
from ivr import hours, prompts
from ivr import state as call_state
from register import sink_of
from register.events import flush_outbox
from register.models import CallbackRequest, RegisterCall, RegisterOutbox, VoiceMessage
from tests.conftest import Journey, TwilioSigner, call_params
from tests.ivr.helpers import (
    OPEN,
    add_organo,
    enqueued,
    gather_action,
    lima,
    load_directory,
    said,
    twiml,
    verbs,
)
from tests.smtp_server import SmtpServer

SID = "CA" + "0" * 32


@pytest.fixture(autouse=True)
def open_line(app: Flask, session: Session) -> None:
    load_directory(session)
    app.config["IVR_NOW"] = OPEN


class Call:
    """One call's signed requests."""

    def __init__(self, twilio: TwilioSigner, sid: str = SID, **fields: Any) -> None:
        self.twilio = twilio
        self.sid = sid
        self.fields = fields

    def post(self, path: str, **fields: Any) -> Any:
        return twiml(self.twilio.post(path, call_params(self.sid, **(self.fields | fields))))

    def key(self, path: str, digits: str) -> Any:
        return self.post(path, Digits=digits)


@pytest.fixture
def call(twilio: TwilioSigner) -> Call:
    return Call(twilio)


def to_main_menu(call: Call) -> None:
    call.post("/voice/incoming")
    call.key("/voice/language?try=1", "1")


def to_dial(call: Call, organo_key: str = "1") -> Any:
    to_main_menu(call)
    call.key("/voice/menu?try=1", "3")
    call.key("/voice/organos?page=0&try=1", organo_key)
    return call.post("/voice/technical/summary?skipped=1")


# --- Signatures -------------------------------------------------------------------------

ENDPOINTS = [
    "/voice/incoming",
    "/voice/status",
    "/voice/fallback",
    "/voice/closed?try=1",
    "/voice/callback/confirm?try=1",
    "/voice/callback/number?try=1",
    "/voice/voicemail/done",
    "/voice/voicemail/recording",
    "/voice/language?try=1",
    "/voice/menu?try=1",
    "/voice/expediente?try=1",
    "/voice/expediente/confirm?try=1",
    "/voice/preferential?try=1",
    "/voice/organos?page=0&try=1",
    "/voice/technical/summary",
    "/voice/technical/whisper?call=CA1&leg=titular",
    "/voice/technical/whisper/accept?call=CA1&leg=titular",
    "/voice/technical/dial-result?leg=titular",
    "/voice/conectamef/departments?page=0&try=1",
    "/voice/conectamef/result",
    "/voice/survey",
    "/voice/survey/answer?try=1",
]


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize("how", ["unsigned", "badly_signed", "signed_for_another_path"])
def test_bad_signature_gets_403_and_records_nothing(
    twilio: TwilioSigner,
    journey: Journey,
    redis_client: redis.Redis,
    session: Session,
    path: str,
    how: str,
) -> None:
    params = call_params(SID, Digits="1", DialCallStatus="completed", RecordingUrl="https://x")
    rows_before = row_counts(session)
    if how == "unsigned":
        response = twilio.post_unsigned(path, params)
    elif how == "badly_signed":
        response = twilio.post_badly_signed(path, params)
    else:
        signature = twilio.signature("/voice/other", params)
        response = twilio.client.post(path, data=params, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 403
    assert journey.events == []
    assert redis_client.keys("*") == []  # nothing read or written: not even the call's state
    assert row_counts(session) == rows_before


def row_counts(session: Session) -> dict[str, int]:
    session.rollback()
    return {
        table.name: session.scalar(select(func.count()).select_from(table)) or 0
        for table in Base.metadata.sorted_tables
    }


def test_every_voice_endpoint_is_in_the_signature_test(app: Flask) -> None:
    rules = {r.rule for r in app.url_map.iter_rules() if r.endpoint.startswith("voice.")}
    assert rules == {p.split("?")[0] for p in ENDPOINTS}


# --- Greeting, hours -------------------------------------------------------------------


def test_incoming_greets_with_the_registered_notice_and_asks_the_language(
    call: Call, journey: Journey
) -> None:
    root = call.post("/voice/incoming")
    assert "será registrada" in said(root)
    assert gather_action(root) == "/voice/language?try=1"
    say = root.find("Say")
    assert say is not None and (say.get("voice"), say.get("language")) == ("Polly.Mia", "es-MX")
    assert journey.steps() == ["incoming"]


def test_tts_voice_and_language_come_from_the_settings(app: Flask, call: Call) -> None:
    app.config.update(TTS_VOICE="Polly.Lupe", TTS_LANGUAGE="es-US")
    say = call.post("/voice/incoming").find("Say")
    assert say is not None and (say.get("voice"), say.get("language")) == ("Polly.Lupe", "es-US")


def test_incoming_keeps_the_landline_region(call: Call, journey: Journey) -> None:
    call.fields["From"] = "+5154212345"
    call.post("/voice/incoming")
    state = call_state.load(redis_store.client, SID)
    assert state is not None and state.region == "Arequipa"
    assert journey.of("incoming")[0]["data"] == {
        "from": "+5154212345",
        "to": "+5113115930",
        "region": "Arequipa",
    }


@pytest.mark.parametrize(
    ("moment", "reason", "heard"),
    [
        ("2026-11-26 16:31", "fuera_de_horario", "fuera del horario"),
        ("2026-11-26 08:29", "fuera_de_horario", "fuera del horario"),
        ("2026-11-28 10:00", "fuera_de_horario", "fuera del horario"),  # Saturday
        ("2026-12-08 10:00", "feriado", "feriado"),  # Inmaculada Concepción
    ],
)
def test_closed_says_why_and_the_hours_then_offers_callback_or_message(
    app: Flask, call: Call, journey: Journey, moment: str, reason: str, heard: str
) -> None:
    app.config["IVR_NOW"] = lima(moment)
    root = call.post("/voice/incoming")
    assert heard in said(root)
    assert "de lunes a viernes, de 8:30 a 16:30" in said(root)
    assert gather_action(root) == "/voice/closed?try=1"
    assert journey.of("closed")[0]["data"] == {"reason": reason}


def test_a_closure_day_set_by_an_admin_closes_the_line(
    call: Call, session: Session, journey: Journey
) -> None:
    hours.close_day(session, date(2026, 11, 26), "Inventario")
    call.post("/voice/incoming")
    assert journey.of("closed")[0]["data"] == {"reason": "cierre"}


def test_holidays_stay_open_when_the_admin_says_so(
    app: Flask, call: Call, session: Session
) -> None:
    app.config["IVR_NOW"] = lima("2026-12-08 10:00")
    hours.set_close_on_holidays(session, False)
    assert gather_action(call.post("/voice/incoming")) == "/voice/language?try=1"


def test_hours_set_by_an_admin_win_over_the_environment(
    app: Flask, call: Call, session: Session
) -> None:
    hours.set_service_hours(session, "mon-fri 08:30-13:00;mon-fri 14:00-16:30;sat 09:00-12:00")
    app.config["IVR_NOW"] = lima("2026-11-26 13:30")
    root = call.post("/voice/incoming")
    assert (
        "de lunes a viernes, de 8:30 a 13:00 y de 14:00 a 16:30; los sábados, de 9:00 a 12:00"
        in said(root)
    )
    app.config["IVR_NOW"] = lima("2026-11-28 10:00")
    assert gather_action(Call(call.twilio, "CA" + "2" * 32).post("/voice/incoming")).startswith(
        "/voice/language"
    )


# --- Closed: callback and voice message ---------------------------------------------------


@pytest.fixture
def closed_call(app: Flask, call: Call) -> Call:
    app.config["IVR_NOW"] = lima("2026-11-26 18:00")
    call.post("/voice/incoming")
    return call


def test_callback_reads_back_the_caller_id_and_stores_it_once(
    closed_call: Call, session: Session, journey: Journey
) -> None:
    root = closed_call.key("/voice/closed?try=1", "1")
    assert "9 8 7 6 5 4 3 2 1" in said(root)
    assert gather_action(root) == "/voice/callback/confirm?try=1"
    for _ in range(2):  # Twilio retries the same request
        root = closed_call.key("/voice/callback/confirm?try=1", "1")
        assert verbs(root)[-1] == "Hangup"
    row = session.scalars(select(CallbackRequest)).one()
    assert (row.telefono, row.source, row.due_date) == (
        "+51987654321",
        "fuera_de_horario",
        date(2026, 11, 27),
    )
    assert [e["data"] for e in journey.of("callback_requested")] == [
        {"source": "fuera_de_horario", "telefono": "+51987654321"}
    ]


def test_callback_to_another_number_is_checked_and_read_back(
    closed_call: Call, session: Session
) -> None:
    closed_call.key("/voice/closed?try=1", "1")
    root = closed_call.key("/voice/callback/confirm?try=1", "2")
    assert gather_action(root) == "/voice/callback/number?try=1"
    root = closed_call.key("/voice/callback/number?try=1", "12345")
    assert "no es válido" in said(root)
    assert gather_action(root) == "/voice/callback/number?try=2"
    root = closed_call.key("/voice/callback/number?try=2", "014123456")
    assert "1 4 1 2 3 4 5 6" in said(root)
    closed_call.key("/voice/callback/confirm?try=1", "1")
    assert session.scalars(select(CallbackRequest.telefono)).one() == "+5114123456"


def test_anonymous_caller_is_asked_for_a_number(app: Flask, twilio: TwilioSigner) -> None:
    app.config["IVR_NOW"] = lima("2026-11-26 18:00")
    anonymous = Call(twilio, From="anonymous")
    anonymous.post("/voice/incoming")
    assert gather_action(anonymous.key("/voice/closed?try=1", "1")) == (
        "/voice/callback/number?try=1"
    )


def test_closed_menu_three_wrong_keys_says_goodbye(closed_call: Call, journey: Journey) -> None:
    assert gather_action(closed_call.key("/voice/closed?try=1", "7")) == "/voice/closed?try=2"
    assert gather_action(closed_call.key("/voice/closed?try=2", "")) == "/voice/closed?try=3"
    root = closed_call.key("/voice/closed?try=3", "5")
    assert verbs(root)[-1] == "Hangup" and not enqueued(root)
    assert [e["choice"] for e in journey.of("closed_option")] == [None]


def test_voicemail_records_after_the_notice_and_stores_the_recording(
    app: Flask, closed_call: Call, session: Session, journey: Journey
) -> None:
    root = closed_call.key("/voice/closed?try=1", "2")
    assert "será grabado" in said(root)
    record = root.find("Record")
    assert record is not None
    assert record.get("action") == "/voice/voicemail/done"
    assert record.get("recordingStatusCallback") == (
        "https://ivr.example.test/voice/voicemail/recording"
    )
    assert record.get("finishOnKey") == "#"
    url = "https://api.twilio.com/Recordings/RE1"
    closed_call.post("/voice/voicemail/done", RecordingUrl=url, RecordingDuration="14")
    for _ in range(2):
        closed_call.post(
            "/voice/voicemail/recording",
            RecordingSid="RE1",
            RecordingUrl=url,
            RecordingDuration="14",
            RecordingStatus="completed",
        )
    message = session.scalars(select(VoiceMessage)).one()
    assert (message.recording_sid, message.recording_url, message.duration_seconds) == (
        "RE1",
        url,
        14,
    )
    assert message.due_date == date(2026, 11, 27)
    assert len(journey.of("voicemail")) == 1


# --- Language and main menu --------------------------------------------------------------


@pytest.mark.parametrize(
    ("digits", "language"), [("1", "es"), ("", "es"), ("2", "qu"), ("3", "ay")]
)
def test_language_choice_leads_to_the_main_menu(
    call: Call, journey: Journey, digits: str, language: str
) -> None:
    call.post("/voice/incoming")
    root = call.key("/voice/language?try=1", digits)
    assert gather_action(root) == "/voice/menu?try=1"
    assert journey.of("language")[0]["choice"] == language


def test_quechua_prompts_are_played_from_the_catalogue(call: Call, session: Session) -> None:
    prompts.set_audio(session, "main_menu", "qu", "https://cdn.mef.gob.pe/qu/main_menu.mp3")
    call.post("/voice/incoming")
    root = call.key("/voice/language?try=1", "2")
    plays = [p.text for p in root.iter("Play")]
    assert plays == ["https://cdn.mef.gob.pe/qu/main_menu.mp3"]


def test_a_missing_recording_falls_back_to_spanish_and_is_logged(
    call: Call, caplog: pytest.LogCaptureFixture
) -> None:
    call.post("/voice/incoming")
    root = call.key("/voice/language?try=1", "3")
    assert "Para una consulta técnica, marque 3" in said(root)
    assert "prompt main_menu has no recording in ay" in caplog.text


@pytest.mark.parametrize(
    ("key", "detalle", "next_action"),
    [
        ("1", "estado_tramite", "/voice/expediente?try=1"),
        ("3", "consulta_tecnica", "/voice/organos?page=0&try=1"),
        ("4", "conectamef", "/voice/conectamef/departments?page=0&try=1"),
        ("9", "preferencial", "/voice/preferential?try=1"),
    ],
)
def test_main_menu_keys_lead_to_their_next_step(
    call: Call, journey: Journey, key: str, detalle: str, next_action: str
) -> None:
    to_main_menu(call)
    assert gather_action(call.key("/voice/menu?try=1", key)) == next_action
    assert journey.of("main_menu")[0]["data"] == {"detalle": detalle}


@pytest.mark.parametrize(
    ("key", "reason", "tipo_usuario"),
    [("2", "menu", "ciudadano"), ("0", "menu", "ciudadano"), ("8", "authority", "autoridad")],
)
def test_main_menu_keys_to_the_plataforma(
    call: Call, journey: Journey, key: str, reason: str, tipo_usuario: str
) -> None:
    to_main_menu(call)
    root = call.key("/voice/menu?try=1", key)
    assert enqueued(root)
    assert journey.of("plataforma")[0]["data"] == {"reason": reason}
    state = call_state.load(redis_store.client, SID)
    assert state is not None and state.tipo_usuario == tipo_usuario


def test_star_repeats_the_main_menu_without_counting_a_try(call: Call) -> None:
    to_main_menu(call)
    root = call.key("/voice/menu?try=2", "*")
    assert gather_action(root) == "/voice/menu?try=2"
    assert "Para repetir, marque asterisco" in said(root)


@pytest.mark.parametrize(
    ("path", "wrong"),
    [
        ("/voice/language?try={n}", "7"),
        ("/voice/menu?try={n}", "5"),
        ("/voice/menu?try={n}", ""),
        ("/voice/expediente?try={n}", "12"),
        ("/voice/expediente?try={n}", ""),
        ("/voice/preferential?try={n}", "4"),
        ("/voice/organos?page=0&try={n}", "9"),
        ("/voice/conectamef/departments?page=0&try={n}", "7"),
    ],
)
def test_wrong_key_or_no_input_three_times_goes_to_plataforma(
    call: Call, journey: Journey, path: str, wrong: str
) -> None:
    to_main_menu(call)
    for n in (1, 2):
        root = call.key(path.format(n=n), wrong)
        assert gather_action(root) == path.format(n=n + 1)
        assert ("no es válid" if wrong else "No recibimos") in said(root)
    root = call.key(path.format(n=3), wrong)
    assert enqueued(root)
    assert journey.of("plataforma")[0]["data"] == {"reason": "wrong_input"}


def test_a_replayed_menu_request_records_one_event(call: Call, journey: Journey) -> None:
    to_main_menu(call)
    first = call.key("/voice/menu?try=1", "2")
    again = call.key("/voice/menu?try=1", "2")
    assert [v for v in verbs(first)] == verbs(again)
    assert len(journey.of("main_menu")) == 1
    assert len(journey.of("plataforma")) == 1


# --- Expediente, preferential ---------------------------------------------------------------


def test_expediente_is_read_back_digit_by_digit_and_confirmed(call: Call, journey: Journey) -> None:
    to_main_menu(call)
    call.key("/voice/menu?try=1", "1")
    root = call.key("/voice/expediente?try=1", "0045123")
    assert "0 0 4 5 1 2 3" in said(root)
    assert gather_action(root) == "/voice/expediente/confirm?try=1"
    root = call.key("/voice/expediente/confirm?try=1", "2")
    assert gather_action(root) == "/voice/expediente?try=1"
    call.key("/voice/expediente?try=1", "0045124")
    assert enqueued(call.key("/voice/expediente/confirm?try=1", "1"))
    assert [e["data"]["expediente"] for e in journey.of("expediente")] == ["0045124"]
    state = call_state.load(redis_store.client, SID)
    assert state is not None and state.expediente == "0045124"


@pytest.mark.parametrize("digits", ["123", "1234567890123", "12*4"])
def test_an_invalid_expediente_is_explained(call: Call, digits: str) -> None:
    to_main_menu(call)
    call.key("/voice/menu?try=1", "1")
    root = call.key("/voice/expediente?try=1", digits)
    assert "de 4 a 12 dígitos" in said(root)
    assert gather_action(root) == "/voice/expediente?try=2"


@pytest.mark.parametrize(
    ("key", "reason"), [("1", "gestante"), ("2", "adulto_mayor"), ("3", "discapacidad")]
)
def test_preferential_reason_goes_to_plataforma(
    call: Call, journey: Journey, key: str, reason: str
) -> None:
    to_main_menu(call)
    call.key("/voice/menu?try=1", "9")
    assert enqueued(call.key("/voice/preferential?try=1", key))
    state = call_state.load(redis_store.client, SID)
    assert state is not None and state.preferencial == reason
    assert journey.of("plataforma")[0]["data"] == {"reason": "preferential"}


def test_preferential_caller_is_never_dialed_out(call: Call, journey: Journey) -> None:
    to_main_menu(call)
    call.key("/voice/menu?try=1", "3")
    call.key("/voice/organos?page=0&try=1", "1")
    state = call_state.load(redis_store.client, SID)
    assert state is not None
    state.preferencial = "gestante"
    call_state.save(redis_store.client, state)
    root = call.post("/voice/technical/summary?skipped=1")
    assert enqueued(root) and root.find("Dial") is None


def test_quechua_technical_caller_is_served_at_the_plataforma(call: Call, journey: Journey) -> None:
    call.post("/voice/incoming")
    call.key("/voice/language?try=1", "2")
    assert enqueued(call.key("/voice/menu?try=1", "3"))
    assert journey.of("plataforma")[0]["data"] == {"reason": "language"}


# --- Órgano menu ------------------------------------------------------------------------


def test_organo_menu_lists_active_organos_in_order_paged_by_eight(
    call: Call, session: Session
) -> None:
    for n in range(4, 11):
        add_organo(session, f"ORG{n}", f"Órgano {n}", n, f"1{n:02d}1", None)
    add_organo(session, "OLD", "Órgano inactivo", 0, "1999", None).activo = False
    session.commit()
    to_main_menu(call)
    root = call.key("/voice/menu?try=1", "3")
    text = said(root)
    assert "Para Presupuesto Público, marque 1" in text
    assert "Para Órgano 8, marque 8" in text
    assert "inactivo" not in text and "Órgano 9" not in text
    assert "más opciones, marque 9" in text
    root = call.key("/voice/organos?page=0&try=1", "9")
    assert "Para Órgano 9, marque 1" in said(root) and "Para Órgano 10, marque 2" in said(root)
    assert "más opciones" not in said(root)
    assert gather_action(root) == "/voice/organos?page=1&try=1"
    assert gather_action(call.key("/voice/organos?page=1&try=1", "*")) == (
        "/voice/organos?page=0&try=1"
    )
    assert gather_action(call.key("/voice/organos?page=0&try=1", "*")) == "/voice/menu?try=1"
    assert enqueued(call.key("/voice/organos?page=0&try=1", "0"))


def test_choosing_an_organo_announces_the_specialist_and_offers_a_summary(
    call: Call, journey: Journey
) -> None:
    to_main_menu(call)
    call.key("/voice/menu?try=1", "3")
    root = call.key("/voice/organos?page=0&try=1", "1")
    assert "especialista de Presupuesto Público" in said(root)
    record = root.find("Record")
    assert record is not None
    assert (record.get("maxLength"), record.get("finishOnKey")) == ("30", "#")
    assert record.get("action") == "/voice/technical/summary"
    redirect = root.find("Redirect")
    assert redirect is not None and redirect.text == "/voice/technical/summary?skipped=1"
    assert journey.of("organo")[0]["choice"] == "DGPP"


# --- Dialing the Red member ---------------------------------------------------------------


def test_titular_is_dialed_over_sip_with_a_whisper(call: Call, journey: Journey) -> None:
    root = to_dial(call)
    dial = root.find("Dial")
    assert dial is not None and dial.get("action") == "/voice/technical/dial-result?leg=titular"
    sip = dial.find("Sip")
    assert sip is not None and sip.text == "sip:1201@pbx.mef.gob.pe"
    assert sip.get("url") == (
        f"https://ivr.example.test/voice/technical/whisper?call={SID}&leg=titular"
    )
    assert journey.of("dial")[0]["data"] == {"anexo": "1201", "nombre": "Titular de DGPP"}


def test_switchboard_number_dials_the_anexo_as_digits(app: Flask, call: Call) -> None:
    app.config["ANEXO_DIAL"] = "+5113115930"
    number = to_dial(call).find("Dial/Number")
    assert number is not None and number.text == "+5113115930"
    assert number.get("sendDigits") == "ww1201"
    assert number.get("url", "").startswith("https://ivr.example.test/voice/technical/whisper?")


def test_organo_without_titular_dials_the_alterno(call: Call) -> None:
    sip = to_dial(call, organo_key="3").find("Dial/Sip")
    assert sip is not None and sip.text == "sip:1402@pbx.mef.gob.pe"


def test_whisper_tells_the_red_member_who_calls_and_asks_for_1(
    call: Call, twilio: TwilioSigner
) -> None:
    call.fields["From"] = "+5154212345"
    to_main_menu(call)
    call.key("/voice/menu?try=1", "3")
    call.key("/voice/organos?page=0&try=1", "1")
    call.post(
        "/voice/technical/summary", RecordingUrl="https://api.twilio.com/RE9", RecordingDuration="8"
    )
    callee = Call(twilio, "CA" + "9" * 32, ParentCallSid=SID, Direction="outbound-dial")
    root = callee.post(f"/voice/technical/whisper?call={SID}&leg=titular")
    text = said(root)
    assert "Presupuesto Público" in text and "ciudadano" in text and "Arequipa" in text
    assert [say.text for say in root.iter("Say")] == [
        prompts.DEFAULT_PROMPTS["whisper_intro"].format(
            organo="Presupuesto Público",
            tipo_usuario="ciudadano",
            region="Arequipa",
        ),
        prompts.DEFAULT_PROMPTS["whisper_summary"],
        prompts.DEFAULT_PROMPTS["whisper_accept"],
    ]
    assert [p.text for p in root.iter("Play")] == ["https://api.twilio.com/RE9"]
    assert gather_action(root) == f"/voice/technical/whisper/accept?call={SID}&leg=titular"
    assert verbs(root)[-1] == "Hangup"  # no key in time: not accepted


@pytest.mark.parametrize(("digits", "bridged"), [("1", True), ("2", False), ("", False)])
def test_whisper_accepts_only_with_1(twilio: TwilioSigner, digits: str, bridged: bool) -> None:
    callee = Call(twilio, "CA" + "9" * 32)
    root = callee.key(f"/voice/technical/whisper/accept?call={SID}&leg=titular", digits)
    assert (verbs(root) == []) is bridged
    assert (verbs(root) == ["Hangup"]) is not bridged


def test_titular_no_answer_dials_alterno(call: Call, journey: Journey) -> None:
    to_dial(call)
    root = call.post("/voice/technical/dial-result?leg=titular", DialCallStatus="no-answer")
    sip = root.find("Dial/Sip")
    assert sip is not None and sip.text == "sip:1202@pbx.mef.gob.pe"
    assert journey.of("dial_result")[0]["data"] == {"outcome": "no-answer", "duration": 0}


@pytest.mark.parametrize("status", ["busy", "failed", "canceled", "completed"])
def test_titular_failing_or_not_accepting_dials_alterno(
    call: Call, journey: Journey, status: str
) -> None:
    to_dial(call)
    root = call.post("/voice/technical/dial-result?leg=titular", DialCallStatus=status)
    assert root.find("Dial/Sip") is not None
    expected = "not-accepted" if status == "completed" else status
    assert journey.of("dial_result")[0]["data"]["outcome"] == expected


def test_accepted_call_goes_to_the_survey_afterwards(
    call: Call, twilio: TwilioSigner, journey: Journey
) -> None:
    to_dial(call)
    Call(twilio, "CA" + "9" * 32).key(
        f"/voice/technical/whisper/accept?call={SID}&leg=titular", "1"
    )
    root = call.post(
        "/voice/technical/dial-result?leg=titular",
        DialCallStatus="completed",
        DialCallDuration="95",
    )
    redirect = root.find("Redirect")
    assert redirect is not None and redirect.text == "/voice/survey"
    assert journey.of("dial_result")[0]["data"] == {"outcome": "accepted", "duration": 95}


def test_alterno_failing_too_goes_to_plataforma_marked_route_failed(
    call: Call, journey: Journey
) -> None:
    to_dial(call)
    call.post("/voice/technical/dial-result?leg=titular", DialCallStatus="busy")
    root = call.post("/voice/technical/dial-result?leg=alterno", DialCallStatus="no-answer")
    assert enqueued(root)
    assert journey.of("plataforma")[0]["data"] == {"reason": "route_failed"}


def test_a_technical_call_both_red_members_miss_is_mailed_to_them_by_the_worker(
    app: Flask, call: Call, journey: Journey, smtp_server: SmtpServer, work: Any
) -> None:
    # issue 11.10: the Red members of the órgano hear of it, by e-mail, from the worker
    app.config.update(smtp_server.config())
    recording = "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE" + "a" * 32
    to_main_menu(call)
    call.key("/voice/menu?try=1", "3")
    call.key("/voice/organos?page=0&try=1", "1")
    call.post("/voice/technical/summary", RecordingUrl=recording, RecordingDuration="12")
    call.post("/voice/technical/dial-result?leg=titular", DialCallStatus="busy")
    work()
    assert smtp_server.received == []  # the alterno may still take it
    root = call.post("/voice/technical/dial-result?leg=alterno", DialCallStatus="no-answer")
    assert enqueued(root)
    assert smtp_server.received == []  # never from the webhook
    [missed] = journey.of("red_missed")
    assert missed["choice"] == "DGPP" and missed["data"]["summary_url"] == recording
    # on the mail queue: a slow SMTP server never holds up the routing worker's queue
    assert [job.func_name for job in redis_store.queue("mail").jobs] == [
        "register.jobs.mail_red_missed"
    ]
    assert "register.jobs.mail_red_missed" not in {
        job.func_name for job in redis_store.queue("default").jobs
    }
    work()
    [mail] = smtp_server.received
    assert mail.envelope_to == ["titular.dgpp@mef.gob.pe", "alterno.dgpp@mef.gob.pe"]
    assert mail.message["Subject"] == "Consulta técnica no atendida (DGPP) - Red de Atención MEF"
    body = mail.message.get_content()
    assert "Una consulta técnica para Presupuesto Público (DGPP) no fue atendida" in body
    assert "Teléfono: +51 9** *** 321" in body and "Tipo de usuario: ciudadano" in body
    assert f"Resumen grabado: {recording}" in body and f"Código de la llamada: {SID}" in body
    # Twilio sends the action again: one e-mail all the same
    call.post("/voice/technical/dial-result?leg=alterno", DialCallStatus="no-answer")
    work()
    assert len(smtp_server.received) == 1


def test_an_accepted_technical_call_mails_no_one(
    app: Flask, call: Call, twilio: TwilioSigner, smtp_server: SmtpServer, work: Any
) -> None:
    app.config.update(smtp_server.config())
    to_dial(call)
    call.post("/voice/technical/dial-result?leg=titular", DialCallStatus="no-answer")
    Call(twilio, "CA" + "9" * 32).key(
        f"/voice/technical/whisper/accept?call={SID}&leg=alterno", "1"
    )
    call.post("/voice/technical/dial-result?leg=alterno", DialCallStatus="completed")
    work()
    assert smtp_server.received == []


def test_caller_hanging_up_while_the_titular_rings_dials_no_one_else(
    call: Call, journey: Journey
) -> None:
    to_dial(call)
    root = call.post(
        "/voice/technical/dial-result?leg=titular",
        DialCallStatus="canceled",
        CallStatus="completed",
    )
    assert verbs(root) == []
    assert journey.of("dial_result")[0]["data"]["outcome"] == "canceled"
    assert [e["choice"] for e in journey.of("dial")] == ["titular"]


def test_a_replayed_dial_result_has_no_second_side_effect(call: Call, journey: Journey) -> None:
    to_dial(call)
    first = call.post("/voice/technical/dial-result?leg=titular", DialCallStatus="no-answer")
    again = call.post("/voice/technical/dial-result?leg=titular", DialCallStatus="no-answer")
    assert verbs(first) == verbs(again)
    assert len(journey.of("dial_result")) == 1
    assert [e["choice"] for e in journey.of("dial")] == ["titular", "alterno"]


# --- CONECTAMEF --------------------------------------------------------------------------


def test_landline_caller_is_transferred_to_the_center_of_its_department(
    call: Call, journey: Journey
) -> None:
    call.fields["From"] = "+5184201234"  # Cusco
    to_main_menu(call)
    root = call.key("/voice/menu?try=1", "4")
    number = root.find("Dial/Number")
    assert number is not None and number.text == "+5184234567"
    assert "CONECTAMEF Cusco" in said(root)
    assert journey.of("conectamef")[0]["data"] == {"telefono": "+5184234567"}


def test_mobile_caller_chooses_the_department(call: Call, journey: Journey) -> None:
    to_main_menu(call)
    root = call.key("/voice/menu?try=1", "4")
    assert "Para Arequipa, marque 1" in said(root) and "Para Cusco, marque 2" in said(root)
    root = call.key("/voice/conectamef/departments?page=0&try=1", "1")
    number = root.find("Dial/Number")
    assert number is not None and number.text == "+5154283140"
    assert journey.of("region")[0]["choice"] == "Arequipa"


@pytest.mark.parametrize(("status", "to_survey"), [("completed", True), ("no-answer", False)])
def test_conectamef_transfer_result(call: Call, status: str, to_survey: bool) -> None:
    root = call.post("/voice/conectamef/result", DialCallStatus=status)
    assert (root.find("Redirect") is not None) is to_survey
    assert enqueued(root) is not to_survey


# --- Survey and status ---------------------------------------------------------------------


def test_survey_asks_for_1_to_5(call: Call) -> None:
    root = call.post("/voice/survey")
    assert "del 1 al 5" in said(root)
    assert gather_action(root) == "/voice/survey/answer?try=1"


@pytest.mark.parametrize(
    ("path", "digits", "stored"),
    [
        ("/voice/survey/answer?try=1", "4", "4"),
        ("/voice/survey/answer?try=1", "", None),
        ("/voice/survey/answer?try=3", "8", None),
    ],
)
def test_survey_answer_or_skip_is_stored_as_the_survey_event(
    call: Call, journey: Journey, path: str, digits: str, stored: str | None
) -> None:
    root = call.key(path, digits)
    assert verbs(root)[-1] == "Hangup"
    assert [e["choice"] for e in journey.of("survey")] == [stored]


def test_survey_wrong_key_asks_again(call: Call, journey: Journey) -> None:
    root = call.key("/voice/survey/answer?try=1", "7")
    assert gather_action(root) == "/voice/survey/answer?try=2"
    assert journey.of("survey") == []


def test_status_callback_records_status_and_duration_once(call: Call, journey: Journey) -> None:
    for _ in range(2):
        call.post("/voice/status", CallStatus="completed", CallDuration="184")
    assert [(e["choice"], e["data"]) for e in journey.of("status")] == [
        ("completed", {"duration": 184})
    ]


# --- Redis or the database down --------------------------------------------------------------


@pytest.fixture
def broken_app(tmp_path: Path, app: Flask) -> Iterator[Flask]:
    cfg = settings.TestConfig()
    cfg.REDIS_URL = "redis://127.0.0.1:1/0"
    cfg.DATABASE_URL = "postgresql://nobody@127.0.0.1:1/nothing"
    cfg.INSTANCE_DIR = str(tmp_path / "instance")
    engine = db.engine
    broken = create_app(cfg)
    with broken.app_context():
        yield broken
    db.session.remove()
    if db.engine is not None:
        db.engine.dispose()
    # The extensions are shared: point them back at the test app's database and Redis.
    db.engine = engine
    db.session_factory.configure(bind=engine)
    redis_store.configure(app.config["REDIS_URL"])


def test_a_database_that_never_answers_does_not_hold_the_webhook(
    tmp_path: Path, app: Flask, tarpit: int
) -> None:
    """Issue 15: connect and statement timeouts keep every webhook well within Twilio's 15 s."""
    cfg = settings.TestConfig()
    cfg.REDIS_URL = app.config["REDIS_URL"]
    cfg.DATABASE_URL = f"postgresql://nobody@127.0.0.1:{tarpit}/hung"
    cfg.INSTANCE_DIR = str(tmp_path / "instance")
    engine = db.engine
    hung = create_app(cfg)
    hung.config["IVR_NOW"] = OPEN
    try:
        with hung.app_context():
            twilio = TwilioSigner(hung, hung.test_client())
            started = time.monotonic()
            root = twiml(twilio.post("/voice/incoming", call_params(SID)))
            assert time.monotonic() - started < 5
            # The hours and prompts fall back to their defaults: the caller gets the menu.
            assert gather_action(root) == "/voice/language?try=1"
    finally:
        if db.engine is not None:
            db.engine.dispose()
        db.engine = engine
        db.session_factory.configure(bind=engine)


@pytest.mark.parametrize("path", ["/voice/fallback", "/voice/incoming", "/voice/menu?try=1"])
def test_redis_and_database_down_still_send_the_caller_to_plataforma(
    broken_app: Flask, path: str
) -> None:
    twilio = TwilioSigner(broken_app, broken_app.test_client())
    root = twiml(twilio.post(path, call_params(SID, Digits="3")))
    assert enqueued(root)
    assert "un asesor" in said(root)


def test_redis_failing_as_a_step_ends_still_sends_the_caller_to_plataforma(
    call: Call, journey: Journey, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The step's state and events are written once the view is done: if that write fails,
    the caller gets the safe route, not the view's TwiML, and the events are kept."""
    to_main_menu(call)

    def fail(_pipe: Any, *args: Any, **kwargs: Any) -> Any:
        raise redis.ConnectionError("Redis went away (test)")

    monkeypatch.setattr("redis.client.Pipeline.execute", fail)
    root = call.key("/voice/menu?try=1", "3")
    assert enqueued(root)
    assert "un asesor" in said(root)
    assert not root.findall(".//Gather")  # not the órgano menu the view had built
    kept = db.session.execute(select(RegisterOutbox.payload)).scalars().all()
    assert [json.loads(p)["step"] for p in kept] == ["main_menu", "plataforma"]


def test_a_call_that_starts_while_redis_is_down_is_registered_completely(
    call: Call, session: Session, monkeypatch: pytest.MonkeyPatch, work: Any
) -> None:
    """Issue 11.2: the incoming event is made on the failure path too (kept in the outbox)."""

    def down(*_args: Any, **_kwargs: Any) -> Any:
        raise redis.ConnectionError("Redis is down (test)")

    with monkeypatch.context() as patched:
        patched.setattr("redis.client.Redis.get", down)
        patched.setattr("redis.client.Pipeline.execute", down)
        root = call.post("/voice/incoming", From="+5112345678")
        assert enqueued(root)
    assert session.scalar(select(func.count()).select_from(RegisterOutbox)) == 2
    assert flush_outbox(session, sink_of(call.twilio.app)) == 2
    call.post("/voice/status", CallStatus="completed", CallDuration="12")
    work()
    row = session.scalars(select(RegisterCall)).one()
    assert (row.telefono, row.region, row.resultado) == ("+5112345678", "Lima", "abandonada")
    assert row.final_status == "completed"


def test_fallback_uses_the_calls_state_when_redis_answers(call: Call, journey: Journey) -> None:
    to_main_menu(call)
    root = call.post("/voice/fallback", ErrorCode="11200")
    assert enqueued(root)
    assert journey.of("plataforma")[-1]["data"] == {"reason": "fallback"}


def test_expediente_confirmation_wrong_keys_end_at_the_plataforma(
    call: Call, journey: Journey
) -> None:
    to_main_menu(call)
    call.key("/voice/menu?try=1", "1")
    call.key("/voice/expediente?try=1", "123456")
    root = call.key("/voice/expediente/confirm?try=1", "7")
    assert gather_action(root) == "/voice/expediente/confirm?try=2"
    assert "1 2 3 4 5 6" in said(root)
    call.key("/voice/expediente/confirm?try=2", "9")
    assert enqueued(call.key("/voice/expediente/confirm?try=3", "9"))
    assert journey.of("plataforma")[0]["data"] == {"reason": "wrong_input"}
    assert journey.of("expediente") == []


def test_silence_after_the_read_back_accepts_the_expediente(
    call: Call, journey: Journey, work: Any
) -> None:
    """Issue 11.1: the caller heard the number and did not object."""
    to_main_menu(call)
    call.key("/voice/menu?try=1", "1")
    call.key("/voice/expediente?try=1", "2026123")
    root = call.key("/voice/expediente/confirm?try=1", "")
    assert enqueued(root)
    assert journey.of("plataforma")[0]["data"] == {"reason": "menu"}
    assert [e["data"] for e in journey.of("expediente")] == [{"expediente": "2026123"}]
    call.post("/voice/status", CallStatus="completed", CallDuration="30")
    work()
    row = db.session.scalars(select(RegisterCall)).one()
    assert row.expediente == "2026123"


def test_callback_confirmation_wrong_keys_say_goodbye(closed_call: Call, session: Session) -> None:
    closed_call.key("/voice/closed?try=1", "1")
    root = closed_call.key("/voice/callback/confirm?try=1", "7")
    assert gather_action(root) == "/voice/callback/confirm?try=2"
    closed_call.key("/voice/callback/confirm?try=2", "")
    root = closed_call.key("/voice/callback/confirm?try=3", "7")
    assert verbs(root)[-1] == "Hangup" and not enqueued(root)
    assert session.scalar(select(func.count()).select_from(CallbackRequest)) == 0
