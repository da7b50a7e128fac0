"""The Módulo de Registro y Control de Visitas' notice (§5.5 c): once per call, by SMS through
Twilio or by e-mail."""

from __future__ import annotations

import socketserver
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from twilio.base.exceptions import TwilioRestException

from routing import authorities
from routing.models import VisitNotice
from tests.routing.conftest import sid
from tests.twilio_fake import FakeTwilio

SMS = authorities.VisitsModule(
    notify="sms", phone="+51999888777", email=None, sms_from="+5113115930"
)


def test_the_module_gets_one_sms_per_call(session: Session, fake_twilio: FakeTwilio) -> None:
    assert authorities.notify(session, SMS, sid(1), "Ana", "Autoridad en camino") == "sent"
    assert authorities.notify(session, SMS, sid(1), "Ana", "Autoridad en camino") == "already"
    [sms] = fake_twilio.of("message_create")
    assert (sms.one("To"), sms.one("Body")) == ("+51999888777", "Autoridad en camino")
    [notice] = session.scalars(select(VisitNotice)).all()
    assert notice.sent_at is not None and notice.reference and notice.reference.startswith("SM")


def test_an_sms_that_fails_is_sent_on_the_retry(session: Session, fake_twilio: FakeTwilio) -> None:
    fake_twilio.fail_next("message_create", 500)
    with pytest.raises(TwilioRestException):
        authorities.notify(session, SMS, sid(1), "Ana", "Autoridad en camino")
    assert authorities.notify(session, SMS, sid(1), "Ana", "Autoridad en camino") == "sent"
    assert len(fake_twilio.of("message_create")) == 2


class _SmtpSink(socketserver.StreamRequestHandler):
    """Just enough SMTP to take one message (HELO/EHLO, MAIL, RCPT, DATA, QUIT)."""

    received: list[str]

    def reply(self, line: str) -> None:
        self.wfile.write(f"{line}\r\n".encode())

    def handle(self) -> None:
        self.reply("220 sink")
        while raw := self.rfile.readline():
            command = raw.decode().strip().upper()
            if command.startswith(("EHLO", "HELO")):
                self.reply("250 sink")
            elif command == "DATA":
                self.reply("354 go ahead")
                lines = []
                while (data := self.rfile.readline().decode()) != ".\r\n":
                    lines.append(data)
                self.server.received.append("".join(lines))  # type: ignore[attr-defined]
                self.reply("250 queued")
            elif command == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("250 ok")


@pytest.fixture
def smtp_sink() -> Iterator[tuple[int, list[str]]]:
    server = socketserver.TCPServer(("127.0.0.1", 0), _SmtpSink)
    server.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], server.received  # type: ignore[attr-defined]
    server.shutdown()
    server.server_close()


def test_the_module_can_be_notified_by_email(
    session: Session, smtp_sink: tuple[int, list[str]], fake_twilio: FakeTwilio
) -> None:
    port, received = smtp_sink
    module = authorities.VisitsModule(
        notify="email",
        phone=None,
        email="visitas@mef.gob.pe",
        sms_from="+5113115930",
        smtp_host="127.0.0.1",
        smtp_port=port,
    )
    assert (
        authorities.notify(session, module, sid(1), "Ana", "Autoridad de Puno en camino") == "sent"
    )
    [message] = received
    assert "To: visitas@mef.gob.pe" in message and "Autoridad de Puno en camino" in message
    assert fake_twilio.sent == []
