"""directory/designations.py: the memorando of a designation and the late flag (§4.2.4 d)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy.orm import Session

from directory.audit import entries
from directory.designations import designate, late_designations
from directory.importer import import_directory
from directory.rules import RuleError
from tests.directory.helpers import BASE_CSV, serving

ACTOR = "test:designations"


@pytest.fixture
def directory(session: Session) -> Session:
    import_directory(session, BASE_CSV, actor=ACTOR)
    session.commit()
    return session


def designate_dgpp(session: Session, rol: str, comunicado_el: date) -> None:
    designate(
        session,
        "DGPP",
        rol,
        memorando="Memorando N° 0348-2026-EF/50.01",
        memorando_fecha=date(2026, 7, 24),
        vigente_desde=date(2026, 7, 24),
        comunicado_el=comunicado_el,
        actor=ACTOR,
    )
    session.commit()


def test_designate_records_the_memorando_and_its_dates(directory: Session) -> None:
    designate_dgpp(directory, "titular", date(2026, 8, 3))
    titular = serving(directory)[("DGPP", "titular")]
    assert titular.memorando == "Memorando N° 0348-2026-EF/50.01"
    assert titular.memorando_fecha == date(2026, 7, 24)
    assert titular.vigente_desde == date(2026, 7, 24)
    assert titular.comunicado_el == date(2026, 8, 3)
    (entry,) = [e for e in entries(directory, "representative") if e.action == "designate"]
    assert entry.before is not None and entry.after is not None
    assert entry.before["memorando"] is None
    assert entry.after["comunicado_el"] == "2026-08-03"


def test_late_lists_only_designations_past_five_business_days(directory: Session) -> None:
    # Effective Fri 2026-07-24; 28 and 29 July are holidays: Tue 4 Aug is the 5th business day.
    designate_dgpp(directory, "titular", date(2026, 8, 4))  # just inside
    designate_dgpp(directory, "alterno", date(2026, 8, 5))  # just outside: 6 business days

    late = late_designations(directory)

    assert [(d.representative.rol, d.business_days, d.deadline) for d in late] == [
        ("alterno", 6, date(2026, 8, 4))
    ]


def test_designating_an_organo_without_that_role_is_refused(directory: Session) -> None:
    with pytest.raises(RuleError, match="OGSU no tiene alterno"):
        designate(
            directory,
            "OGSU",
            "alterno",
            memorando="Memorando N° 1",
            memorando_fecha=date(2026, 1, 5),
            vigente_desde=date(2026, 1, 5),
            comunicado_el=date(2026, 1, 6),
            actor=ACTOR,
        )


def test_designating_an_unknown_organo_is_refused(directory: Session) -> None:
    with pytest.raises(RuleError, match="no existe el órgano XYZ"):
        designate(
            directory,
            "XYZ",
            "titular",
            memorando="Memorando N° 1",
            memorando_fecha=date(2026, 1, 5),
            vigente_desde=date(2026, 1, 5),
            comunicado_el=date(2026, 1, 6),
            actor=ACTOR,
        )
