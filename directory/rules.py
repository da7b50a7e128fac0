"""The directory's rules, as plain functions over plain values (§4.2.2, §4.2.4 d).

- ``check_anexo``: an anexo (PBX extension) is 3 to 6 digits.
- ``check_email``: a syntactically valid e-mail (email-validator, no DNS lookup).
- ``parse_phone``: any Peruvian way of writing a number (default region PE) to E.164.
- ``canonical_department``: one of Peru's 24 departments or Callao, in its Spanish spelling.
- ``is_late``: a designation communicated more than five business days (weekends and Peruvian
  public holidays excluded, see ``clock``) after it took effect.

Every ``check_*``/``parse_*`` function returns the normalised value or raises ``RuleError``
whose message is in Spanish, ready to show an administrator.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from clock import add_business_days, business_days_between

# §4.2.4 d: changes are communicated within five business days.
COMMUNICATION_DEADLINE_BUSINESS_DAYS = 5

ANEXO_RE = re.compile(r"^\d{3,6}$")
SIGLA_RE = re.compile(r"^[A-Z0-9][A-Z0-9.\-/]{0,19}$")

# Peru's 24 departments and the Constitutional Province of Callao, as the State spells them.
DEPARTMENTS: tuple[str, ...] = (
    "Amazonas",
    "Áncash",
    "Apurímac",
    "Arequipa",
    "Ayacucho",
    "Cajamarca",
    "Callao",
    "Cusco",
    "Huancavelica",
    "Huánuco",
    "Ica",
    "Junín",
    "La Libertad",
    "Lambayeque",
    "Lima",
    "Loreto",
    "Madre de Dios",
    "Moquegua",
    "Pasco",
    "Piura",
    "Puno",
    "San Martín",
    "Tacna",
    "Tumbes",
    "Ucayali",
)


class RuleError(ValueError):
    """A value breaks a directory rule; the message says why, in Spanish."""


def fold(text: str) -> str:
    """Lower case, no accents, single spaces: the key variants of a name are compared by."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(plain.lower().replace("_", " ").split())


_DEPARTMENT_KEYS: dict[str, str] = {fold(name): name for name in DEPARTMENTS} | {
    # Other spellings in use, and what phonenumbers' Spanish geocoder says for Lima's area code.
    "cuzco": "Cusco",
    "lima/callao": "Lima",
    "lima metropolitana": "Lima",
    "lima provincias": "Lima",
    "provincia constitucional del callao": "Callao",
}


def canonical_department(name: str) -> str | None:
    """The canonical name of a department written with any accents or case, else None."""
    key = fold(name)
    key = key.removeprefix("departamento de ").removeprefix("region ").strip()
    return _DEPARTMENT_KEYS.get(key)


def check_department(name: str) -> str:
    canonical = canonical_department(name)
    if canonical is None:
        raise RuleError(
            f"«{name}» no es un departamento del Perú (use uno de los 24 departamentos o Callao)."
        )
    return canonical


def check_anexo(value: str) -> str:
    anexo = value.strip()
    if not ANEXO_RE.match(anexo):
        raise RuleError(f"el anexo «{value}» debe tener de 3 a 6 dígitos.")
    return anexo


def check_email(value: str) -> str:
    address = value.strip()
    if not address:
        raise RuleError("falta el correo electrónico.")
    try:
        result = validate_email(address, check_deliverability=False)
    except EmailNotValidError as exc:
        raise RuleError(f"el correo «{value}» no es válido.") from exc
    return str(result.normalized)


def check_sigla(value: str) -> str:
    sigla = value.strip().upper()
    if not SIGLA_RE.match(sigla):
        raise RuleError(f"la sigla «{value}» debe tener de 1 a 20 letras o dígitos, sin espacios.")
    return sigla


# What a spreadsheet would take for the start of a formula (=HYPERLINK(...), +cmd|...).
FORMULA_START = ("=", "+", "-", "@")


def check_text(value: str, what: str, max_length: int = 200) -> str:
    text = " ".join(value.split())
    if not text:
        raise RuleError(f"falta {what}.")
    if len(text) > max_length:
        raise RuleError(f"{what} tiene más de {max_length} caracteres.")
    if text.startswith(FORMULA_START):
        raise RuleError(
            f"{what} no puede empezar con «{text[0]}» (una hoja de cálculo lo leería como fórmula)."
        )
    return text


def parse_phone(value: str) -> str:
    """A Peruvian number in any usual format ("(01) 311-5930", "076 123456", "+51 ...") as
    E.164."""
    try:
        number = phonenumbers.parse(value, "PE")
    except phonenumbers.NumberParseException as exc:
        raise RuleError(f"«{value}» no es un número de teléfono.") from exc
    if not phonenumbers.is_valid_number(number):
        raise RuleError(f"«{value}» no es un número de teléfono válido del Perú.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def communication_deadline(vigente_desde: date) -> date:
    """The last day a designation that took effect on ``vigente_desde`` may be communicated."""
    return add_business_days(vigente_desde, COMMUNICATION_DEADLINE_BUSINESS_DAYS)


def business_days_to_communicate(vigente_desde: date, comunicado_el: date) -> int:
    """Business days from the day the designation took effect to the day it was communicated."""
    return business_days_between(vigente_desde, comunicado_el)


def is_late(vigente_desde: date | None, comunicado_el: date | None) -> bool:
    """Communicated more than five business days after it took effect (§4.2.4 d).

    Unknown dates are not flagged: there is nothing to measure yet.
    """
    if vigente_desde is None or comunicado_el is None:
        return False
    return (
        business_days_to_communicate(vigente_desde, comunicado_el)
        > COMMUNICATION_DEADLINE_BUSINESS_DAYS
    )
