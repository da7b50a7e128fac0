"""The Módulo de Registro y Control de Visitas' notice (§5.5 c): once per call, by SMS through
Twilio or by e-mail."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from twilio.base.exceptions import TwilioRestException

from routing import authorities
from routing.models import VisitNotice
from tests.routing.conftest import sid
from tests.smtp_server import SmtpServer
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


def test_the_module_can_be_notified_by_email(
    session: Session, smtp_server: SmtpServer, fake_twilio: FakeTwilio
) -> None:
    module = authorities.VisitsModule.from_config(
        {
            **smtp_server.config(),
            "VISITS_MODULE_NOTIFY": "email",
            "VISITS_MODULE_EMAIL": "visitas@mef.gob.pe",
        }
    )
    assert (
        authorities.notify(session, module, sid(1), "Ana", "Autoridad de Puno en camino") == "sent"
    )
    assert authorities.notify(session, module, sid(1), "Ana", "otra vez") == "already"
    [got] = smtp_server.received
    assert got.envelope_to == ["visitas@mef.gob.pe"]
    assert got.message["Message-ID"] == f"<{sid(1)}@red-atencion.mef.gob.pe>"
    assert got.message.get_content().strip() == "Autoridad de Puno en camino"
    assert fake_twilio.sent == []
