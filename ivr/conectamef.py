"""CONECTAMEF (main menu key 4, Anexo 3): the center of the caller's department, from a
landline's area code, else from a department menu; then a transfer to the center's number."""

from __future__ import annotations

from sqlalchemy.orm import Session
from twilio.twiml.voice_response import VoiceResponse

from directory.queries import center_for_department, departments
from ivr.cache import cached
from ivr.flow import ANSWERED, Turn, to_plataforma
from ivr.paging import PagedMenu, ask_page, navigate_page
from ivr.state import CallState

DEPARTMENT_MENU = PagedMenu("voice.departments", "conectamef_intro", "department_option")


def department_names(session: Session) -> list[str]:
    return cached("conectamef:departments", lambda: departments(session), ttl=30.0)


def center_of(session: Session, departamento: str) -> tuple[str, str] | None:
    """(centro, telefono) serving a department, cached briefly."""

    def load() -> tuple[str, str] | None:
        center = center_for_department(session, departamento)
        return (center.centro, center.telefono) if center else None

    return cached(f"conectamef:center:{departamento.casefold()}", load, ttl=30.0)


def start(turn: Turn, response: VoiceResponse, call: CallState) -> VoiceResponse:
    if call.region:
        center = center_of(turn.session, call.region)
        if center is not None:
            turn.record("region", call.region, once=call.region)
            return connect(turn, response, call, center)
    names = department_names(turn.session)
    if not names:
        return to_plataforma(turn, response, call, "route_failed")
    turn.save(call)
    ask_page(turn, response, call, DEPARTMENT_MENU, names, 0, 1)
    return response


def choose_department(turn: Turn, digits: str, page: int, tries: int) -> VoiceResponse:
    call = turn.load()
    response = VoiceResponse()
    names = department_names(turn.session)
    picked = navigate_page(turn, response, call, DEPARTMENT_MENU, names, page, digits, tries)
    if isinstance(picked, VoiceResponse):
        return picked
    departamento = names[picked]
    center = center_of(turn.session, departamento)
    if center is None:
        return to_plataforma(turn, response, call, "route_failed")
    call.region = departamento
    turn.record("region", departamento, once=departamento)
    return connect(turn, response, call, center)


def connect(
    turn: Turn, response: VoiceResponse, call: CallState, center: tuple[str, str]
) -> VoiceResponse:
    centro, telefono = center
    turn.save(call)
    turn.record("conectamef", centro, once=centro, telefono=telefono)
    turn.speak(response, "conectamef_transfer", call.language, centro=centro)
    outbound = response.dial(action=turn.path("voice.conectamef_result"), method="POST", timeout=25)
    outbound.number(telefono)
    return response


def transfer_result(turn: Turn, dial_status: str) -> VoiceResponse:
    """After the center's line: answered → survey; else the Plataforma takes the call."""
    call = turn.load()
    response = VoiceResponse()
    if dial_status in ANSWERED:
        response.redirect(turn.path("voice.survey"), method="POST")
        return response
    turn.speak(response, "conectamef_failed", call.language)
    return to_plataforma(turn, response, call, "route_failed")
