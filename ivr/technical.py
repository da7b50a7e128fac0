"""The technical route (PRODUCT.md step 6, §5.2.2 a–c, §5.3.3 b): the órgano menu, the caller's
optional short summary, then the titular's anexo, the alterno's, and the Plataforma. The Red member
hears a whisper (órgano, caller type, region, expediente, summary) and presses ``1`` to accept;
the acceptance is kept in Redis, because Twilio reports DialCallStatus=completed both when the
call was accepted and when the whisper hung up on the callee."""

from __future__ import annotations

import re
from dataclasses import dataclass

from redis import Redis
from sqlalchemy.orm import Session
from twilio.twiml.voice_response import VoiceResponse

from directory.dialing import anexo_target
from directory.queries import active_organos, serving_representative
from ivr import briefing, state
from ivr.cache import cached
from ivr.flow import ANSWERED, Turn, to_plataforma
from ivr.paging import PagedMenu, ask_page, navigate_page
from ivr.state import CallState
from register.events import FINAL_CALL_STATUSES, NOT_CONNECTED

ORGANO_MENU = PagedMenu("voice.organos", "organo_intro", "organo_option")
SUMMARY_MAX_SECONDS = 30
WHISPER_TIMEOUT_SECONDS = 8
E164 = re.compile(r"^\+\d{6,15}$")


class AnexoDialError(ValueError):
    """ANEXO_DIAL is neither a SIP URI template with {anexo} nor an E.164 switchboard number."""


def check_anexo_dial(template: str) -> None:
    if (template.startswith("sip:") and "{anexo}" in template) or E164.match(template):
        return
    raise AnexoDialError(
        f"ANEXO_DIAL={template!r} is not valid: use a SIP URI template such as "
        "'sip:{anexo}@pbx.mef.gob.pe' or a switchboard number such as '+5113115930'."
    )


@dataclass(frozen=True)
class Member:
    nombre: str
    anexo: str


def organo_menu(session: Session) -> list[tuple[str, str]]:
    """(sigla, nombre) of the active órganos in menu order, cached briefly (every call reads it)."""
    return cached(
        "organos:menu",
        lambda: [(o.sigla, o.nombre) for o in active_organos(session)],
        ttl=30.0,
    )


def member(session: Session, sigla: str, leg: str) -> Member | None:
    def load() -> Member | None:
        rep = serving_representative(session, sigla, leg)
        return Member(rep.nombre_completo, rep.anexo) if rep else None

    return cached(f"organos:member:{sigla}:{leg}", load, ttl=30.0)


def _organo_name(session: Session, sigla: str | None) -> str:
    return dict(organo_menu(session)).get(sigla or "", sigla or "")


def start(turn: Turn, response: VoiceResponse, call: CallState) -> VoiceResponse:
    """Main menu key 3: the órgano menu, unless the caller must be served at the Plataforma."""
    if call.preferencial:
        return to_plataforma(turn, response, call, "preferential", prompt=None)
    if call.language != "es":
        # Red members are not in the §5.4 registry: a Plataforma agent who speaks the language
        # (or with an interpreter) takes quechua and aymara callers.
        return to_plataforma(turn, response, call, "language")
    names = [nombre for _, nombre in organo_menu(turn.session)]
    if not names:
        return to_plataforma(turn, response, call, "route_failed")
    turn.save(call)
    ask_page(turn, response, call, ORGANO_MENU, names, 0, 1)
    return response


def choose_organo(turn: Turn, digits: str, page: int, tries: int) -> VoiceResponse:
    call = turn.load()
    response = VoiceResponse()
    menu = organo_menu(turn.session)
    names = [nombre for _, nombre in menu]
    picked = navigate_page(turn, response, call, ORGANO_MENU, names, page, digits, tries)
    if isinstance(picked, VoiceResponse):
        return picked
    sigla, nombre = menu[picked]
    call.organo_sigla = sigla
    turn.save(call)
    turn.record("organo", sigla, once=f"{page}:{tries}:{digits}")
    turn.speak(response, "technical_intro", call.language, organo=nombre)
    turn.speak(response, "summary_ask", call.language)
    response.record(
        action=turn.path("voice.summary"),
        method="POST",
        max_length=SUMMARY_MAX_SECONDS,
        finish_on_key="#",
        timeout=5,
        play_beep=True,
        trim="trim-silence",
    )
    # No audio (``#`` at once, or silence): Twilio goes on to the next verb.
    response.redirect(turn.path("voice.summary", skipped=1), method="POST")
    return response


def summary(turn: Turn, recording_url: str, duration: int, skipped: bool) -> VoiceResponse:
    """The caller's summary (or none), then the titular is dialed."""
    call = turn.load()
    url = recording_url if recording_url and duration > 0 and not skipped else None
    if url:
        call.summary_url = url
        turn.save(call)
    turn.record("summary", recording_url=url)
    response = VoiceResponse()
    if call.preferencial:  # never dialed out (§5.2.2, last paragraph)
        return to_plataforma(turn, response, call, "preferential")
    turn.speak(response, "technical_dialing", call.language)
    return dial(turn, response, call, "titular")


def dial(
    turn: Turn, response: VoiceResponse, call: CallState, leg: str, *, missed: bool = False
) -> VoiceResponse:
    """<Dial> the anexo of the titular or alterno, with the whisper on the callee's side.
    ``missed``: a Red member of the órgano was dialed already and did not take the call."""
    who = member(turn.session, call.organo_sigla or "", leg) if call.organo_sigla else None
    if who is None:
        if leg == "titular":
            return dial(turn, response, call, "alterno")
        return _route_failed(turn, response, call, missed=missed)
    turn.record("dial", leg, once=leg, anexo=who.anexo, nombre=who.nombre)
    target = anexo_target(who.anexo, turn.settings.anexo_dial)  # the same rule routing uses
    whisper_url = turn.absolute("voice.whisper", call=call.call_sid, leg=leg)
    outbound = response.dial(
        action=turn.path("voice.dial_result", leg=leg),
        method="POST",
        timeout=turn.settings.dial_timeout,
    )
    if target.kind == "sip":
        outbound.sip(target.address, url=whisper_url, method="POST")
    else:
        outbound.number(
            target.address, send_digits=target.send_digits, url=whisper_url, method="POST"
        )
    return response


def _route_failed(
    turn: Turn, response: VoiceResponse, call: CallState, *, missed: bool
) -> VoiceResponse:
    """To the Plataforma; when Red members were dialed and none took the call, the
    ``red_missed`` event carries what their notice needs (the webhook queues the e-mail)."""
    if missed and call.organo_sigla:
        turn.record(
            "red_missed",
            call.organo_sigla,
            once="red",
            **{"from": call.from_number},
            region=call.region,
            tipo_usuario=call.tipo_usuario,
            expediente=call.expediente,
            summary_url=call.summary_url,
        )
    turn.speak(response, "technical_failed", call.language)
    return to_plataforma(turn, response, call, "route_failed")


def _accepted_key(call_sid: str, leg: str) -> str:
    return f"call:{call_sid}:accepted:{leg}"


def whisper(turn: Turn, parent_sid: str, leg: str) -> VoiceResponse:
    """What the Red member hears before being bridged; ``1`` accepts, anything else hangs up."""
    call = state.load(turn.r, parent_sid) or CallState(call_sid=parent_sid)
    response = VoiceResponse()
    prompt = response.gather(
        input="dtmf",
        num_digits=1,
        timeout=WHISPER_TIMEOUT_SECONDS,
        action=turn.path("voice.whisper_accept", call=parent_sid, leg=leg),
        method="POST",
    )
    briefing.to_red_member(
        turn.speak, prompt, call, organo=_organo_name(turn.session, call.organo_sigla)
    )
    turn.speak(prompt, "whisper_accept")
    response.hangup()  # no key in time: not accepted (and no PBX voicemail takes the call)
    return response


def whisper_accept(r: Redis, parent_sid: str, leg: str, digits: str) -> VoiceResponse:
    """``1``: remember the acceptance and end the whisper, so Twilio bridges the calls."""
    response = VoiceResponse()
    if digits == "1":
        r.set(_accepted_key(parent_sid, leg), "1", ex=state.STATE_TTL_SECONDS)
    else:
        response.hangup()
    return response


def dial_outcome(r: Redis, call_sid: str, leg: str, dial_status: str) -> str:
    if dial_status in ANSWERED:
        accepted = r.get(_accepted_key(call_sid, leg))
        return "accepted" if accepted else "not-accepted"
    return dial_status if dial_status in NOT_CONNECTED else "failed"


def dial_result(
    turn: Turn, leg: str, dial_status: str, duration: int, call_status: str = "in-progress"
) -> VoiceResponse:
    """The Dial action: accepted → survey after the talk; else the alterno, then Plataforma."""
    call = turn.load()
    outcome = dial_outcome(turn.r, call.call_sid, leg, dial_status)
    turn.record("dial_result", leg, once=leg, outcome=outcome, duration=duration)
    response = VoiceResponse()
    if call_status in FINAL_CALL_STATUSES:  # the caller hung up: nothing more to dial
        return response
    if outcome == "accepted":
        response.redirect(turn.path("voice.survey"), method="POST")
        return response
    if leg == "titular":
        turn.speak(response, "technical_dialing", call.language)
        return dial(turn, response, call, "alterno", missed=True)
    return _route_failed(turn, response, call, missed=True)
