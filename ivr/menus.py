"""The main menu as data (key → option), the paged menus (órganos, departments), the expediente
and the preferential reason."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from twilio.twiml.voice_response import VoiceResponse

from ivr.flow import (
    Turn,
    gather,
    load_state,
    record_once,
    retry_or_plataforma,
    save_state,
    spoken_digits,
    to_plataforma,
)
from ivr.state import CallState

Handler = Callable[[Turn, VoiceResponse, CallState], VoiceResponse]
EXPEDIENTE = re.compile(r"^\d{4,12}$")
PAGE_SIZE = 8


@dataclass(frozen=True)
class Option:
    detalle: str
    tipo_consulta: str | None
    handle: Handler


def ask_main_menu(turn: Turn, response: VoiceResponse, call: CallState, tries: int) -> None:
    menu = gather(turn, response, "voice.main_menu", tries)
    turn.speak(menu, "main_menu", call.language)


def _estado_tramite(turn: Turn, response: VoiceResponse, call: CallState) -> VoiceResponse:
    save_state(call)
    ask_expediente(turn, response, call, 1)
    return response


def _informacion(turn: Turn, response: VoiceResponse, call: CallState) -> VoiceResponse:
    return to_plataforma(turn, response, call, "menu")


def _consulta_tecnica(turn: Turn, response: VoiceResponse, call: CallState) -> VoiceResponse:
    from ivr import technical

    return technical.start(turn, response, call)


def _conectamef(turn: Turn, response: VoiceResponse, call: CallState) -> VoiceResponse:
    from ivr import conectamef

    return conectamef.start(turn, response, call)


def _autoridad(turn: Turn, response: VoiceResponse, call: CallState) -> VoiceResponse:
    call.tipo_usuario = "autoridad"
    # routing's send_to_plataforma tells the caller their authority turn is taken.
    return to_plataforma(turn, response, call, "authority", prompt=None)


def _preferencial(turn: Turn, response: VoiceResponse, call: CallState) -> VoiceResponse:
    save_state(call)
    ask_preferential(turn, response, call, 1)
    return response


MAIN_MENU: dict[str, Option] = {
    "1": Option("estado_tramite", "administrativa", _estado_tramite),
    "2": Option("informacion", "administrativa", _informacion),
    "3": Option("consulta_tecnica", "tecnica", _consulta_tecnica),
    "4": Option("conectamef", None, _conectamef),
    "8": Option("autoridad", None, _autoridad),
    "9": Option("preferencial", None, _preferencial),
    "0": Option("asesor", "administrativa", _informacion),
}


def main_menu(turn: Turn, digits: str, tries: int) -> VoiceResponse:
    """Act on the main menu's key (PRODUCT.md step 4); ``*`` repeats it."""
    call = load_state(turn)
    response = VoiceResponse()
    if digits == "*":
        ask_main_menu(turn, response, call, tries)
        return response
    option = MAIN_MENU.get(digits)
    if option is None:
        return retry_or_plataforma(
            turn, response, call, tries, digits, lambda n: ask_main_menu(turn, response, call, n)
        )
    call.detalle = option.detalle
    call.tipo_consulta = option.tipo_consulta
    record_once(call.call_sid, "main_menu", f"{tries}:{digits}", digits, detalle=option.detalle)
    return option.handle(turn, response, call)


# --- Expediente -------------------------------------------------------------------------


def ask_expediente(turn: Turn, response: VoiceResponse, call: CallState, tries: int) -> None:
    prompt = gather(
        turn, response, "voice.expediente", tries, num_digits=None, timeout=10, finish_on_key="#"
    )
    turn.speak(prompt, "expediente_ask", call.language)


def ask_expediente_confirm(
    turn: Turn, response: VoiceResponse, call: CallState, number: str, tries: int
) -> None:
    prompt = gather(turn, response, "voice.expediente_confirm", tries)
    turn.speak(prompt, "expediente_readback", call.language, digits=spoken_digits(number))


def expediente(turn: Turn, digits: str, tries: int) -> VoiceResponse:
    """The keyed expediente (4 to 12 digits, ``#`` to end), read back digit by digit."""
    call = load_state(turn)
    response = VoiceResponse()
    digits = digits.rstrip("#")
    if digits == "*":
        ask_expediente(turn, response, call, tries)
        return response
    if not EXPEDIENTE.match(digits):
        return retry_or_plataforma(
            turn,
            response,
            call,
            tries,
            digits,
            lambda n: ask_expediente(turn, response, call, n),
            message="expediente_invalid" if digits else None,
        )
    call.extra["expediente_pendiente"] = digits
    save_state(call)
    ask_expediente_confirm(turn, response, call, digits, 1)
    return response


def expediente_confirm(turn: Turn, digits: str, tries: int) -> VoiceResponse:
    """``1`` confirms the number read back (→ Plataforma), ``2`` keys it again."""
    call = load_state(turn)
    response = VoiceResponse()
    number = str(call.extra.get("expediente_pendiente") or "")
    if not number or digits == "2":
        ask_expediente(turn, response, call, 1)
        return response
    if digits == "*":
        ask_expediente_confirm(turn, response, call, number, tries)
        return response
    if digits != "1":
        return retry_or_plataforma(
            turn,
            response,
            call,
            tries,
            digits,
            lambda n: ask_expediente_confirm(turn, response, call, number, n),
        )
    call.expediente = number
    record_once(call.call_sid, "expediente", number, expediente=number)
    return to_plataforma(turn, response, call, "menu")


# --- Preferential -----------------------------------------------------------------------

PREFERENTIAL_KEYS = {"1": "gestante", "2": "adulto_mayor", "3": "discapacidad"}


def ask_preferential(turn: Turn, response: VoiceResponse, call: CallState, tries: int) -> None:
    prompt = gather(turn, response, "voice.preferential", tries)
    turn.speak(prompt, "preferential_menu", call.language)


def preferential(turn: Turn, digits: str, tries: int) -> VoiceResponse:
    """The reason (1 gestante, 2 adulto mayor, 3 discapacidad) → Plataforma, first in line."""
    call = load_state(turn)
    response = VoiceResponse()
    if digits == "*":
        ask_preferential(turn, response, call, tries)
        return response
    reason = PREFERENTIAL_KEYS.get(digits)
    if reason is None:
        return retry_or_plataforma(
            turn, response, call, tries, digits, lambda n: ask_preferential(turn, response, call, n)
        )
    call.preferencial = reason
    record_once(call.call_sid, "preferential", f"{tries}:{digits}", reason)
    # routing's send_to_plataforma tells the caller they are served first.
    return to_plataforma(turn, response, call, "preferential", prompt=None)


# --- Paged menus (órganos, departments) -------------------------------------------------


@dataclass(frozen=True)
class PagedMenu:
    endpoint: str
    intro: str  # prompt id said on the first page
    option: str  # prompt id with {nombre} and {key}


Choice = tuple[Literal["pick", "next", "back", "asesor", "repeat"], int] | None


def page_count(items: Sequence[object]) -> int:
    return max(1, -(-len(items) // PAGE_SIZE))


def ask_page(
    turn: Turn,
    response: VoiceResponse,
    call: CallState,
    menu: PagedMenu,
    names: Sequence[str],
    page: int,
    tries: int,
) -> None:
    """Keys 1–8 for this page's items, 9 the next page (when there is one), 0 asesor, * back."""
    prompt = gather(turn, response, menu.endpoint, tries, page=page)
    if page == 0:
        turn.speak(prompt, menu.intro, call.language)
    start = page * PAGE_SIZE
    for key, nombre in enumerate(names[start : start + PAGE_SIZE], start=1):
        turn.speak(prompt, menu.option, call.language, nombre=nombre, key=key)
    if page + 1 < page_count(names):
        turn.speak(prompt, "menu_next_page", call.language)
    turn.speak(prompt, "menu_tail", call.language)


def choose(names: Sequence[str], page: int, digits: str) -> Choice:
    """What a key means on a page: ("pick", index) etc.; None for a wrong key or no input."""
    if digits == "0":
        return ("asesor", 0)
    if digits == "*":
        return ("back", page - 1)
    if digits == "9" and page + 1 < page_count(names):
        return ("next", page + 1)
    if len(digits) == 1 and "1" <= digits <= "8":
        index = page * PAGE_SIZE + int(digits) - 1
        if index < len(names) and index < (page + 1) * PAGE_SIZE:
            return ("pick", index)
    return None


def navigate_page(
    turn: Turn,
    response: VoiceResponse,
    call: CallState,
    menu: PagedMenu,
    names: Sequence[str],
    page: int,
    digits: str,
    tries: int,
) -> int | VoiceResponse:
    """Handle a key on a paged menu: the index picked, or the TwiML for everything else
    (a wrong key or no input, asesor, the next page, back to the previous page or the main menu)."""
    choice = choose(names, page, digits)
    if choice is None:
        return retry_or_plataforma(
            turn,
            response,
            call,
            tries,
            digits,
            lambda n: ask_page(turn, response, call, menu, names, page, n),
        )
    action, value = choice
    if action == "pick":
        return value
    if action == "asesor":
        return to_plataforma(turn, response, call, "menu")
    if action == "back" and value < 0:
        ask_main_menu(turn, response, call, 1)
    else:  # next page, or back to the previous one
        ask_page(turn, response, call, menu, names, value, 1)
    return response
