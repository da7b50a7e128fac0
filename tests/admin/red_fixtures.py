"""A Red member (the demo's DGPP titular) with calls: fixed days, so the page's "today" and
"this month" do not depend on when the tests run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from admin.models import User
from directory.demo import seed_demo
from directory.models import Organo, Representative
from register.ingest import ingest_events
from tests.admin.conftest import PASSWORD
from tests.register.journeys import technical_call

NOW = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)  # Wednesday 2 December, 10:00 in Lima
TODAY_MISSED = "CA" + "1" * 32  # today, the titular did not answer, nor the alterno
TODAY_TAKEN = "CA" + "2" * 32  # today, the titular took it
EARLIER_TAKEN = "CA" + "3" * 32  # 1 December, the titular took it
ALTERNO_ONLY = "CA" + "4" * 32  # 1 December, DGPP's alterno only (not the titular's call)
OTHER_ORGANO = "CA" + "5" * 32  # another órgano's call
LAST_MONTH = "CA" + "6" * 32  # 20 November: not this month
SUMMARY = "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE" + "b" * 32


@dataclass
class RedMember:
    user: User
    rep: Representative
    alterno: Representative


def seed_red_member(session: Session, summary_url: str = SUMMARY) -> RedMember:
    seed_demo(session, actor="seed")
    dgpp = session.scalars(select(Organo).where(Organo.sigla == "DGPP")).one()
    titular, alterno = dgpp.current("titular"), dgpp.current("alterno")
    assert titular is not None and alterno is not None
    user = User(
        username="red", nombre=titular.nombre_completo, role="red", representative_id=titular.id
    )
    user.set_password(PASSWORD)
    session.add(user)
    t = ("titular", titular.nombre_completo, titular.anexo)
    a = ("alterno", alterno.nombre_completo, alterno.anexo)
    events = [
        *technical_call(
            TODAY_MISSED,
            datetime(2026, 12, 2, 14, 5, tzinfo=UTC),
            "DGPP",
            [(*t, "no-answer"), (*a, "busy")],
            caller="+51987654321",
            summary_url=summary_url,
        ),
        *technical_call(
            TODAY_TAKEN, datetime(2026, 12, 2, 14, 30, tzinfo=UTC), "DGPP", [(*t, "accepted")],
            caller="+51911222333",
        ),
        *technical_call(
            EARLIER_TAKEN, datetime(2026, 12, 1, 16, 0, tzinfo=UTC), "DGPP", [(*t, "accepted")]
        ),
        *technical_call(
            ALTERNO_ONLY, datetime(2026, 12, 1, 17, 0, tzinfo=UTC), "DGPP", [(*a, "accepted")]
        ),
        *technical_call(
            OTHER_ORGANO,
            datetime(2026, 12, 1, 17, 0, tzinfo=UTC),
            "DGCP",
            [("titular", "Carlos Alberto Huamán Ccori", "2521", "accepted")],
        ),
        *technical_call(
            LAST_MONTH, datetime(2026, 11, 20, 15, 0, tzinfo=UTC), "DGPP", [(*t, "accepted")]
        ),
    ]  # fmt: skip
    ingest_events(session, events)
    session.commit()
    return RedMember(user, titular, alterno)


@pytest.fixture
def fixed_now(monkeypatch: pytest.MonkeyPatch) -> datetime:
    from clock import LIMA

    monkeypatch.setattr("admin.red_views.lima_now", lambda: NOW.astimezone(LIMA))
    return NOW
