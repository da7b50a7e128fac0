"""What the person who takes a call is told about the caller: one set of facts from the call's
state, spoken from the catalogue's prompts (always Spanish, see ivr.prompts.SPANISH_ONLY) to a
Red member on the technical route and to a Plataforma agent (routing), and written in the
visits module's notice (routing.authorities)."""

from __future__ import annotations

from dataclasses import dataclass

from twilio.twiml import TwiML

from ivr.flow import spoken_digits
from ivr.prompts import Speak
from ivr.state import CallState

QUERIES = {
    "estado_tramite": "estado de un trámite",
    "informacion": "información sobre los servicios del MEF",
    "consulta_tecnica": "consulta técnica",
    "conectamef": "centros CONECTAMEF",
    "autoridad": "autoridad de un gobierno regional o local",
    "preferencial": "atención preferencial",
    "asesor": "hablar con un asesor",
}
LANGUAGE_NAMES = {"es": "español", "qu": "quechua", "ay": "aimara"}
PREFERENTIAL_NAMES = {
    "gestante": "gestante",
    "adulto_mayor": "adulto mayor",
    "discapacidad": "persona con discapacidad",
}


@dataclass(frozen=True)
class Briefing:
    """The caller's facts, in the words the briefings use."""

    authority: bool
    region: str | None
    preferential: str | None  # gestante, adulto mayor, persona con discapacidad
    query: str | None  # the kind of query: "estado de un trámite"...
    expediente: str | None  # the digits
    organo_sigla: str | None
    language: str | None  # the caller's language when it is not Spanish: quechua, aimara
    summary_url: str | None  # the caller's recorded summary (technical route)
    from_number: str | None

    @classmethod
    def of(cls, call: CallState) -> Briefing:
        return cls(
            authority=call.tipo_usuario == "autoridad",
            region=call.region or None,
            preferential=(
                PREFERENTIAL_NAMES.get(call.preferencial, call.preferencial)
                if call.preferencial
                else None
            ),
            query=QUERIES.get(call.detalle, call.detalle) if call.detalle else None,
            expediente=call.expediente or None,
            organo_sigla=call.organo_sigla or None,
            language=(
                LANGUAGE_NAMES.get(call.language, call.language) if call.language != "es" else None
            ),
            summary_url=call.summary_url or None,
            from_number=call.from_number or None,
        )


def to_red_member(speak: Speak, target: TwiML, call: CallState, *, organo: str) -> None:
    """The Red member's whisper: órgano, caller type, region, expediente, recorded summary."""
    facts = Briefing.of(call)
    speak(
        target,
        "whisper_intro",
        organo=organo,
        tipo_usuario="autoridad" if facts.authority else "ciudadano",
        region=facts.region or "no identificada",
    )
    if facts.expediente:
        speak(target, "whisper_expediente", digits=spoken_digits(facts.expediente))
    if facts.summary_url:
        speak(target, "whisper_summary")
        target.play(facts.summary_url)


def to_agent(speak: Speak, target: TwiML, call: CallState | None, *, interpreter: bool) -> None:
    """The Plataforma agent's whisper: preferential or authority, query, expediente, órgano,
    language (and whether an interpreter is being called)."""
    if call is None:
        speak(target, "whisper_plataforma_unknown")
        return
    facts = Briefing.of(call)
    speak(target, "whisper_plataforma")
    if facts.preferential:
        speak(target, "whisper_preferential", motivo=facts.preferential)
    if facts.authority and facts.region:
        speak(target, "whisper_authority_region", region=facts.region)
    elif facts.authority:
        speak(target, "whisper_authority")
    if facts.query:
        speak(target, "whisper_query", consulta=facts.query)
    if facts.expediente:
        speak(target, "whisper_expediente", digits=spoken_digits(facts.expediente))
    if facts.organo_sigla:
        speak(target, "whisper_organo", organo=facts.organo_sigla)
    if facts.language:
        speak(target, "whisper_language", idioma=facts.language)
        if interpreter:
            speak(target, "whisper_interpreter")
