"""The voice-message inbox (§5.6.1): messages callers left outside hours, newest first, each
due the line's next business day (set when the message is stored, ``ivr.closed``) and overdue
once that day has passed without the message being ``atendido``.

Plain functions over a session, shared by /buzon and ``flask buzon ...``; a state change writes
an audit entry (entity ``voice_message``) and records who made it (``handled_by``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from directory.models import AuditEntry
from directory.rules import RuleError
from register.messages import STATES, set_status
from register.models import VoiceMessage

__all__ = ["STATES", "RuleError", "set_status"]  # kept here for /buzon and `flask buzon`

STATE_NAMES = {"pendiente": "Pendiente", "escuchado": "Escuchado", "atendido": "Atendido"}


@dataclass(frozen=True)
class InboxItem:
    message: VoiceMessage
    overdue: bool
    changed_at: datetime | None  # when the state last changed (from the audit log)


def is_overdue(message: VoiceMessage, today: date) -> bool:
    return message.status != "atendido" and message.due_date < today


def list_messages(
    session: Session, *, today: date, status: str | None = None, limit: int = 500
) -> list[InboxItem]:
    """The newest ``limit`` messages first, optionally of one state."""
    query = select(VoiceMessage).order_by(VoiceMessage.created_at.desc(), VoiceMessage.id.desc())
    if status is not None:
        query = query.where(VoiceMessage.status == status)
    messages = list(session.scalars(query.limit(limit)))
    # Each message's last audit entry, the newest by id overwriting the older ones.
    changed: dict[str, datetime] = dict(
        session.execute(
            select(AuditEntry.entity_id, AuditEntry.at)
            .where(
                AuditEntry.entity == "voice_message",
                AuditEntry.entity_id.in_([str(m.id) for m in messages]),
            )
            .order_by(AuditEntry.id)
        ).all()
    )
    return [InboxItem(m, is_overdue(m, today), changed.get(str(m.id))) for m in messages]
