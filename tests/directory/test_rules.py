"""directory/rules.py: anexos, e-mails, phones, departments and the late-designation rule."""

from __future__ import annotations

from datetime import date

import pytest

from clock import is_holiday
from directory.rules import (
    DEPARTMENTS,
    RuleError,
    business_days_to_communicate,
    canonical_department,
    check_anexo,
    check_email,
    communication_deadline,
    is_late,
    parse_phone,
)


@pytest.mark.parametrize("anexo", ["123", "4101", "12345", "123456", " 2301 "])
def test_anexo_of_three_to_six_digits_is_accepted(anexo: str) -> None:
    assert check_anexo(anexo) == anexo.strip()


@pytest.mark.parametrize("anexo", ["", "12", "1234567", "12a4", "23-01", "+2301"])
def test_anexo_outside_three_to_six_digits_is_rejected(anexo: str) -> None:
    with pytest.raises(RuleError, match="de 3 a 6 dígitos"):
        check_anexo(anexo)


def test_valid_email_is_accepted_and_domain_lowercased() -> None:
    assert check_email("AQuispe@MEF.gob.pe") == "AQuispe@mef.gob.pe"


@pytest.mark.parametrize("email", ["", "aquispe", "aquispe@", "@mef.gob.pe", "a b@mef.gob.pe"])
def test_invalid_email_is_rejected(email: str) -> None:
    with pytest.raises(RuleError):
        check_email(email)


@pytest.mark.parametrize(
    ("written", "e164"),
    [
        ("(01) 311-5930", "+5113115930"),
        ("01 3115930", "+5113115930"),
        ("+51 1 311 5930", "+5113115930"),
        ("076 123456", "+5176123456"),
        ("(083) 321-045", "+5183321045"),
        ("987 654 321", "+51987654321"),
        ("+51 987-654-321", "+51987654321"),
    ],
)
def test_peruvian_phone_in_any_format_is_stored_e164(written: str, e164: str) -> None:
    assert parse_phone(written) == e164


@pytest.mark.parametrize("written", ["12345", "076 12345", "teléfono", "+1 555"])
def test_invalid_phone_is_rejected(written: str) -> None:
    with pytest.raises(RuleError):
        parse_phone(written)


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("Ancash", "Áncash"),
        ("ÁNCASH", "Áncash"),
        ("apurimac", "Apurímac"),
        ("Huanuco", "Huánuco"),
        ("JUNIN", "Junín"),
        ("san martin", "San Martín"),
        ("Cuzco", "Cusco"),
        ("Lima/Callao", "Lima"),
        (" madre  de dios ", "Madre de Dios"),
        ("Callao", "Callao"),
    ],
)
def test_department_variants_map_to_the_canonical_spanish_name(
    written: str, canonical: str
) -> None:
    assert canonical_department(written) == canonical


def test_there_are_24_departments_and_callao() -> None:
    assert len(DEPARTMENTS) == 25
    assert "Callao" in DEPARTMENTS


def test_unknown_department_is_none() -> None:
    assert canonical_department("Lima Norte") is None
    assert canonical_department("Bogotá") is None


# The late rule across Peruvian holidays. By hand, for a designation that took effect on
# Friday 2026-07-24: Sat 25 and Sun 26 do not count; Mon 27 is business day 1; Tue 28
# (Independencia) and Wed 29 (Gran Parada Militar) are holidays; Thu 30 = 2, Fri 31 = 3;
# Sat 1 and Sun 2 August do not count; Mon 3 = 4, Tue 4 = 5 (the last day on time),
# Wed 5 = 6 (late).
EFFECTIVE = date(2026, 7, 24)


def test_the_july_holidays_are_known_to_the_calendar() -> None:
    assert is_holiday(date(2026, 7, 28))
    assert is_holiday(date(2026, 7, 29))
    assert not is_holiday(date(2026, 7, 30))


def test_communicated_on_monday_after_the_holidays_is_four_business_days_and_on_time() -> None:
    # Counting calendar weekdays only, it would be six (27, 28, 29, 30, 31, 3): late.
    assert business_days_to_communicate(EFFECTIVE, date(2026, 8, 3)) == 4
    assert not is_late(EFFECTIVE, date(2026, 8, 3))


def test_communicated_on_the_fifth_business_day_is_just_on_time() -> None:
    assert business_days_to_communicate(EFFECTIVE, date(2026, 8, 4)) == 5
    assert not is_late(EFFECTIVE, date(2026, 8, 4))
    assert communication_deadline(EFFECTIVE) == date(2026, 8, 4)


def test_communicated_on_the_sixth_business_day_is_late() -> None:
    assert business_days_to_communicate(EFFECTIVE, date(2026, 8, 5)) == 6
    assert is_late(EFFECTIVE, date(2026, 8, 5))


def test_a_designation_without_dates_is_not_flagged() -> None:
    assert not is_late(None, date(2026, 8, 5))
    assert not is_late(EFFECTIVE, None)


def test_communicated_before_taking_effect_is_on_time() -> None:
    assert not is_late(date(2026, 3, 10), date(2026, 3, 2))


@pytest.mark.parametrize("name", ['=HYPERLINK("http://x","y")', "+cmd|' /C calc'!A0", "@SUM(1)"])
def test_a_name_that_starts_like_a_formula_is_refused(name: str) -> None:
    """Issue 15: what a spreadsheet would run never enters the directory."""
    from directory.rules import RuleError, check_text

    with pytest.raises(RuleError, match="fórmula"):
        check_text(name, "el nombre")
