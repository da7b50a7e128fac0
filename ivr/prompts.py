"""The prompt catalogue: every sentence the caller, a Plataforma agent, an interpreter or a Red
member hears (the call flow's and the Plataforma queue's), by prompt id and language. Default texts (Spanish, Peru; clear and simple, §5.3.3 a) live here in code; an admin
overrides a text or sets a recording per language in the ``prompts`` table (``flask prompts``),
without a code change. Quechua and Aymara are recorded audio (<Play>); a missing recording falls
back to the Spanish text and is logged. Fields in braces are filled in at call time."""

from __future__ import annotations

import logging
import string
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session
from twilio.twiml import TwiML

from directory import audit
from ivr.cache import cached, invalidate
from ivr.models import PromptOverride

log = logging.getLogger(__name__)

LANGUAGES = ("es", "qu", "ay")
# Heard by the Red member, the Plataforma agent or the interpreter, never by the caller: always
# Spanish, never recorded per language.
SPANISH_ONLY = frozenset(
    {
        "whisper_intro",
        "whisper_expediente",
        "whisper_summary",
        "whisper_accept",
        "whisper_plataforma",
        "whisper_plataforma_unknown",
        "whisper_plataforma_accept",
        "whisper_preferential",
        "whisper_authority",
        "whisper_authority_region",
        "whisper_query",
        "whisper_organo",
        "whisper_language",
        "whisper_interpreter",
        "interpreter_intro",
        "whisper_transfer",
        "whisper_transfer_accept",
        "whisper_cold_transfer",
    }
)
_warned: set[tuple[str, str]] = set()

DEFAULT_PROMPTS: dict[str, str] = {
    "greeting": (
        "Bienvenido a la línea de atención al usuario del Ministerio de Economía y Finanzas. "
        "Esta llamada será registrada para mejorar nuestra atención."
    ),
    "closed": "En este momento estamos fuera del horario de atención.",
    "closed_holiday": "Hoy es feriado y no estamos atendiendo.",
    "closed_day": "Hoy no estamos atendiendo.",
    "hours": "Nuestro horario de atención es {hours}.",
    "closed_menu": (
        "Para que le devolvamos la llamada, marque 1. Para dejar un mensaje de voz, marque 2."
    ),
    "callback_readback": (
        "Le llamaremos al número {digits}. Si es correcto, marque 1. Para marcar otro número, "
        "marque 2."
    ),
    "callback_ask_number": (
        "Marque el número al que debemos llamarle, con el código de ciudad si es un teléfono "
        "fijo, y al terminar marque numeral."
    ),
    "callback_invalid_number": "Ese número no es válido.",
    "callback_saved": (
        "Su pedido quedó registrado. Le llamaremos el próximo día de atención. Gracias por llamar."
    ),
    "voicemail_notice": (
        "Su mensaje será grabado y escuchado por nuestro equipo el próximo día de atención. "
        "Diga su nombre, su consulta y un número de contacto. Después del tono, hable. "
        "Al terminar, marque numeral."
    ),
    "voicemail_saved": "Su mensaje quedó registrado. Gracias por llamar.",
    "voicemail_empty": "No recibimos su mensaje. Gracias por llamar.",
    "goodbye": "Gracias por llamar al Ministerio de Economía y Finanzas. Hasta luego.",
    "language_menu_es": "Para continuar en español, marque 1 o espere.",
    "language_menu_qu": "Para ser atendido en quechua, marque 2.",
    "language_menu_ay": "Para ser atendido en aimara, marque 3.",
    "main_menu": (
        "Para consultar el estado de un trámite, marque 1. "
        "Para información sobre los servicios del MEF, marque 2. "
        "Para una consulta técnica, marque 3. "
        "Para los centros CONECTAMEF de su región, marque 4. "
        "Si usted es autoridad de un gobierno regional o local, marque 8. "
        "Para atención preferencial a gestantes, adultos mayores o personas con discapacidad, "
        "marque 9. Para hablar con un asesor, marque 0. Para repetir, marque asterisco."
    ),
    "no_input": "No recibimos ninguna opción.",
    "wrong_key": "La opción marcada no es válida.",
    "to_plataforma": "Le comunicamos con un asesor de la Plataforma de Atención al Usuario.",
    "to_plataforma_error": (
        "Disculpe, tenemos un inconveniente. Le comunicamos con un asesor de la Plataforma "
        "de Atención al Usuario."
    ),
    "expediente_ask": ("Marque el número de su expediente y al terminar marque numeral."),
    "expediente_invalid": "Ese número de expediente no es válido: debe tener de 4 a 12 dígitos.",
    "expediente_readback": (
        "Usted marcó el expediente {digits}. Si es correcto, marque 1 o espere. Para marcarlo "
        "de nuevo, marque 2."
    ),
    "preferential_menu": (
        "Si está gestando, marque 1. Si es adulto mayor, marque 2. Si es una persona con "
        "discapacidad, marque 3."
    ),
    "organo_intro": "Elija el área de su consulta.",
    "organo_option": "Para {nombre}, marque {key}.",
    "menu_next_page": "Para escuchar más opciones, marque 9.",
    "menu_tail": "Para hablar con un asesor, marque 0. Para volver, marque asterisco.",
    "technical_intro": (
        "Por el tipo de consulta, le comunicaremos con un especialista de {organo}, que "
        "atenderá su llamada."
    ),
    "summary_ask": (
        "Si desea, después del tono cuente en pocas palabras su consulta, en 30 segundos como "
        "máximo, y marque numeral. Para no dejarlo, marque numeral ahora."
    ),
    "technical_dialing": "Por favor espere mientras le comunicamos.",
    "technical_failed": "El especialista no está disponible en este momento.",
    "conectamef_intro": "Elija su departamento.",
    "department_option": "Para {nombre}, marque {key}.",
    "conectamef_transfer": "Le comunicamos con el centro CONECTAMEF {centro}.",
    "conectamef_failed": "El centro CONECTAMEF no contesta en este momento.",
    "survey_ask": (
        "Antes de terminar, califique la atención recibida, del 1 al 5, donde 5 es muy buena. "
        "Si no desea responder, puede colgar."
    ),
    "survey_thanks": "Gracias por su respuesta. Hasta luego.",
    "survey_skipped": "Gracias por llamar. Hasta luego.",
    # Heard by the Red member on the callee's leg (whisper), always in Spanish.
    "whisper_intro": (
        "Llamada de la Red de Atención al Usuario del MEF para {organo}. "
        "Tipo de usuario: {tipo_usuario}. Región: {region}."
    ),
    "whisper_expediente": "Expediente {digits}.",
    "whisper_summary": "Resumen de la consulta:",
    "whisper_accept": "Para aceptar la llamada, marque 1.",
    # The Plataforma queue (routing): what the caller hears while waiting and around the agent.
    "queue_authority": (
        "Su turno de atención como autoridad ha sido registrado. "
        "Un asesor de la Plataforma de Atención al Usuario le atenderá en breve."
    ),
    "queue_preferential": "Usted tiene atención preferencial. Un asesor le atenderá en breve.",
    "queue_position": "Usted es el número {puesto} en la fila.",
    "queue_wait_minute": "El tiempo estimado de espera es de 1 minuto.",
    "queue_wait_minutes": "El tiempo estimado de espera es de {minutos} minutos.",
    "queue_callback_offer": "Si prefiere que le devolvamos la llamada, marque 1.",
    "queue_no_agents": (
        "En este momento no hay asesores disponibles. Para que un asesor le devuelva la "
        "llamada, marque 1. Si prefiere esperar, permanezca en la línea."
    ),
    "queue_connecting": "Le estamos comunicando con un asesor.",
    "queue_bridging": "Le comunicamos con un asesor.",
    "queue_agent_missed": (
        "El asesor no está disponible en este momento. Conservamos su lugar en la fila."
    ),
    "queue_timeout": "Lamentamos la espera. Todos nuestros asesores siguen ocupados.",
    "queue_unavailable": (
        "Disculpe, tenemos un inconveniente técnico y no podemos mantenerle en la fila."
    ),
    "queue_call_again": "Por favor, vuelva a llamar en unos minutos.",
    "queue_callback_today": (
        "Hemos registrado su pedido. Un asesor le devolverá la llamada hoy "
        "al número desde el que nos llama."
    ),
    "queue_callback_next_day": (
        "Hemos registrado su pedido. Un asesor le devolverá la llamada el siguiente día hábil "
        "al número desde el que nos llama."
    ),
    "transfer_dialing": "Le comunicamos con el especialista. Por favor, espere.",
    "transfer_failed": (
        "No fue posible comunicarle con el especialista. Conservamos su lugar en la fila."
    ),
    "presencial": (
        "Su consulta será atendida de manera presencial por un servidor del Ministerio de "
        "Economía y Finanzas. Por favor, acérquese al Módulo de Registro y Control de Visitas "
        "para su registro. Ya les hemos avisado de su visita."
    ),
    "thanks": "Gracias por comunicarse con el Ministerio de Economía y Finanzas.",
    # Heard by the Plataforma agent before the caller is connected (whisper), always in Spanish.
    "whisper_plataforma": "Llamada de la Plataforma.",
    "whisper_plataforma_unknown": "Llamada de la Plataforma de Atención al Usuario.",
    "whisper_preferential": "Atención preferencial: {motivo}.",
    "whisper_authority": "Autoridad de un gobierno regional o local.",
    "whisper_authority_region": "Autoridad de un gobierno regional o local de {region}.",
    "whisper_query": "Consulta: {consulta}.",
    "whisper_organo": "Órgano: {organo}.",
    "whisper_language": "Idioma: {idioma}.",
    "whisper_interpreter": "Se está llamando a un intérprete del registro de lenguas originarias.",
    "whisper_plataforma_accept": "Para atender la llamada, marque 1.",
    # Heard by whoever an agent transfers a caller to (the console's transfers), in Spanish.
    "whisper_transfer": "Transferencia de un asesor de la Plataforma, {nombre}.",
    "whisper_transfer_accept": (
        "Para aceptar y hablar con el asesor, marque 1. La persona que llama está en espera."
    ),
    "whisper_cold_transfer": "Le comunicamos con la persona que llama.",
    # Heard by the caller in the conference when the agent decides (the console).
    "authority_by_phone": (
        "Le comunicaremos por teléfono con el especialista del órgano. Por favor, espere."
    ),
    # Heard by an agent whose console call to return a callback or a message cannot be placed.
    "agent_call_refused": (
        "No se pudo realizar la llamada. Tome de nuevo la devolución en la consola."
    ),
    # Heard by the interpreter joining the caller's conference, always in Spanish.
    "interpreter_intro": (
        "Apoyo de interpretación para la Plataforma de Atención al Usuario del MEF. "
        "Le comunicamos con el ciudadano y el asesor."
    ),
}

# What the admin pages show for each prompt id (Spanish, Peru).
PROMPT_LABELS: dict[str, str] = {
    "greeting": "Bienvenida",
    "closed": "Fuera del horario de atención",
    "closed_holiday": "Cerrado por feriado",
    "closed_day": "Cerrado hoy (día de cierre)",
    "hours": "Horario de atención",
    "closed_menu": "Fuera de horario: devolución de llamada o mensaje de voz",
    "callback_readback": "Devolución: confirmar el número",
    "callback_ask_number": "Devolución: marcar otro número",
    "callback_invalid_number": "Devolución: número no válido",
    "callback_saved": "Devolución registrada (fuera de horario)",
    "voicemail_notice": "Mensaje de voz: instrucciones",
    "voicemail_saved": "Mensaje de voz registrado",
    "voicemail_empty": "Mensaje de voz vacío",
    "goodbye": "Despedida",
    "language_menu_es": "Menú de idioma: español",
    "language_menu_qu": "Menú de idioma: quechua",
    "language_menu_ay": "Menú de idioma: aimara",
    "main_menu": "Menú principal",
    "no_input": "No se marcó ninguna opción",
    "wrong_key": "Opción no válida",
    "to_plataforma": "Paso a un asesor de la Plataforma",
    "to_plataforma_error": "Paso a un asesor tras un inconveniente",
    "expediente_ask": "Expediente: pedir el número",
    "expediente_invalid": "Expediente: número no válido",
    "expediente_readback": "Expediente: confirmar el número",
    "preferential_menu": "Menú de atención preferencial",
    "organo_intro": "Menú de órganos: introducción",
    "organo_option": "Menú de órganos: cada opción",
    "menu_next_page": "Menú: más opciones",
    "menu_tail": "Menú: asesor o volver",
    "technical_intro": "Consulta técnica: aviso del especialista",
    "summary_ask": "Consulta técnica: pedir el resumen",
    "technical_dialing": "Consulta técnica: en espera de la comunicación",
    "technical_failed": "Consulta técnica: especialista no disponible",
    "conectamef_intro": "CONECTAMEF: elegir el departamento",
    "department_option": "CONECTAMEF: cada departamento",
    "conectamef_transfer": "CONECTAMEF: paso al centro",
    "conectamef_failed": "CONECTAMEF: el centro no contesta",
    "survey_ask": "Encuesta: pedir la calificación",
    "survey_thanks": "Encuesta: gracias por responder",
    "survey_skipped": "Encuesta: sin respuesta",
    "whisper_intro": "Aviso al especialista de la Red: quién llama",
    "whisper_expediente": "Aviso al especialista o al asesor: expediente",
    "whisper_summary": "Aviso al especialista de la Red: resumen grabado",
    "whisper_accept": "Aviso al especialista de la Red: aceptar con 1",
    "queue_authority": "Fila: turno de una autoridad registrado",
    "queue_preferential": "Fila: atención preferencial",
    "queue_position": "Fila: lugar en la fila",
    "queue_wait_minute": "Fila: espera de 1 minuto",
    "queue_wait_minutes": "Fila: espera en minutos",
    "queue_callback_offer": "Fila: marcar 1 para la devolución",
    "queue_no_agents": "Fila: ningún asesor disponible, devolución primero",
    "queue_connecting": "Fila: comunicando con un asesor",
    "queue_bridging": "Fila: paso al asesor",
    "queue_agent_missed": "Fila: el asesor no contestó",
    "queue_timeout": "Fila: límite de espera alcanzado",
    "queue_unavailable": "Fila: inconveniente técnico, no se puede seguir en la fila",
    "queue_call_again": "Fila: volver a llamar más tarde",
    "queue_callback_today": "Fila: devolución registrada para hoy",
    "queue_callback_next_day": "Fila: devolución registrada para el siguiente día hábil",
    "transfer_dialing": "Transferencia al especialista",
    "transfer_failed": "Transferencia fallida: vuelta a la fila",
    "presencial": "Atención presencial: ir al Módulo de Visitas",
    "thanks": "Agradecimiento final",
    "whisper_plataforma": "Aviso al asesor: llamada de la Plataforma",
    "whisper_plataforma_unknown": "Aviso al asesor: llamada sin datos",
    "whisper_preferential": "Aviso al asesor: atención preferencial",
    "whisper_authority": "Aviso al asesor: autoridad",
    "whisper_authority_region": "Aviso al asesor: autoridad y su región",
    "whisper_query": "Aviso al asesor: tipo de consulta",
    "whisper_organo": "Aviso al asesor: órgano",
    "whisper_language": "Aviso al asesor: idioma de quien llama",
    "whisper_interpreter": "Aviso al asesor: se llama a un intérprete",
    "whisper_plataforma_accept": "Aviso al asesor: atender con 1",
    "interpreter_intro": "Aviso al intérprete",
    "whisper_transfer": "Transferencia del asesor: quién transfiere",
    "whisper_transfer_accept": "Transferencia del asesor: aceptar con 1",
    "whisper_cold_transfer": "Transferencia directa: paso a la persona que llama",
    "authority_by_phone": "Autoridad: atención por teléfono con el especialista",
    "agent_call_refused": "Consola del asesor: la devolución no se pudo llamar",
}


@dataclass(frozen=True)
class Voice:
    """The text-to-speech voice and language of the Spanish prompts."""

    name: str = "Polly.Mia"
    language: str = "es-MX"


def _overrides(session: Session) -> dict[tuple[str, str], tuple[str | None, str | None]]:
    def load() -> dict[tuple[str, str], tuple[str | None, str | None]]:
        _warned.clear()
        return {
            (row.prompt_id, row.language): (row.text, row.audio_url)
            for row in session.scalars(select(PromptOverride))
        }

    # The database down and nothing loaded yet: the catalogue's own texts.
    return cached("prompts", load, ttl=30.0, fallback=dict)


@dataclass(frozen=True)
class Rendered:
    text: str
    audio_url: str | None


def render(
    session: Session | None, prompt_id: str, language: str = "es", **fields: Any
) -> Rendered:
    """The text (Spanish fallback included) and the recording, if any, of a prompt. With no
    session, the default text (a safe route that must not need the database)."""
    overrides = _overrides(session) if session is not None else {}
    text, audio = overrides.get((prompt_id, language), (None, None))
    if language != "es" and not audio and session is not None:
        if (prompt_id, language) not in _warned:  # once per process until the catalogue reloads
            _warned.add((prompt_id, language))
            log.warning(
                "prompt %s has no recording in %s; the Spanish text is spoken", prompt_id, language
            )
        text, audio = overrides.get((prompt_id, "es"), (None, None))
        audio = None
    base = text or DEFAULT_PROMPTS[prompt_id]
    return Rendered(base.format(**fields) if fields else base, audio)


def speak(
    target: TwiML,
    session: Session | None,
    voice: Voice,
    prompt_id: str,
    language: str = "es",
    **fields: Any,
) -> None:
    """Append the prompt to ``target`` (a response or a Gather): <Play> when it has a
    recording in that language, else <Say> of the text in the Spanish voice."""
    rendered = render(session, prompt_id, language, **fields)
    if rendered.audio_url:
        target.play(rendered.audio_url)
    else:
        target.say(rendered.text, voice=voice.name, language=voice.language)


class Speak(Protocol):
    """speak() with the session and the voice already chosen (``Turn.speak``, the routing
    ``Context.speak``)."""

    def __call__(
        self, target: TwiML, prompt_id: str, language: str = "es", **fields: Any
    ) -> None: ...


# --- Admin: list and override -----------------------------------------------------------


class UnknownPromptError(ValueError):
    pass


def _check(prompt_id: str, language: str) -> None:
    if prompt_id not in DEFAULT_PROMPTS:
        raise UnknownPromptError(f"No existe el mensaje {prompt_id!r}; vea `flask prompts list`.")
    if language not in LANGUAGES:
        raise UnknownPromptError(f"Idioma {language!r} desconocido; use {', '.join(LANGUAGES)}.")


def _row(session: Session, prompt_id: str, language: str) -> PromptOverride:
    _check(prompt_id, language)
    row = session.scalars(
        select(PromptOverride).where(
            PromptOverride.prompt_id == prompt_id, PromptOverride.language == language
        )
    ).first()
    if row is None:
        row = PromptOverride(prompt_id=prompt_id, language=language)
        session.add(row)
    return row


class InvalidAudioUrlError(UnknownPromptError):
    """An audio URL that Twilio could not fetch: not http(s), or without a host."""


def check_audio_url(url: str) -> str:
    """The URL, stripped, when it is an http(s) address with a host; else InvalidAudioUrlError."""
    clean = url.strip()
    parts = urlsplit(clean)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or " " in clean:
        raise InvalidAudioUrlError(
            f"{clean!r} no es una dirección válida: use una URL http:// o https:// completa, "
            "por ejemplo https://cdn.mef.gob.pe/qu/saludo.mp3."
        )
    return clean


def _snapshot(row: PromptOverride) -> dict[str, Any]:
    return {"text": row.text, "audio_url": row.audio_url}


def _save(
    session: Session,
    prompt_id: str,
    language: str,
    field: str,
    value: str | None,
    actor: str | None,
) -> None:
    row = _row(session, prompt_id, language)
    before = _snapshot(row) if row.id is not None else None
    setattr(row, field, value)
    after = _snapshot(row)
    if actor is not None and (before or {"text": None, "audio_url": None}) != after:
        audit.record(
            session,
            actor=actor,
            entity="prompt",
            entity_id=f"{prompt_id}:{language}",
            action="create" if before is None else "update",
            before=before,
            after=after,
        )
    session.commit()
    invalidate("prompts")


def set_audio(
    session: Session, prompt_id: str, language: str, url: str | None, *, actor: str | None = None
) -> None:
    """Set (or with None remove) the recording of a prompt in a language. With ``actor``, the
    change is written to the audit log."""
    if url is not None:
        url = check_audio_url(url)
    _save(session, prompt_id, language, "audio_url", url, actor)


def set_text(
    session: Session, prompt_id: str, language: str, text: str | None, *, actor: str | None = None
) -> None:
    """Replace (or with None restore) the text of a prompt in a language. With ``actor``, the
    change is written to the audit log."""
    _check(prompt_id, language)
    if text is not None:
        try:
            text.format(**{name: "" for name in _fields(DEFAULT_PROMPTS[prompt_id])})
        except (KeyError, IndexError, ValueError) as exc:
            raise UnknownPromptError(
                f"El texto usa un campo que {prompt_id!r} no tiene: {exc}. "
                f"Campos disponibles: {', '.join(_fields(DEFAULT_PROMPTS[prompt_id])) or 'ninguno'}."
            ) from exc
    _save(session, prompt_id, language, "text", text, actor)


def prompt_fields(prompt_id: str) -> list[str]:
    """The ``{fields}`` a prompt's text may use (filled in at call time)."""
    _check(prompt_id, "es")
    return _fields(DEFAULT_PROMPTS[prompt_id])


def missing_recordings(session: Session) -> dict[str, list[str]]:
    """Per recorded language (qu, ay), the prompt ids the caller hears in Spanish for want of
    a recording."""
    recorded = {
        (row.prompt_id, row.language)
        for row in session.scalars(
            select(PromptOverride).where(PromptOverride.audio_url.is_not(None))
        )
    }
    return {
        language: [
            prompt_id
            for prompt_id in DEFAULT_PROMPTS
            if prompt_id not in SPANISH_ONLY and (prompt_id, language) not in recorded
        ]
        for language in LANGUAGES
        if language != "es"
    }


def _fields(text: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(text) if name]


@dataclass(frozen=True)
class CatalogueEntry:
    prompt_id: str
    language: str
    text: str
    audio_url: str | None
    overridden: bool
    text_override: str | None = None  # the admin's own text in this language, if any
    label: str = ""  # what the admin pages call it (PROMPT_LABELS)


def catalogue(session: Session, language: str | None = None) -> list[CatalogueEntry]:
    """Every prompt in every language (or one), with what is in force."""
    rows = {(r.prompt_id, r.language): r for r in session.scalars(select(PromptOverride))}
    entries = []
    for prompt_id, default in DEFAULT_PROMPTS.items():
        for lang in (language,) if language else LANGUAGES:
            row = rows.get((prompt_id, lang))
            es_row = rows.get((prompt_id, "es"))
            text = (row.text if row else None) or (es_row.text if es_row else None) or default
            entries.append(
                CatalogueEntry(
                    prompt_id,
                    lang,
                    text,
                    row.audio_url if row else None,
                    row is not None,
                    row.text if row else None,
                    PROMPT_LABELS[prompt_id],
                )
            )
    return entries
