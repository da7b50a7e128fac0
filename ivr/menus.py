"""The main menu as data (key → option), the paged menus (órganos, departments), the expediente
and the preferential reason."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from twilio.twiml.voice_response import VoiceResponse

from ivr import conectamef, technical
from ivr.flow import (
    Turn,
    ask_main_menu,
    gather,
    retry_or_plataforma,
    spoken_digits,
    to_plataforma,
)
from ivr.state import CallState

Handler = Callable[[Turn, VoiceResponse, CallState], VoiceResponse]
EXPEDIENTE = re.compile(r"^\d{4,12}$")


@dataclass(frozen=True)
class Option:
    detalle: str
    handle: Handler


def _estado_tramite(turn: Turn, response: VoiceResponse, call: CallState) -> VoiceResponse:
    turn.save(call)
    ask_expediente(turn, response, call, 1)
    return response


def _informacion(turn: Turn, response: VoiceResponse, call: CallState) -> VoiceResponse:
    return to_plataforma(turn, response, call, "menu")


def _autoridad(turn: Turn, response: VoiceResponse, call: CallState) -> VoiceResponse:
    call.tipo_usuario = "autoridad"
    # routing's send_to_plataforma tells the caller their authority turn is taken.
    return to_plataforma(turn, response, call, "authority", prompt=None)


def _preferencial(turn: Turn, response: VoiceResponse, call: CallState) -> VoiceResponse:
    turn.save(call)
    ask_preferential(turn, response, call, 1)
    return response


MAIN_MENU: dict[str, Option] = {
    "1": Option("estado_tramite", _estado_tramite),
    "2": Option("informacion", _informacion),
    "3": Option("consulta_tecnica", technical.start),
    "4": Option("conectamef", conectamef.start),
    "8": Option("autoridad", _autoridad),
    "9": Option("preferencial", _preferencial),
    "0": Option("asesor", _informacion),
}


def main_menu(turn: Turn, digits: str, tries: int) -> VoiceResponse:
    """Act on the main menu's key (PRODUCT.md step 4); ``*`` repeats it."""
    call = turn.load()
    response = VoiceResponse()
    ask_again = partial(ask_main_menu, turn, response, call)
    if digits == "*":
        ask_again(tries)
        return response
    option = MAIN_MENU.get(digits)
    if option is None:
        return retry_or_plataforma(turn, response, call, tries, digits, ask_again)
    call.detalle = option.detalle
    turn.record("main_menu", digits, once=f"{tries}:{digits}", detalle=option.detalle)
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
    call = turn.load()
    response = VoiceResponse()
    digits = digits.rstrip("#")
    ask_again = partial(ask_expediente, turn, response, call)
    if digits == "*":
        ask_again(tries)
        return response
    if not EXPEDIENTE.match(digits):
        message = "expediente_invalid" if digits else None
        return retry_or_plataforma(turn, response, call, tries, digits, ask_again, message)
    call.extra["expediente_pendiente"] = digits
    turn.save(call)
    ask_expediente_confirm(turn, response, call, digits, 1)
    return response


def expediente_confirm(turn: Turn, digits: str, tries: int) -> VoiceResponse:
    """``1`` confirms the number read back (→ Plataforma), and so does silence (the caller heard
    it and did not object); ``2`` keys it again."""
    call = turn.load()
    response = VoiceResponse()
    number = str(call.extra.get("expediente_pendiente") or "")
    if not number or digits == "2":
        ask_expediente(turn, response, call, 1)
        return response
    ask_again = partial(ask_expediente_confirm, turn, response, call, number)
    if digits == "*":
        ask_again(tries)
        return response
    if digits not in ("1", ""):
        return retry_or_plataforma(turn, response, call, tries, digits, ask_again)
    call.expediente = number
    turn.record("expediente", once=number, expediente=number)
    return to_plataforma(turn, response, call, "menu")


# --- Preferential -----------------------------------------------------------------------

PREFERENTIAL_KEYS = {"1": "gestante", "2": "adulto_mayor", "3": "discapacidad"}


def ask_preferential(turn: Turn, response: VoiceResponse, call: CallState, tries: int) -> None:
    prompt = gather(turn, response, "voice.preferential", tries)
    turn.speak(prompt, "preferential_menu", call.language)


def preferential(turn: Turn, digits: str, tries: int) -> VoiceResponse:
    """The reason (1 gestante, 2 adulto mayor, 3 discapacidad) → Plataforma, first in line."""
    call = turn.load()
    response = VoiceResponse()
    ask_again = partial(ask_preferential, turn, response, call)
    if digits == "*":
        ask_again(tries)
        return response
    reason = PREFERENTIAL_KEYS.get(digits)
    if reason is None:
        return retry_or_plataforma(turn, response, call, tries, digits, ask_again)
    call.preferencial = reason
    turn.record("preferential", reason, once=f"{tries}:{digits}")
    # routing's send_to_plataforma tells the caller they are served first.
    return to_plataforma(turn, response, call, "preferential", prompt=None)
