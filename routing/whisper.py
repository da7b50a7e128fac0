"""What the agent hears before taking a caller, and how the queue speaks to callers: plain
Spanish (Peru) text built from the call's state."""

from __future__ import annotations

from ivr.state import CallState

DETALLES = {
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


def spell_digits(value: str) -> str:
    """Digits read one by one (an expediente number)."""
    return " ".join(value)


def whisper_text(state: CallState | None, *, interpreter: bool = False) -> str:
    """The agent's briefing: kind of query, expediente, language, preferential or authority."""
    if state is None:
        return "Llamada de la Plataforma de Atención al Usuario."
    parts = ["Llamada de la Plataforma."]
    if state.preferencial:
        reason = PREFERENTIAL_NAMES.get(state.preferencial, state.preferencial)
        parts.append(f"Atención preferencial: {reason}.")
    if state.tipo_usuario == "autoridad":
        region = f" de {state.region}" if state.region else ""
        parts.append(f"Autoridad de un gobierno regional o local{region}.")
    if state.detalle:
        parts.append(f"Consulta: {DETALLES.get(state.detalle, state.detalle)}.")
    if state.expediente:
        parts.append(f"Expediente {spell_digits(state.expediente)}.")
    if state.organo_sigla:
        parts.append(f"Órgano: {state.organo_sigla}.")
    language = LANGUAGE_NAMES.get(state.language, state.language)
    if state.language != "es":
        parts.append(f"Idioma: {language}.")
        if interpreter:
            parts.append("Se está llamando a un intérprete del registro de lenguas originarias.")
    return " ".join(parts)


def position_text(place: int, minutes: int) -> str:
    minutos = "1 minuto" if minutes == 1 else f"{minutes} minutos"
    return (
        f"Usted es el número {place} en la fila. "
        f"El tiempo estimado de espera es de {minutos}. "
        "Si prefiere que le devolvamos la llamada, marque 1."
    )


def sms_for_visits(state: CallState | None, agent: str) -> str:
    """The Módulo de Registro y Control de Visitas' notice of an authority on the way."""
    if state is None:
        return f"Red de Atención MEF: una autoridad fue derivada a atención presencial ({agent})."
    parts = [
        "Red de Atención MEF: autoridad de gobierno regional/local derivada a atención presencial.",
        f"Teléfono: {state.from_number or 'no disponible'}.",
    ]
    if state.region:
        parts.append(f"Región: {state.region}.")
    if state.organo_sigla:
        parts.append(f"Órgano: {state.organo_sigla}.")
    if state.detalle:
        parts.append(f"Consulta: {DETALLES.get(state.detalle, state.detalle)}.")
    if state.expediente:
        parts.append(f"Expediente: {state.expediente}.")
    parts.append(f"Atendió: {agent}.")
    return " ".join(parts)
