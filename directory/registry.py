"""Plataforma agents and the registry of servers who speak lenguas originarias (§5.4).

An agent is reached by ``canal``: ``anexo`` (3 to 6 digits on the PBX), ``sip`` (a SIP URI such
as ``sip:agente1@pbx.mef.gob.pe``) or ``client`` (a Twilio Client identity). Every change writes
an audit entry.
"""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from directory import audit
from directory.models import (
    AGENT_CHANNEL_LABELS,
    AGENT_CHANNELS,
    Agent,
    AgentLanguage,
    Language,
    LanguageSpeaker,
)
from directory.rules import RuleError, check_anexo, check_email, check_text, fold, parse_phone

SIP_RE = re.compile(r"^sips?:[^@\s]+@[^@\s]+$")
CLIENT_RE = re.compile(r"^[A-Za-z0-9_.@\-]{1,121}$")
LANGUAGE_CODE_RE = re.compile(r"^[a-z]{2,3}$")


def check_destino(canal: str, destino: str) -> str:
    """How an agent is reached, checked against its channel."""
    destino = destino.strip()
    if canal == "anexo":
        return check_anexo(destino)
    if canal == "sip":
        if not SIP_RE.match(destino):
            raise RuleError(f"«{destino}» no es una URI SIP (ejemplo: sip:agente1@pbx.mef.gob.pe).")
        return destino
    if canal == "client":
        identity = destino.removeprefix("client:")
        if not CLIENT_RE.match(identity):
            raise RuleError(
                f"«{destino}» no es una identidad de Twilio Client (letras, dígitos, _ . @ -)."
            )
        return identity
    raise RuleError(f"el canal «{canal}» debe ser uno de: {', '.join(AGENT_CHANNELS)}.")


def check_languages(session: Session, codes: list[str]) -> list[str]:
    """The language codes, checked against the ``languages`` table (sorted, no repeats)."""
    known = set(session.scalars(select(Language.code)))
    clean = sorted({c.strip().lower() for c in codes if c.strip()})
    unknown = [c for c in clean if c not in known]
    if unknown:
        raise RuleError(
            f"idioma(s) desconocido(s): {', '.join(unknown)}; registrados: "
            + ", ".join(sorted(known))
        )
    return clean


def list_agents(session: Session, *, include_inactive: bool = False) -> list[Agent]:
    query = select(Agent).order_by(Agent.nombre, Agent.id)
    if not include_inactive:
        query = query.where(Agent.activo.is_(True))
    return list(session.scalars(query))


def get_agent(session: Session, agent_id: int) -> Agent:
    agent = session.get(Agent, agent_id)
    if agent is None:
        raise RuleError(f"no existe el agente {agent_id}.")
    return agent


def add_agent(
    session: Session,
    *,
    nombre: str,
    canal: str,
    destino: str,
    languages: list[str],
    correo: str | None = None,
    actor: str,
) -> Agent:
    agent = Agent(
        nombre=check_text(nombre, "el nombre del agente"),
        canal=canal,
        destino=check_destino(canal, destino),
        correo=check_email(correo) if correo else None,
        activo=True,
    )
    agent.languages = [AgentLanguage(language_code=c) for c in check_languages(session, languages)]
    session.add(agent)
    session.flush()
    refuse_twin_agent(session, agent)
    audit.record_change(session, agent, "create", actor=actor)
    return agent


def replace_languages(session: Session, agent: Agent, codes: list[str]) -> None:
    """The agent speaks ``codes`` (checked) from now on; the rows of the others are deleted."""
    if codes != agent.language_codes:
        agent.languages = [al for al in agent.languages if al.language_code in codes]
        session.flush()
        have = set(agent.language_codes)
        agent.languages.extend(AgentLanguage(language_code=c) for c in codes if c not in have)
    session.flush()
    session.refresh(agent)


def set_agent_languages(
    session: Session, agent_id: int, languages: list[str], *, actor: str
) -> Agent:
    """Replace the languages an agent speaks."""
    agent = get_agent(session, agent_id)
    codes = check_languages(session, languages)
    if codes == agent.language_codes:
        return agent
    before = audit.state(agent)
    replace_languages(session, agent, codes)
    audit.record_change(session, agent, "update", actor=actor, before=before)
    return agent


def set_agent_active(session: Session, agent_id: int, activo: bool, *, actor: str) -> Agent:
    agent = get_agent(session, agent_id)
    if agent.activo == activo:
        return agent
    before = audit.state(agent)
    agent.activo = activo
    session.flush()
    action = "activate" if activo else "deactivate"
    audit.record_change(session, agent, action, actor=actor, before=before)
    return agent


# --- languages and the registry of speakers (§5.4) --------------------------------------


def list_languages(session: Session) -> list[Language]:
    return list(
        session.scalars(select(Language).order_by(Language.en_menu.desc(), Language.nombre))
    )


def add_language(session: Session, code: str, nombre: str, *, actor: str) -> Language:
    """Add a lengua originaria to the registry (not to the IVR menu, which is fixed)."""
    code = code.strip().lower()
    if not LANGUAGE_CODE_RE.match(code):
        raise RuleError(f"el código «{code}» debe ser ISO 639 de 2 o 3 letras (ej.: quz, cbs).")
    if session.get(Language, code) is not None:
        raise RuleError(f"el idioma {code} ya está registrado.")
    language = Language(code=code, nombre=check_text(nombre, "el nombre del idioma"), en_menu=False)
    session.add(language)
    session.flush()
    audit.record_change(session, language, "create", actor=actor)
    return language


def list_speakers(session: Session, code: str | None = None) -> list[LanguageSpeaker]:
    query = (
        select(LanguageSpeaker)
        .where(LanguageSpeaker.activo.is_(True))
        .order_by(LanguageSpeaker.language_code, LanguageSpeaker.nombre_completo)
    )
    if code is not None:
        query = query.where(LanguageSpeaker.language_code == code.strip().lower())
    return list(session.scalars(query))


def add_speaker(
    session: Session,
    *,
    nombre_completo: str,
    language_code: str,
    unidad: str | None = None,
    anexo: str | None = None,
    telefono: str | None = None,
    correo: str | None = None,
    actor: str,
) -> LanguageSpeaker:
    codes = check_languages(session, [language_code])
    if not codes:
        raise RuleError("falta el idioma.")
    code = codes[0]
    speaker = LanguageSpeaker(
        nombre_completo=check_text(nombre_completo, "el nombre completo"),
        language_code=code,
        unidad=check_text(unidad, "la unidad") if unidad else None,
        anexo=check_anexo(anexo) if anexo else None,
        telefono=parse_phone(telefono) if telefono else None,
        correo=check_email(correo) if correo else None,
        activo=True,
    )
    session.add(speaker)
    session.flush()
    refuse_twin_speaker(session, speaker)
    audit.record_change(session, speaker, "create", actor=actor)
    return speaker


def _serving_speaker(session: Session, speaker_id: int) -> LanguageSpeaker:
    speaker = session.get(LanguageSpeaker, speaker_id)
    if speaker is None or not speaker.activo:
        raise RuleError(f"no hay en el registro un servidor con id {speaker_id}.")
    return speaker


def update_speaker(
    session: Session,
    speaker_id: int,
    *,
    nombre_completo: str | None = None,
    language_code: str | None = None,
    unidad: str | None = None,
    anexo: str | None = None,
    telefono: str | None = None,
    correo: str | None = None,
    actor: str,
) -> LanguageSpeaker:
    """Change the given fields of a registry entry (None leaves a field as it is; an empty
    string clears an optional one)."""
    speaker = _serving_speaker(session, speaker_id)
    before = audit.state(speaker)
    if nombre_completo is not None:
        speaker.nombre_completo = check_text(nombre_completo, "el nombre completo")
    if language_code is not None:
        speaker.language_code = (
            check_languages(session, [language_code]) or [speaker.language_code]
        )[0]
    if unidad is not None:
        speaker.unidad = check_text(unidad, "la unidad") if unidad.strip() else None
    if anexo is not None:
        speaker.anexo = check_anexo(anexo) if anexo.strip() else None
    if telefono is not None:
        speaker.telefono = parse_phone(telefono) if telefono.strip() else None
    if correo is not None:
        speaker.correo = check_email(correo) if correo.strip() else None
    if audit.state(speaker) != before:
        session.flush()
        audit.record_change(session, speaker, "update", actor=actor, before=before)
    return speaker


def remove_speaker(session: Session, speaker_id: int, *, actor: str) -> LanguageSpeaker:
    """Take a server off the registry (the row stays, inactive, for the audit trail)."""
    speaker = _serving_speaker(session, speaker_id)
    before = audit.state(speaker)
    speaker.activo = False
    session.flush()
    audit.record_change(session, speaker, "remove", actor=actor, before=before)
    return speaker


# --- Twins: the same agent or server twice (the CLI and the web editor both add through here)


def describe_agent(agent: Agent) -> str:
    return f"{agent.nombre} ({AGENT_CHANNEL_LABELS.get(agent.canal, agent.canal)} {agent.destino})"


def refuse_twin_agent(session: Session, added: Agent) -> None:
    """An agent just added (flushed, so its values are the checked ones) must not repeat one
    that exists, active or not: same name (accents and case aside), channel and destination."""
    for agent in list_agents(session, include_inactive=True):
        if (
            agent.id != added.id
            and fold(agent.nombre) == fold(added.nombre)
            and (agent.canal, agent.destino) == (added.canal, added.destino)
        ):
            state = (
                ""
                if agent.activo
                else f"; está inactivo: `agents activate {agent.id}`, o actívelo en /admin/directorio"
            )
            raise RuleError(f"ya existe el agente {agent.id}: {describe_agent(agent)}{state}.")


def reach(speaker: LanguageSpeaker) -> str:
    """How a server is reached: anexo, telephone, e-mail ("-" when none is recorded)."""
    ways = (
        f"anexo {speaker.anexo}" if speaker.anexo else "",
        speaker.telefono or "",
        speaker.correo or "",
    )
    return ", ".join(way for way in ways if way) or "-"


def refuse_twin_speaker(session: Session, added: LanguageSpeaker) -> None:
    """A server just added must not repeat one in the registry: same name (accents and case
    aside), language, anexo and telephone."""
    for speaker in list_speakers(session, added.language_code):
        if (
            speaker.id != added.id
            and fold(speaker.nombre_completo) == fold(added.nombre_completo)
            and (speaker.anexo, speaker.telefono) == (added.anexo, added.telefono)
        ):
            raise RuleError(
                f"ya está en el registro el servidor {speaker.id}: {speaker.nombre_completo} "
                f"({speaker.language_code}; {reach(speaker)})."
            )
