"""The Red members' notice of a technical call that neither the titular nor the alterno took
(§5.2.2 c, §4.2.4 d): an e-mail to the órgano's serving representatives, at the addresses the
directory keeps (Anexo 2's ``correo``), with the caller's data and the summary's link.

The call flow records the ``red_missed`` journey event; the webhook that recorded it queues
``register.jobs.mail_red_missed`` with the event's data, and the worker sends the mail
(mailer.py): nothing slow in a webhook.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from clock import to_lima
from directory.models import ROLES, Organo
from directory.queries import serving_representative
from register.anexo1 import mask_phone, parse_at

TIPO_USUARIO = {"autoridad": "autoridad de un gobierno regional o local", "ciudadano": "ciudadano"}


@dataclass(frozen=True)
class Notice:
    to: list[str]
    subject: str
    body: str


def red_missed(session: Session, call_sid: str, sigla: str, data: Mapping[str, Any]) -> Notice:
    """The notice for a missed technical call of órgano ``sigla``; ``data`` is the red_missed
    event's (at, from, region, tipo_usuario, expediente, summary_url). The number is masked,
    as for every role that is not admin or supervisor (Ley 29733)."""
    organo = session.scalars(select(Organo).where(Organo.sigla == sigla.upper())).first()
    nombre = organo.nombre if organo is not None else sigla
    to: list[str] = []
    for rol in ROLES:
        rep = serving_representative(session, sigla, rol)
        if rep is not None and rep.correo and rep.correo.lower() not in (t.lower() for t in to):
            to.append(rep.correo)
    moment = to_lima(parse_at(data["at"])) if data.get("at") else None
    summary = data.get("summary_url")
    lines = [
        f"Una consulta técnica para {nombre} ({sigla}) no fue atendida: se llamó al titular y",
        "al alterno y ninguno la aceptó, así que pasó a la Plataforma de Atención.",
        "",
    ]
    if moment is not None:
        lines.append(f"Fecha y hora: {moment:%d/%m/%Y %H:%M} (hora de Lima)")
    tipo = TIPO_USUARIO.get(str(data.get("tipo_usuario") or "ciudadano"), "ciudadano")
    lines += [
        f"Tipo de usuario: {tipo}",
        f"Teléfono: {mask_phone(data.get('from')) or 'no disponible'}",
        f"Región: {data.get('region') or 'no indicada'}",
        f"Expediente: {data.get('expediente') or 'no indicado'}",
        f"Resumen grabado: {summary}" if summary else "Resumen grabado: no dejó resumen",
        f"Código de la llamada: {call_sid}",
        "",
        "Este mensaje lo envía la Red de Atención al Usuario del MEF; no lo responda.",
    ]
    return Notice(
        to=to,
        subject=f"Consulta técnica no atendida ({sigla}) - Red de Atención MEF",
        body="\n".join(lines) + "\n",
    )
