"""A voice message's state (§5.6.1): pendiente, escuchado or atendido, each change audited
(entity ``voice_message``) with who made it (``handled_by``). Shared by the inbox (/buzon,
``flask buzon``, admin.inbox) and the agent's returns (routing.returns)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from directory import audit
from directory.rules import RuleError
from register.models import VoiceMessage

STATES = ("pendiente", "escuchado", "atendido")


def get_message(session: Session, message_id: int) -> VoiceMessage:
    message = session.get(VoiceMessage, message_id)
    if message is None:
        raise RuleError(f"no existe el mensaje de voz {message_id}.")
    return message


def set_status(session: Session, message_id: int, status: str, *, actor: str) -> VoiceMessage:
    """Mark a message pendiente, escuchado or atendido; ``actor`` is who did it."""
    if status not in STATES:
        raise RuleError(f"el estado «{status}» debe ser uno de: {', '.join(STATES)}.")
    message = get_message(session, message_id)
    if message.status == status:
        return message
    before = audit.snapshot(message)
    message.status = status
    message.handled_by = actor
    session.flush()
    audit.record(
        session,
        actor=actor,
        entity="voice_message",
        entity_id=message.id,
        action="status",
        before=before,
        after=audit.snapshot(message),
    )
    return message
