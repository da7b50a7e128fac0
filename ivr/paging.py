"""Paged menus (the órganos, the departments): keys 1–8 for a page's items, 9 the next page,
0 asesor, * back."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Literal

from twilio.twiml.voice_response import VoiceResponse

from ivr.flow import Turn, ask_main_menu, gather, retry_or_plataforma, to_plataforma
from ivr.state import CallState

PAGE_SIZE = 8


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
        if index < len(names):
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
        ask_again = partial(ask_page, turn, response, call, menu, names, page)
        return retry_or_plataforma(turn, response, call, tries, digits, ask_again)
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
