"""The voice-message inbox (/buzon, `flask buzon ...`, admin/inbox.py) and the prompt
recordings uploaded on /admin/mensajes and served at /audio/."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy.orm import Session

from admin import inbox
from admin.models import User
from admin.recordings import audio_kind
from directory.audit import entries
from ivr import prompts as prompts_domain
from register.models import VoiceMessage
from tests.admin.conftest import login
from tests.admin.media import fake_twilio_media, tone_wav

TODAY = date(2026, 12, 2)


def _message(
    session: Session, n: int, *, created: datetime, due: date, url: str | None
) -> VoiceMessage:
    message = VoiceMessage(
        call_sid=f"CA{n:032d}",
        telefono="+51987654321",
        recording_url=url,
        recording_sid=f"RE{n:032d}",
        duration_seconds=12,
        created_at=created,
        due_date=due,
    )
    session.add(message)
    session.commit()
    return message


def test_list_is_newest_first_and_flags_overdue_messages(session: Session) -> None:
    old = _message(
        session, 1, created=datetime(2026, 11, 27, 20, tzinfo=UTC), due=date(2026, 11, 30), url=None
    )
    new = _message(
        session, 2, created=datetime(2026, 12, 1, 23, tzinfo=UTC), due=date(2026, 12, 2), url=None
    )
    items = inbox.list_messages(session, today=TODAY)
    assert [i.message.id for i in items] == [new.id, old.id]
    assert [i.overdue for i in items] == [False, True]
    inbox.set_status(session, old.id, "atendido", actor="rosa")
    session.commit()
    assert not inbox.list_messages(session, today=TODAY)[1].overdue
    [entry] = entries(session, "voice_message")
    assert (entry.before or {})["status"] == "pendiente" and (entry.after or {})[
        "handled_by"
    ] == "rosa"
    with pytest.raises(inbox.RuleError):
        inbox.set_status(session, old.id, "borrado", actor="rosa")


def test_buzon_page_masks_the_caller_by_role_and_records_who_changed_the_state(
    client: FlaskClient, users: dict[str, User], session: Session
) -> None:
    message = _message(
        session, 3, created=datetime(2026, 12, 1, 23, tzinfo=UTC), due=date(2026, 12, 2), url=None
    )
    login(client, "agente")
    page = client.get("/buzon").get_data(as_text=True)
    assert "+51 9** *** 321" in page and "987 654 321" not in page
    response = client.post(
        f"/buzon/{message.id}/estado", data={f"m{message.id}-status": "escuchado"}
    )
    assert response.status_code == 302
    page = client.get("/buzon").get_data(as_text=True)
    assert "por agente" in page and 'data-status="escuchado"' in page
    client.post("/admin/logout")
    login(client, "supervisor")
    assert "987 654 321" in client.get("/buzon").get_data(as_text=True)
    client.post("/admin/logout")
    login(client, "lector")
    assert client.get("/buzon").status_code == 403


def test_buzon_cli_lists_the_same_messages(runner: FlaskCliRunner, session: Session) -> None:
    message = _message(
        session, 4, created=datetime(2026, 11, 20, 23, tzinfo=UTC), due=date(2026, 11, 23), url=None
    )
    out = runner.invoke(args=["buzon", "list"])
    assert out.exit_code == 0, out.output
    assert (
        f"{message.id}\t20/11/2026 18:00\t+51 9** *** 321\t12 s\tvence 23/11/2026\tpendiente VENCIDO"
        in out.output
    )
    assert "987 654 321" in runner.invoke(args=["buzon", "list", "--completo"]).output
    assert (
        runner.invoke(
            args=["buzon", "set", str(message.id), "atendido", "--actor", "ana"]
        ).exit_code
        == 0
    )
    assert "atendido (ana)" in runner.invoke(args=["buzon", "list"]).output


def test_the_recording_is_fetched_from_twilio_with_the_account_credentials(
    app: Flask, client: FlaskClient, users: dict[str, User], session: Session
) -> None:
    wav = tone_wav(0.5)
    sid, token = app.config["TWILIO_ACCOUNT_SID"], app.config["TWILIO_AUTH_TOKEN"]
    with fake_twilio_media(sid, token, wav) as fake:
        app.config["TWILIO_MEDIA_HOSTS"] = ("127.0.0.1",)
        url = f"{fake['base']}/2010-04-01/Accounts/{sid}/Recordings/RE{5:032d}"
        message = _message(
            session, 5, created=datetime(2026, 12, 1, tzinfo=UTC), due=TODAY, url=url
        )
        login(client, "agente")
        response = client.get(f"/buzon/{message.id}/grabacion")
        assert response.status_code == 200
        assert response.data == wav and response.mimetype == "audio/wav"
        assert fake["seen"] == [(f"/2010-04-01/Accounts/{sid}/Recordings/RE{5:032d}.mp3", True)]
        # Credentials go to Twilio's hosts only: another host gets nothing.
        app.config["TWILIO_MEDIA_HOSTS"] = ()
        assert client.get(f"/buzon/{message.id}/grabacion").status_code == 404
        assert len(fake["seen"]) == 1


def _upload(
    client: FlaskClient, data: bytes, name: str, prompt: str = "main_menu", lang: str = "qu"
):
    return client.post(
        "/admin/mensajes/grabacion",
        data={"prompt_id": prompt, "language": lang, "archivo": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )


def test_an_uploaded_recording_is_served_publicly_and_used_by_the_prompt(
    app: Flask, client: FlaskClient, users: dict[str, User], session: Session
) -> None:
    login(client, "admin")
    before = client.get("/admin/mensajes").get_data(as_text=True)
    assert 'href="#p-main_menu"' in before  # main_menu still lacks its quechua recording
    wav = tone_wav(0.3)
    response = _upload(client, wav, "menu.wav")
    assert response.status_code == 302
    url = prompts_domain.render(session, "main_menu", "qu").audio_url
    assert url is not None and url.startswith("https://ivr.example.test/audio/main_menu-qu-")
    path = url.removeprefix("https://ivr.example.test")
    anonymous = app.test_client()
    served = anonymous.get(path)
    assert served.status_code == 200 and served.data == wav and served.mimetype == "audio/wav"
    assert "main_menu" not in prompts_domain.missing_recordings(session)["qu"]
    page = client.get("/admin/mensajes").get_data(as_text=True)
    assert f'<audio controls preload="none" src="{url}">' in page
    [entry] = [e for e in entries(session, "prompt") if e.entity_id == "main_menu:qu"]
    assert entry.actor == "admin:admin"
    assert anonymous.get("/audio/../app.py").status_code == 404


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (b"<html>no</html>", "menu.mp3", "no es un audio WAV ni MP3"),
        (b"", "menu.wav", "El archivo está vacío"),
    ],
)
def test_a_file_that_is_not_wav_or_mp3_is_refused_beside_the_field(
    client: FlaskClient,
    users: dict[str, User],
    session: Session,
    data: bytes,
    name: str,
    message: str,
) -> None:
    login(client, "admin")
    response = _upload(client, data, name)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert prompts_domain.render(session, "main_menu", "qu").audio_url is None


def test_a_recording_over_the_size_limit_is_refused(
    app: Flask, client: FlaskClient, users: dict[str, User], session: Session
) -> None:
    app.config["RECORDING_MAX_BYTES"] = 1000
    login(client, "admin")
    response = _upload(client, tone_wav(0.5), "menu.wav")
    assert response.status_code == 400
    assert "el máximo es" in response.get_data(as_text=True)


def test_audio_kind_reads_the_bytes_not_the_name() -> None:
    assert audio_kind(tone_wav(0.1)) == "wav"
    assert audio_kind(b"ID3\x04\x00" + b"\x00" * 20) == "mp3"
    assert audio_kind(b"\xff\xfb\x90\x64" + b"\x00" * 20) == "mp3"
    assert audio_kind(b"RIFF\x00\x00\x00\x00AVI ") is None
