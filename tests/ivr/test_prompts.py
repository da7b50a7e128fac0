"""The prompt catalogue: defaults in code, overrides and recordings in the prompts table."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy.orm import Session
from twilio.twiml.voice_response import VoiceResponse

from directory.audit import entries
from ivr.prompts import (
    DEFAULT_PROMPTS,
    PROMPT_LABELS,
    SPANISH_ONLY,
    InvalidAudioUrlError,
    UnknownPromptError,
    Voice,
    catalogue,
    check_audio_url,
    missing_recordings,
    prompt_fields,
    render,
    set_audio,
    set_text,
    speak,
)

pytestmark = pytest.mark.usefixtures("app")


def test_spanish_default_text_is_said_in_the_configured_voice(session: Session) -> None:
    response = VoiceResponse()
    speak(response, session, Voice("Polly.Mia", "es-MX"), "goodbye")
    say = response.verbs[0]
    assert say.name == "Say" and say.value == DEFAULT_PROMPTS["goodbye"]
    assert say.attrs == {"voice": "Polly.Mia", "language": "es-MX"}


def test_fields_are_filled_in(session: Session) -> None:
    assert render(session, "hours", hours="de lunes a viernes").text == (
        "Nuestro horario de atención es de lunes a viernes."
    )


def test_admin_text_replaces_the_default_without_code(session: Session) -> None:
    set_text(session, "goodbye", "es", "Gracias, hasta pronto.")
    assert render(session, "goodbye").text == "Gracias, hasta pronto."
    set_text(session, "goodbye", "es", None)
    assert render(session, "goodbye").text == DEFAULT_PROMPTS["goodbye"]


def test_recording_is_played_in_its_language(session: Session) -> None:
    set_audio(session, "goodbye", "qu", "https://cdn.mef.gob.pe/qu/goodbye.mp3")
    response = VoiceResponse()
    speak(response, session, Voice(), "goodbye", "qu")
    assert [(v.name, v.value) for v in response.verbs] == [
        ("Play", "https://cdn.mef.gob.pe/qu/goodbye.mp3")
    ]


def test_missing_recording_falls_back_to_spanish_and_warns(
    session: Session, caplog: pytest.LogCaptureFixture
) -> None:
    set_text(session, "goodbye", "es", "Hasta luego.")
    assert render(session, "goodbye", "ay").text == "Hasta luego."
    assert "prompt goodbye has no recording in ay" in caplog.text


def test_unknown_prompt_language_or_field_is_refused(session: Session) -> None:
    with pytest.raises(UnknownPromptError, match="no_such"):
        set_audio(session, "no_such", "qu", "https://x")
    with pytest.raises(UnknownPromptError, match="fr"):
        set_audio(session, "goodbye", "fr", "https://x")
    with pytest.raises(UnknownPromptError, match="hours"):
        set_text(session, "hours", "es", "Atendemos {horario}.")


def test_catalogue_lists_every_prompt_per_language(session: Session) -> None:
    set_audio(session, "main_menu", "qu", "https://cdn/qu.mp3")
    entries = catalogue(session)
    assert len(entries) == 3 * len(DEFAULT_PROMPTS)
    qu = next(e for e in entries if (e.prompt_id, e.language) == ("main_menu", "qu"))
    assert qu.audio_url == "https://cdn/qu.mp3" and qu.overridden
    assert qu.label == "Menú principal"


def test_every_prompt_id_has_a_spanish_label_for_the_admins() -> None:
    assert set(PROMPT_LABELS) == set(DEFAULT_PROMPTS)
    assert all(label.strip() for label in PROMPT_LABELS.values())
    assert len(set(PROMPT_LABELS.values())) == len(PROMPT_LABELS)  # no two read the same


def test_without_a_session_the_default_text_is_said(session: Session) -> None:
    set_text(session, "goodbye", "es", "Chau.")
    response = VoiceResponse()
    speak(response, None, Voice(), "queue_position", "qu", puesto=2)
    speak(response, None, Voice(), "goodbye")
    assert [v.value for v in response.verbs] == [
        "Usted es el número 2 en la fila.",
        DEFAULT_PROMPTS["goodbye"],
    ]


def test_prompts_cli(app: Flask, runner: FlaskCliRunner) -> None:
    url = "https://cdn.mef.gob.pe/ay/greeting.mp3"
    result = runner.invoke(args=["prompts", "set-audio", "greeting", "ay", url])
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["prompts", "set-text", "goodbye", "es", "Chau."])
    assert result.exit_code == 0, result.output
    output = runner.invoke(args=["prompts", "list", "--language", "ay"]).output
    assert f"greeting\tay\t{url}" in output
    assert "goodbye\tay\t(sin grabación: se dice en español)\tChau." in output
    result = runner.invoke(args=["prompts", "set-audio", "nope", "ay", url])
    assert result.exit_code != 0 and "flask prompts list" in result.output


@pytest.mark.parametrize(
    "url", ["ftp://cdn.mef.gob.pe/a.mp3", "cdn.mef.gob.pe/a.mp3", "https://", "https://a b.pe/x"]
)
def test_a_recording_must_be_an_http_url(session: Session, url: str) -> None:
    with pytest.raises(InvalidAudioUrlError, match="http:// o https://"):
        set_audio(session, "goodbye", "qu", url)
    assert render(session, "goodbye", "qu").audio_url is None


def test_audio_url_is_stripped() -> None:
    assert check_audio_url(" HTTPS://cdn.mef.gob.pe/a.mp3 ") == "HTTPS://cdn.mef.gob.pe/a.mp3"


def test_missing_recordings_per_language_leave_out_spanish_only_prompts(
    session: Session,
) -> None:
    set_audio(session, "greeting", "qu", "https://cdn.mef.gob.pe/qu/greeting.mp3")
    set_text(session, "goodbye", "ay", "Otro texto")  # a text is not a recording
    missing = missing_recordings(session)
    assert set(missing) == {"qu", "ay"}
    assert "greeting" not in missing["qu"] and "greeting" in missing["ay"]
    assert "goodbye" in missing["ay"]
    assert len(missing["ay"]) == len(DEFAULT_PROMPTS) - len(SPANISH_ONLY)
    assert not SPANISH_ONLY & set(missing["qu"])


def test_prompt_fields_name_what_a_text_may_use() -> None:
    assert prompt_fields("hours") == ["hours"]
    assert prompt_fields("goodbye") == []


def test_prompt_changes_with_an_actor_are_audited(session: Session) -> None:
    set_audio(session, "goodbye", "qu", "https://cdn.mef.gob.pe/qu/goodbye.mp3", actor="admin:ana")
    set_audio(session, "goodbye", "qu", "https://cdn.mef.gob.pe/qu/goodbye.mp3", actor="admin:ana")
    set_text(session, "goodbye", "qu", None, actor="admin:ana")  # unchanged: no entry
    set_audio(session, "goodbye", "qu", None, actor="admin:luis")
    logged = [(e.actor, e.entity_id, e.action, e.before, e.after) for e in entries(session)]
    url = "https://cdn.mef.gob.pe/qu/goodbye.mp3"
    assert logged == [
        ("admin:ana", "goodbye:qu", "create", None, {"text": None, "audio_url": url}),
        (
            "admin:luis",
            "goodbye:qu",
            "update",
            {"text": None, "audio_url": url},
            {"text": None, "audio_url": None},
        ),
    ]
