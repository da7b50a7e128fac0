"""The audit log: every change to the directory writes an ``AuditEntry`` (who, when, the row
before and after)."""

from __future__ import annotations

import getpass
from datetime import date, datetime
from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from directory.models import (
    Agent,
    AuditEntry,
    ConectamefCenter,
    Language,
    LanguageSpeaker,
    Organo,
    Representative,
)
from directory.rules import fold

# How each directory table is named in the log, and the attribute that names one of its rows.
ENTITIES: dict[type, tuple[str, str]] = {
    Organo: ("organo", "sigla"),
    Representative: ("representative", "id"),
    Agent: ("agent", "id"),
    Language: ("language", "code"),
    LanguageSpeaker: ("language_speaker", "id"),
    ConectamefCenter: ("center", "centro"),
}


def default_actor() -> str:
    """Who runs a CLI command when ``--actor`` is not given: ``cli:<OS user>``."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "desconocido"
    return f"cli:{user}"


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def snapshot(obj: object) -> dict[str, Any]:
    """The column values of a mapped object, JSON-ready (dates as ISO strings)."""
    mapper = inspect(obj).mapper
    return {attr.key: _plain(getattr(obj, attr.key)) for attr in mapper.column_attrs}


def state(obj: object) -> dict[str, Any]:
    """A directory row as the log records it: its columns (``snapshot``) and, for an agent or
    a center, the languages or departments it owns."""
    data = snapshot(obj)
    if isinstance(obj, Agent):
        data["idiomas"] = obj.language_codes
    elif isinstance(obj, ConectamefCenter):
        data["departamentos"] = sorted((d.departamento for d in obj.departments), key=fold)
    return data


def record(
    session: Session,
    *,
    actor: str,
    entity: str,
    entity_id: object,
    action: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    note: str | None = None,
) -> AuditEntry:
    """Add one audit entry to the session (committed with the change it describes)."""
    entry = AuditEntry(
        actor=actor,
        entity=entity,
        entity_id=str(entity_id),
        action=action,
        before=before,
        after=after,
        note=note,
    )
    session.add(entry)
    return entry


def record_change(
    session: Session, obj: object, action: str, *, actor: str, before: dict[str, Any] | None = None
) -> None:
    """The audit entry of a change to a directory row: ``before`` and its ``state`` now."""
    entity, key = ENTITIES[type(obj)]
    record(
        session,
        actor=actor,
        entity=entity,
        entity_id=getattr(obj, key),
        action=action,
        before=before,
        after=state(obj),
    )


def entries(session: Session, entity: str | None = None) -> list[AuditEntry]:
    """Audit entries, oldest first, optionally of one kind of entity."""
    query = select(AuditEntry).order_by(AuditEntry.id)
    if entity is not None:
        query = query.where(AuditEntry.entity == entity)
    return list(session.scalars(query))
