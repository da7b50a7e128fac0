"""directory/centers.py: the Anexo 3 import, export and the department look-ups."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from directory.centers import (
    center_for_department,
    departments,
    import_centers,
)
from directory.csvio import FileRejected
from directory.demo import ANEXO3_CSV
from directory.models import ConectamefCenter
from directory.plans import export_csv
from tests.directory.helpers import directory_state

ACTOR = "test:centers"
CENTERS_CSV = (
    "centro,departamento,telefono\n"
    "Abancay,Apurimac,(083) 321-045\n"
    "Andahuaylas,APURÍMAC,083 421367\n"
    "Lima - Huacho,Lima,(01) 232-4517\n"
    "Lima - Huacho,callao,+51 1 232 4517\n"
    "Huaraz,Ancash,043 421695\n"
)


def load(session: Session, text: str | bytes):
    report = import_centers(session, text, actor=ACTOR)
    session.commit()
    return report


def test_import_stores_e164_phones_and_canonical_departments(session: Session) -> None:
    report = load(session, CENTERS_CSV)

    centers = {c.centro: c for c in session.scalars(select(ConectamefCenter))}
    assert set(centers) == {"Abancay", "Andahuaylas", "Lima - Huacho", "Huaraz"}
    assert centers["Abancay"].telefono == "+5183321045"
    assert centers["Lima - Huacho"].telefono == "+5112324517"
    assert [d.departamento for d in centers["Lima - Huacho"].departments] == ["Callao", "Lima"]
    assert [d.departamento for d in centers["Huaraz"].departments] == ["Áncash"]
    assert len(report.added) == 4


def test_export_then_import_round_trips_without_changes(session: Session) -> None:
    load(session, CENTERS_CSV)
    exported = export_csv(session, "anexo3")
    assert exported.splitlines() == [
        "centro,departamento,telefono",
        "Abancay,Apurímac,+5183321045",
        "Andahuaylas,Apurímac,+5183421367",
        "Huaraz,Áncash,+5143421695",
        "Lima - Huacho,Callao,+5112324517",
        "Lima - Huacho,Lima,+5112324517",
    ]
    before = directory_state(session)
    assert load(session, exported).unchanged
    assert directory_state(session) == before


def test_a_changed_file_updates_phone_and_departments_and_deactivates_missing_centers(
    session: Session,
) -> None:
    load(session, CENTERS_CSV)
    report = load(
        session,
        "centro,departamento,telefono\n"
        "Abancay,Apurímac,(083) 321-999\n"
        "Lima - Huacho,Lima,(01) 232-4517\n"
        "Huaraz,Áncash,043 421695\n",
    )
    assert sorted(report.changed) == [
        "Abancay: teléfono +5183321045 → +5183321999",
        "Lima - Huacho: departamentos Callao, Lima → Lima",
    ]
    assert report.deactivated == ["Andahuaylas"]
    andahuaylas = session.scalars(
        select(ConectamefCenter).where(ConectamefCenter.centro == "Andahuaylas")
    ).one()
    assert not andahuaylas.activo
    assert center_for_department(session, "Callao") is None


def test_bad_rows_are_named_by_line_and_column_and_change_nothing(session: Session) -> None:
    load(session, CENTERS_CSV)
    before = directory_state(session)
    with pytest.raises(FileRejected) as caught:
        import_centers(
            session,
            "centro,departamento,telefono\n"
            "Abancay,Apurímac,(083) 321-045\n"
            "Arequipa,Arequipe,(054) 283-140\n"
            "Cusco,Cusco,12345\n"
            "Abancay,Apurímac,(083) 321-045\n"
            "Abancay,Cusco,(083) 999-999\n",
            actor=ACTOR,
        )
    session.rollback()
    located = {(e.line, e.column, e.column_number) for e in caught.value.errors}
    assert located == {
        (3, "departamento", 2),
        (4, "telefono", 3),
        (5, "departamento", 2),
        (6, "telefono", 3),
    }
    assert directory_state(session) == before


def test_a_wrong_centers_header_names_the_expected_one(session: Session) -> None:
    with pytest.raises(FileRejected, match="centro,departamento,telefono"):
        import_centers(session, "centro,telefono\nAbancay,083 321045\n", actor=ACTOR)


def test_the_demo_file_holds_the_27_centers_of_anexo_3(session: Session) -> None:
    report = load(session, ANEXO3_CSV.read_bytes())
    assert len(report.added) == 27
    assert len(departments(session)) == 25


@pytest.mark.parametrize(
    ("written", "centro"),
    [
        ("Apurímac", "Abancay"),
        ("apurimac", "Abancay"),
        ("San Martín", "Moyobamba"),
        ("Ancash", "Huaraz"),
        ("Lima", "Lima - Huacho"),
        ("Lima/Callao", "Lima - Huacho"),
        ("Callao", "Lima - Huacho"),
        ("Cusco", "Cusco"),
    ],
)
def test_center_for_department_picks_the_main_center(
    session: Session, written: str, centro: str
) -> None:
    load(session, ANEXO3_CSV.read_bytes())
    center = center_for_department(session, written)
    assert center is not None
    assert center.centro == centro


def test_center_for_an_unknown_department_is_none(session: Session) -> None:
    load(session, ANEXO3_CSV.read_bytes())
    assert center_for_department(session, "Atlántida") is None


def test_departments_are_sorted_ignoring_accents(session: Session) -> None:
    load(session, CENTERS_CSV)
    assert departments(session) == ["Áncash", "Apurímac", "Callao", "Lima"]
