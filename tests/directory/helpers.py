"""Small helpers shared by the directory tests."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from directory.importer import HEADER
from directory.models import (
    AuditEntry,
    CenterDepartment,
    ConectamefCenter,
    Organo,
    Representative,
)

HEADER_LINE = ",".join(HEADER)


def csv_text(*rows: str) -> str:
    return "\n".join((HEADER_LINE, *rows)) + "\n"


# Three órganos, the third with a titular only.
BASE_ROWS = (
    "DGPP,Dirección General de Presupuesto Público,1,titular,Ana Quispe Mamani,Directora,aquispe@mef.gob.pe,2301",
    "DGPP,Dirección General de Presupuesto Público,1,alterno,Jorge Salas Paredes,Especialista,jsalas@mef.gob.pe,2302",
    "DGCP,Dirección General de Contabilidad Pública,2,titular,Carlos Huamán Ccori,Director,chuaman@mef.gob.pe,2521",
    "DGCP,Dirección General de Contabilidad Pública,2,alterno,Milagros Torres Neyra,Especialista,mtorres@mef.gob.pe,2522",
    "OGSU,Oficina General de Servicios al Usuario,3,titular,Teresa Ramos Inga,Jefa,tramos@mef.gob.pe,4101",
)
BASE_CSV = csv_text(*BASE_ROWS)


def directory_state(session: Session) -> dict[str, Any]:
    """Every directory row, to assert that a rejected import changed nothing."""
    session.expire_all()

    def rows(model: type[Any]) -> list[tuple[Any, ...]]:
        table = model.__table__
        return [tuple(r) for r in session.execute(select(table).order_by(*table.primary_key))]

    return {
        model.__name__: rows(model)
        for model in (Organo, Representative, ConectamefCenter, CenterDepartment, AuditEntry)
    }


def serving(session: Session) -> dict[tuple[str, str], Representative]:
    reps = session.scalars(select(Representative).where(Representative.retired_at.is_(None)))
    return {(r.organo.sigla, r.rol): r for r in reps}
