"""mailer.py against a real SMTP server on loopback: STARTTLS, login, the message read back."""

from __future__ import annotations

import smtplib

import pytest

import mailer
from tests.smtp_server import SmtpServer


def _settings(server: SmtpServer, **changes: object) -> mailer.SmtpSettings:
    return mailer.SmtpSettings.from_config({**server.config(), **changes})


def test_a_message_goes_out_over_starttls_with_the_login(smtp_server: SmtpServer) -> None:
    message_id = mailer.send(
        _settings(smtp_server),
        ["aquispe@mef.gob.pe", "jrojas@mef.gob.pe"],
        "Llamada técnica no atendida",
        "Órgano: DGPP. Teléfono: +51 9** *** 321.",
        message_id="<CA1@red-atencion.mef.gob.pe>",
    )
    [got] = smtp_server.received
    assert got.envelope_to == ["aquispe@mef.gob.pe", "jrojas@mef.gob.pe"]
    assert got.message["Subject"] == "Llamada técnica no atendida"
    assert got.message["From"] == "red-atencion@mef.gob.pe"
    assert got.message["Message-ID"] == message_id == "<CA1@red-atencion.mef.gob.pe>"
    assert got.message.get_content().strip() == "Órgano: DGPP. Teléfono: +51 9** *** 321."


def test_mail_from_wins_over_smtp_from(smtp_server: SmtpServer) -> None:
    mailer.send(_settings(smtp_server, MAIL_FROM="ogdau@mef.gob.pe"), ["a@mef.gob.pe"], "s", "b")
    assert smtp_server.received[0].message["From"] == "ogdau@mef.gob.pe"


def test_a_wrong_password_is_refused(smtp_server: SmtpServer) -> None:
    with pytest.raises(smtplib.SMTPAuthenticationError):
        mailer.send(_settings(smtp_server, SMTP_PASSWORD="otra"), ["a@mef.gob.pe"], "s", "b")
    assert smtp_server.received == []


def test_without_starttls_the_server_refuses_the_login(smtp_server: SmtpServer) -> None:
    with pytest.raises(smtplib.SMTPException):
        mailer.send(_settings(smtp_server, SMTP_STARTTLS=False), ["a@mef.gob.pe"], "s", "b")
    assert smtp_server.received == []


def test_an_attachment_is_read_back_whole(smtp_server: SmtpServer) -> None:
    content = b"PK\x03\x04 not really a workbook \x00\xff"
    mailer.send(
        _settings(smtp_server),
        ["aquispe@mef.gob.pe"],
        "Registro de atenciones",
        "Adjunto el Anexo 1.",
        attachments=[mailer.Attachment("anexo1-DGPP-2026-11.xlsx", content)],
    )
    [got] = smtp_server.received
    [part] = list(got.message.iter_attachments())
    assert part.get_filename() == "anexo1-DGPP-2026-11.xlsx"
    assert part.get_content_type() == mailer.XLSX_TYPE
    assert part.get_content() == content
    body = got.message.get_body(preferencelist=("plain",))
    assert body is not None and body.get_content().strip() == "Adjunto el Anexo 1."
