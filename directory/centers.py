"""CONECTAMEF centers (Anexo 3): import and export, and the look-ups routing uses.

The CSV is ``centro,departamento,telefono``, one row per (centro, departamento); the telephone
may be written in any Peruvian format and is stored E.164; the department is checked against
Peru's 24 departments and Callao and stored with its canonical Spanish name ("Áncash",
"San Martín"). An import is all-or-nothing; centers missing from the file are deactivated.

- ``center_for_department(session, departamento)``: the center that serves a department; when
  several do (Apurímac: Abancay and Andahuaylas), the first by name (Abancay).
- ``departments(session)``: the departments some active center serves, sorted as Spanish
  readers expect (accents ignored).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from directory import audit
from directory.csvio import FileRejected, check_row, column_error, read_rows
from directory.models import CenterDepartment, ConectamefCenter
from directory.rules import (
    canonical_department,
    check_department,
    check_text,
    fold,
    parse_phone,
)

HEADER: tuple[str, ...] = ("centro", "departamento", "telefono")
CHECKS: dict[str, Callable[[str], Any]] = {
    "centro": lambda v: check_text(v, "el nombre del centro", 100),
    "departamento": check_department,
    "telefono": parse_phone,
}


@dataclass(frozen=True)
class CenterRow:
    line: int
    centro: str
    departamento: str
    telefono: str


@dataclass
class CentersReport:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    deactivated: list[str] = field(default_factory=list)

    @property
    def unchanged(self) -> bool:
        return not (self.added or self.changed or self.deactivated)

    def summary(self) -> list[str]:
        if self.unchanged:
            return ["Sin cambios: los centros CONECTAMEF ya coinciden con el archivo."]
        lines = [
            f"Centros: {len(self.added)} agregado(s), {len(self.changed)} modificado(s), "
            f"{len(self.deactivated)} desactivado(s)."
        ]
        for title, items in (
            ("Agregado", self.added),
            ("Modificado", self.changed),
            ("Desactivado", self.deactivated),
        ):
            lines.extend(f"  {title}: {item}" for item in items)
        return lines


def parse_centers(data: bytes | str) -> list[CenterRow]:
    """Check every row of an Anexo 3 CSV; return them, or raise FileRejected with all errors."""
    raw_rows, errors = read_rows(data, HEADER)
    parsed: list[CenterRow] = []
    for raw in raw_rows:
        values = check_row(HEADER, raw, CHECKS, errors)
        if values is not None:
            parsed.append(CenterRow(raw.line, **values))

    first_of_center: dict[str, CenterRow] = {}
    seen: dict[tuple[str, str], CenterRow] = {}
    for row in parsed:
        first = first_of_center.setdefault(row.centro, row)
        if row.telefono != first.telefono:
            errors.append(
                column_error(
                    HEADER,
                    row.line,
                    "telefono",
                    f"{row.centro} tiene el teléfono {first.telefono} en la línea {first.line}; "
                    "use el mismo en todas sus filas.",
                )
            )
        other = seen.setdefault((row.centro, row.departamento), row)
        if other is not row:
            errors.append(
                column_error(
                    HEADER,
                    row.line,
                    "departamento",
                    f"el centro «{row.centro}» ya figura con el departamento "
                    f"{row.departamento} en la línea {other.line}; quite la fila repetida.",
                )
            )
    if errors:
        raise FileRejected(errors)
    if not parsed:
        raise FileRejected.at(2, "el archivo no tiene centros.")
    return parsed


def import_centers(session: Session, data: bytes | str, *, actor: str) -> CentersReport:
    """Bring the CONECTAMEF centers in line with an Anexo 3 CSV; the caller commits."""
    rows = parse_centers(data)
    report = CentersReport()
    wanted: dict[str, tuple[str, list[str]]] = {}
    for row in rows:
        wanted.setdefault(row.centro, (row.telefono, []))[1].append(row.departamento)
    existing = {c.centro: c for c in session.scalars(select(ConectamefCenter))}

    for centro, (telefono, depts) in wanted.items():
        center = existing.get(centro)
        if center is None:
            add_center(session, centro, telefono, depts, actor=actor)
            report.added.append(f"{centro} ({listed(depts)}; {telefono})")
            continue
        before = audit.state(center)
        changes: list[str] = []
        if center.telefono != telefono:
            changes.append(f"teléfono {center.telefono} → {telefono}")
            center.telefono = telefono
        if not center.activo:
            changes.append("reactivado")
            center.activo = True
        current = {d.departamento for d in center.departments}
        if current != set(depts):
            changes.append(f"departamentos {listed(current)} → {listed(depts)}")
            replace_departments(session, center, depts)
        if changes:
            session.flush()
            report.changed.append(f"{centro}: " + "; ".join(changes))
            audit.record_change(session, center, "update", actor=actor, before=before)

    for centro, center in existing.items():
        if centro not in wanted and center.activo:
            before = audit.state(center)
            center.activo = False
            report.deactivated.append(centro)
            audit.record_change(session, center, "deactivate", actor=actor, before=before)
    session.flush()
    return report


def listed(departments: Iterable[str]) -> str:
    """Departments comma-separated, in the order Spanish readers expect (accents ignored)."""
    return ", ".join(sorted(departments, key=fold))


def add_center(
    session: Session, centro: str, telefono: str, depts: list[str], *, actor: str
) -> ConectamefCenter:
    center = ConectamefCenter(centro=centro, telefono=telefono, activo=True)
    center.departments = [CenterDepartment(departamento=d) for d in depts]
    session.add(center)
    session.flush()
    audit.record_change(session, center, "create", actor=actor)
    return center


def replace_departments(session: Session, center: ConectamefCenter, depts: list[str]) -> None:
    """The center serves ``depts`` from now on; the rows of the others are deleted."""
    current = {d.departamento for d in center.departments}
    if current != set(depts):
        center.departments = [d for d in center.departments if d.departamento in depts]
        session.flush()
        center.departments.extend(
            CenterDepartment(departamento=d) for d in depts if d not in current
        )


def active_centers(session: Session) -> list[ConectamefCenter]:
    return list(
        session.scalars(
            select(ConectamefCenter)
            .where(ConectamefCenter.activo.is_(True))
            .order_by(ConectamefCenter.centro)
        )
    )


def export_rows(session: Session) -> list[list[object]]:
    """The active centers as Anexo 3 rows, a department a row (telefono in E.164)."""
    return [
        [center.centro, dept, center.telefono]
        for center in active_centers(session)
        for dept in sorted((d.departamento for d in center.departments), key=fold)
    ]


def center_for_department(session: Session, departamento: str) -> ConectamefCenter | None:
    """The active center serving a department (any spelling); the first by name if several."""
    canonical = canonical_department(departamento)
    if canonical is None:
        return None
    return session.scalars(
        select(ConectamefCenter)
        .join(CenterDepartment)
        .where(ConectamefCenter.activo.is_(True), CenterDepartment.departamento == canonical)
        .order_by(ConectamefCenter.centro)
        .limit(1)
    ).first()


def departments(session: Session) -> list[str]:
    """The departments served by an active center, sorted ignoring accents."""
    names = session.scalars(
        select(CenterDepartment.departamento)
        .join(ConectamefCenter)
        .where(ConectamefCenter.activo.is_(True))
        .distinct()
    )
    return sorted(names, key=fold)
