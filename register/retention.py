"""Retention (Ley 29733): after REGISTER_RETENTION_MONTHS months, recordings are deleted at
Twilio and their URLs dropped, and stored phone numbers are replaced by their masked form, the
numbers a Red member wrote in their note on the call included.

Applies to the register rows and the journey events they keep, to the voice messages and callback
requests of that age, and to the audit log's entries of that age about calls and voice messages
(who changed what and when stays; the numbers and recordings in the values do not). A
recording that Twilio could not delete keeps its call unpurged, so the next run (the worker
runs it daily) tries again.
"""

from __future__ import annotations

import calendar
import logging
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from clock import LIMA, lima_now, utcnow
from directory.models import AuditEntry
from register.anexo1 import mask_phone, mask_phones_in, recording_sid_of
from register.models import CallbackRequest, RegisterCall, VoiceMessage
from twilio_rest import delete_recording

log = logging.getLogger(__name__)

_PHONE_KEYS = ("from", "telefono", "to")
# The audit log's entities whose recorded values hold a caller's data (a Red member's note on a
# call; a voice message's snapshot, its number and recording).
_AUDITED_CALLER_DATA = ("register_call", "voice_message")
_BATCH = 200


def months_before(day: date, months: int) -> date:
    """The same day ``months`` months earlier (the last day of a shorter month)."""
    total = day.year * 12 + day.month - 1 - months
    year, month = divmod(total, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _delete_recording(sid: str | None) -> bool:
    if not sid:
        return True
    try:
        return bool(delete_recording(sid))
    except Exception:
        log.warning("could not delete recording %s; will retry", sid, exc_info=True)
        return False


def _scrub_data(data: dict[str, Any]) -> dict[str, Any]:
    clean = dict(data)
    for key in _PHONE_KEYS:
        if isinstance(clean.get(key), str) and clean[key].startswith("+"):
            clean[key] = mask_phone(clean[key])
    if isinstance(clean.get("nota_red"), str):
        clean["nota_red"] = mask_phones_in(clean["nota_red"])
    if clean.get("recording_url"):
        clean["recording_url"] = None
    return clean


def _purge_audit(session: Session, cutoff_at: datetime) -> int:
    """The audit entries older than the cutoff about calls and voice messages, with their
    numbers masked and recording URLs dropped. Returns the entries changed."""
    changed = 0
    for entry in session.scalars(
        select(AuditEntry).where(
            AuditEntry.at < cutoff_at, AuditEntry.entity.in_(_AUDITED_CALLER_DATA)
        )
    ):
        before, after = (_scrub_data(v) if v else v for v in (entry.before, entry.after))
        if (before, after) != (entry.before, entry.after):
            entry.before, entry.after = before, after
            changed += 1
    return changed


def _purge_call(session: Session, call: RegisterCall) -> bool:
    journey = dict(call.journey or {})
    recordings = [dict(r) for r in journey.get("recordings") or []]
    ok = True
    for rec in recordings:
        if rec.get("deleted"):
            continue
        sid = rec.get("recording_sid") or recording_sid_of(rec.get("recording_url"))
        if _delete_recording(sid):
            rec.update(recording_url=None, deleted=True)
        else:
            ok = False
    journey["recordings"] = recordings
    call.journey = journey
    flag_modified(call, "journey")
    if not ok:  # the call stays unpurged: the next run tries its recordings again
        return False
    call.events = [
        {**event, "data": _scrub_data(event.get("data") or {})} for event in call.events or []
    ]
    flag_modified(call, "events")
    call.telefono = mask_phone(call.telefono)
    call.nota_red = mask_phones_in(call.nota_red)
    call.purged_at = utcnow()
    return True


def purge(session: Session, months: int, today: date | None = None) -> dict[str, int]:
    """Purge everything older than ``months`` months. Returns counts per kind."""
    cutoff = months_before(today or lima_now().date(), months)
    cutoff_at = datetime.combine(cutoff, time(0), LIMA).astimezone(UTC)
    kinds = ("llamadas", "pendientes", "mensajes_de_voz", "devoluciones", "auditoria")
    counts = dict.fromkeys(kinds, 0)
    last_id = 0
    while calls := list(
        session.scalars(
            select(RegisterCall)
            .where(
                RegisterCall.fecha < cutoff,
                RegisterCall.purged_at.is_(None),
                RegisterCall.id > last_id,
            )
            .order_by(RegisterCall.id)
            .limit(_BATCH)
        )
    ):
        for call in calls:
            last_id = call.id
            if _purge_call(session, call):
                counts["llamadas"] += 1
            else:
                counts["pendientes"] += 1
        session.commit()

    for message in session.scalars(select(VoiceMessage).where(VoiceMessage.created_at < cutoff_at)):
        changed = False
        if message.recording_sid or message.recording_url:
            sid = message.recording_sid or recording_sid_of(message.recording_url)
            if not _delete_recording(sid):
                continue
            message.recording_url = None
            changed = True
        if message.telefono and "*" not in message.telefono:
            message.telefono = mask_phone(message.telefono) or ""
            changed = True
        counts["mensajes_de_voz"] += int(changed)
    for request in session.scalars(
        select(CallbackRequest).where(CallbackRequest.created_at < cutoff_at)
    ):
        if request.telefono and "*" not in request.telefono:
            request.telefono = mask_phone(request.telefono) or ""
            counts["devoluciones"] += 1
    counts["auditoria"] = _purge_audit(session, cutoff_at)
    session.commit()
    return counts
