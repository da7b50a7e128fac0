"""/admin/auditoria: every change to the directory, users, hours, prompts and the inbox, from
the web or the commands, filterable by table, user and date, the row before and after side by
side (admin, supervisor)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask import render_template, request
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from admin.auth import AUDIT_ROLES, roles_required
from admin.views import bp
from clock import LIMA
from directory.models import AuditEntry
from extensions import db

ENTITY_NAMES = {
    "organo": "Órganos",
    "representative": "Representantes",
    "agent": "Agentes",
    "language": "Idiomas",
    "language_speaker": "Registro de lenguas (§5.4)",
    "center": "Centros CONECTAMEF",
    "user": "Usuarios",
    "prompt": "Mensajes",
    "voice_message": "Buzón de voz",
    "ivr_setting": "Horario y ajustes",
    "closure_day": "Días de cierre",
    "register_call": "Notas de la Red en el registro",
    "supervision": "Supervisión (tablero)",
}
PAGE_SIZE = 200


def _day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _lima_start(day: date) -> datetime:
    return datetime.combine(day, time(0), LIMA).astimezone(UTC)


def _pretty(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=1, sort_keys=True) if value else ""


def _changed_keys(entry: AuditEntry) -> set[str]:
    before, after = entry.before or {}, entry.after or {}
    return {k for k in set(before) | set(after) if before.get(k) != after.get(k)}


@bp.get("/auditoria")
@roles_required(*AUDIT_ROLES)
def auditoria() -> ResponseReturnValue:
    session = db.session()
    entity = request.args.get("tabla") or None
    actor = request.args.get("usuario") or None
    since = _day(request.args.get("desde"))
    until = _day(request.args.get("hasta"))
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(PAGE_SIZE)
    if entity:
        query = query.where(AuditEntry.entity == entity)
    if actor:
        query = query.where(AuditEntry.actor.contains(actor))
    if since:
        query = query.where(AuditEntry.at >= _lima_start(since))
    if until:
        query = query.where(AuditEntry.at < _lima_start(until + timedelta(days=1)))
    entries = list(session.scalars(query))
    entities = sorted(session.scalars(select(AuditEntry.entity).distinct()))
    actors = sorted(session.scalars(select(AuditEntry.actor).distinct()))
    return render_template(
        "admin/auditoria.html",
        entries=entries,
        entities=entities,
        actors=actors,
        entity_names=ENTITY_NAMES,
        filters={"tabla": entity or "", "usuario": actor or "", "desde": since, "hasta": until},
        pretty=_pretty,
        changed_keys=_changed_keys,
        page_size=PAGE_SIZE,
    )
