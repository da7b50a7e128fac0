"""Designations of Red members (§4.2.2): the memorando, its dates, and the late flag (§4.2.4 d).

The Anexo 2 CSV carries no memorando columns; ``designate`` records them for the person who
serves a role, and ``late_designations`` lists those communicated more than five business days
after they took effect.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from directory import audit
from directory.models import ROLES, Organo, Representative
from directory.rules import (
    RuleError,
    business_days_to_communicate,
    check_sigla,
    communication_deadline,
    is_late,
)


@dataclass(frozen=True)
class LateDesignation:
    representative: Representative
    business_days: int
    deadline: date


def designate(
    session: Session,
    sigla: str,
    rol: str,
    *,
    memorando: str,
    memorando_fecha: date,
    vigente_desde: date,
    comunicado_el: date,
    actor: str,
) -> Representative:
    """Record the memorando that designated the serving titular or alterno of an órgano."""
    if rol not in ROLES:
        raise RuleError(f"el rol «{rol}» debe ser titular o alterno.")
    memorando = " ".join(memorando.split())
    if not memorando or len(memorando) > 100:
        raise RuleError("el número de memorando debe tener de 1 a 100 caracteres.")
    if memorando_fecha > comunicado_el:
        raise RuleError("el memorando no puede tener fecha posterior a su comunicación.")
    organo = session.scalars(select(Organo).where(Organo.sigla == check_sigla(sigla))).first()
    if organo is None:
        raise RuleError(f"no existe el órgano {sigla}.")
    rep = organo.current(rol)
    if rep is None:
        raise RuleError(f"{organo.sigla} no tiene {rol} en funciones; importe primero el Anexo 2.")
    before = audit.state(rep)
    rep.memorando = memorando
    rep.memorando_fecha = memorando_fecha
    rep.vigente_desde = vigente_desde
    rep.comunicado_el = comunicado_el
    if audit.state(rep) != before:
        audit.record_change(session, rep, "designate", actor=actor, before=before)
    session.flush()
    return rep


def representative_is_late(rep: Representative) -> bool:
    return is_late(rep.vigente_desde, rep.comunicado_el)


def late_designations(session: Session) -> list[LateDesignation]:
    """Serving representatives whose designation was communicated late, in menu order."""
    reps = session.scalars(
        select(Representative)
        .join(Organo)
        .where(Representative.retired_at.is_(None))
        .order_by(Organo.orden, Organo.sigla, Representative.rol.desc())
    )
    return [
        LateDesignation(
            rep,
            business_days_to_communicate(rep.vigente_desde, rep.comunicado_el),
            communication_deadline(rep.vigente_desde),
        )
        for rep in reps
        if rep.vigente_desde and rep.comunicado_el and representative_is_late(rep)
    ]
