"""Read-only look-ups of the directory (plain functions over a session), for the call flow,
routing, the exports and the staff pages.

- ``active_organos(session) -> list[Organo]``: the active órganos in menu order (``orden``).
- ``serving_representative(session, sigla, rol) -> Representative | None``: the titular or
  alterno of an active órgano serving now (not retired).
- ``center_for_department(session, departamento) -> ConectamefCenter | None``: the active
  CONECTAMEF center of a department, any spelling ("Ancash", "lima/callao"); when several
  serve it, the first by name (Apurímac → Abancay, Áncash → Huaraz, San Martín → Moyobamba).
- ``departments(session) -> list[str]``: the departments served by an active center, sorted.
- ``agents_speaking(session, code) -> list[Agent]``: active Plataforma agents who speak a
  language (``qu``, ``ay``...), by name.
- ``speakers_of(session, code) -> list[LanguageSpeaker]``: active entries of the §5.4 registry
  for a language, by name (the interpreters a Plataforma agent may bring in).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from directory.centers import center_for_department, departments
from directory.models import Agent, AgentLanguage, LanguageSpeaker, Organo, Representative

__all__ = [
    "active_organos",
    "agents_speaking",
    "center_for_department",
    "departments",
    "serving_representative",
    "speakers_of",
]


def active_organos(session: Session) -> list[Organo]:
    return list(
        session.scalars(
            select(Organo).where(Organo.activo.is_(True)).order_by(Organo.orden, Organo.sigla)
        )
    )


def serving_representative(session: Session, sigla: str, rol: str) -> Representative | None:
    return session.scalars(
        select(Representative)
        .join(Organo)
        .where(
            Organo.sigla == sigla.strip().upper(),
            Organo.activo.is_(True),
            Representative.rol == rol,
            Representative.retired_at.is_(None),
        )
    ).first()


def agents_speaking(session: Session, code: str) -> list[Agent]:
    return list(
        session.scalars(
            select(Agent)
            .join(AgentLanguage)
            .where(Agent.activo.is_(True), AgentLanguage.language_code == code)
            .order_by(Agent.nombre, Agent.id)
        )
    )


def speakers_of(session: Session, code: str) -> list[LanguageSpeaker]:
    return list(
        session.scalars(
            select(LanguageSpeaker)
            .where(LanguageSpeaker.activo.is_(True), LanguageSpeaker.language_code == code)
            .order_by(LanguageSpeaker.nombre_completo)
        )
    )
