"""How the staff pages show numbers, dates and errors: Peruvian telephone format (phonenumbers),
masked where the reader's role may not see them (Ley 29733), Lima dates, messages as sentences."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import phonenumbers
from flask import Flask
from flask_login import current_user

from admin.models import ROLE_NAMES
from clock import to_lima
from register.anexo1 import mask_phone
from register.export import may_see_phones


def peru_phone(number: str | None) -> str:
    """``+5112324517`` → ``(01) 2324517``; ``+51987654321`` → ``987 654 321``; other
    countries in international format; what is not a number, as it is."""
    if not number:
        return ""
    try:
        parsed = phonenumbers.parse(number, "PE")
    except phonenumbers.NumberParseException:
        return number
    if not phonenumbers.is_possible_number(parsed):
        return number
    if parsed.country_code == 51:
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def shown_phone(number: str | None, role: str | None) -> str:
    """A caller's or a server's number as the role may see it: whole, or masked."""
    if not number:
        return ""
    if may_see_phones(role):
        return peru_phone(number)
    return mask_phone(number) or ""


def sentence(error: Exception) -> str:
    """An error's message as a sentence on a page or a terminal: its first letter upper case."""
    message = str(error)
    return message[:1].upper() + message[1:]


def error_beside_field(form: Any, error: Exception) -> bool:
    """Show ``error`` beside the form's field it names (its ``field``); False if it names none."""
    name = getattr(error, "field", None)
    if not name or not hasattr(form, name):
        return False
    field = getattr(form, name)
    field.errors = [*field.errors, sentence(error)]
    return True


def lima(moment: datetime | None, fmt: str = "%d/%m/%Y %H:%M") -> str:
    if moment is None:
        return ""
    return to_lima(moment).strftime(fmt)


def day(value: date | None) -> str:
    return value.strftime("%d/%m/%Y") if value else ""


def init_app(app: Flask) -> None:
    app.add_template_filter(peru_phone, "telefono_pe")
    app.add_template_filter(lima, "lima")
    app.add_template_filter(day, "dia")

    @app.template_filter("telefono_visible")
    def _visible(number: str | None) -> str:
        return shown_phone(number, getattr(current_user, "role", None))

    @app.context_processor
    def _names() -> dict[str, object]:
        return {"role_names": ROLE_NAMES}
