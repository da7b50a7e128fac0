"""The audit log: every change to the directory writes an ``AuditEntry`` (who, when, the row
before and after)."""

from __future__ import annotations

import getpass
from datetime import date, datetime
from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from directory.models import AuditEntry


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


def entries(session: Session, entity: str | None = None) -> list[AuditEntry]:
    """Audit entries, oldest first, optionally of one kind of entity."""
    query = select(AuditEntry).order_by(AuditEntry.id)
    if entity is not None:
        query = query.where(AuditEntry.entity == entity)
    return list(session.scalars(query))
