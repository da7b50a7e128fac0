"""Anexo 2 import and export: órganos and their titular and alterno representatives.

The CSV is ``organo_sigla,organo_nombre,orden,rol,nombre_completo,cargo,correo,anexo``, one row
per representative. ``import_directory`` is all-or-nothing: every row is checked first and any
error rejects the whole file (``FileRejected`` lists each error with its line and column);
only then is the database changed, in the caller's transaction.

The file is the whole Anexo 2. Compared with the database:
- a new sigla adds an órgano; a sigla missing from the file deactivates its órgano (never
  deleted); a changed nombre or orden changes it;
- a representative is the same person when the full name matches (accents and case aside) for
  the same órgano and role: a changed cargo, correo or anexo is changed in place and keeps the
  memorando data; a different name retires the previous person (``retired_at`` set, the row
  stays for the register) and adds the new one; a role missing from the file retires whoever
  held it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from clock import utcnow
from directory import audit
from directory.csvio import FileRejected, RowError, check_row, column_error, read_rows
from directory.models import ROLES, Organo, Representative
from directory.queries import active_organos
from directory.rules import (
    RuleError,
    check_anexo,
    check_email,
    check_sigla,
    check_text,
    fold,
)

HEADER: tuple[str, ...] = (
    "organo_sigla",
    "organo_nombre",
    "orden",
    "rol",
    "nombre_completo",
    "cargo",
    "correo",
    "anexo",
)


@dataclass(frozen=True)
class RepresentativeRow:
    line: int
    sigla: str
    organo_nombre: str
    orden: int
    rol: str
    nombre_completo: str
    cargo: str
    correo: str
    anexo: str


@dataclass
class ImportReport:
    """What an import changed, as lines an administrator reads (Spanish)."""

    organos_added: list[str] = field(default_factory=list)
    organos_changed: list[str] = field(default_factory=list)
    organos_deactivated: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)

    @property
    def unchanged(self) -> bool:
        return not (
            self.organos_added
            or self.organos_changed
            or self.organos_deactivated
            or self.added
            or self.changed
            or self.retired
        )

    def summary(self) -> list[str]:
        if self.unchanged:
            return ["Sin cambios: el directorio ya coincide con el archivo."]
        lines = [
            f"Órganos: {len(self.organos_added)} agregado(s), {len(self.organos_changed)} "
            f"modificado(s), {len(self.organos_deactivated)} desactivado(s).",
            f"Representantes: {len(self.added)} agregado(s), {len(self.changed)} "
            f"modificado(s), {len(self.retired)} retirado(s).",
        ]
        for title, items in (
            ("Órgano agregado", self.organos_added),
            ("Órgano modificado", self.organos_changed),
            ("Órgano desactivado", self.organos_deactivated),
            ("Agregado", self.added),
            ("Modificado", self.changed),
            ("Retirado", self.retired),
        ):
            lines.extend(f"  {title}: {item}" for item in items)
        return lines


def _orden(value: str) -> int:
    if not (value.isdigit() and 1 <= int(value) <= 999):
        raise RuleError(f"el orden «{value}» debe ser un número de 1 a 999.")
    return int(value)


def _rol(value: str) -> str:
    rol = value.strip().lower()
    if rol not in ROLES:
        raise RuleError(f"el rol «{value}» debe ser titular o alterno.")
    return rol


# Each column's check, in the order of HEADER and of RepresentativeRow's fields.
CHECKS: dict[str, Callable[[str], Any]] = {
    "organo_sigla": check_sigla,
    "organo_nombre": lambda v: check_text(v, "el nombre del órgano"),
    "orden": _orden,
    "rol": _rol,
    "nombre_completo": lambda v: check_text(v, "el nombre completo"),
    "cargo": lambda v: check_text(v, "el cargo"),
    "correo": check_email,
    "anexo": check_anexo,
}


def parse_directory(data: bytes | str) -> list[RepresentativeRow]:
    """Check every row of an Anexo 2 CSV; return them, or raise FileRejected with all errors."""
    raw_rows, errors = read_rows(data, HEADER)
    parsed: list[RepresentativeRow] = []
    for row in raw_rows:
        values = check_row(HEADER, row, CHECKS, errors)
        if values is not None:
            parsed.append(RepresentativeRow(row.line, sigla=values.pop("organo_sigla"), **values))
    errors.extend(_cross_row_errors(parsed))
    if errors:
        raise FileRejected(errors)
    if not parsed:
        raise FileRejected.at(2, "el archivo no tiene representantes; no se cambió nada.")
    return parsed


def _cross_row_errors(rows: list[RepresentativeRow]) -> Iterator[RowError]:
    first_of_sigla: dict[str, RepresentativeRow] = {}
    sigla_of_orden: dict[int, RepresentativeRow] = {}
    role_rows: dict[tuple[str, str], RepresentativeRow] = {}
    for row in rows:
        first = first_of_sigla.setdefault(row.sigla, row)
        if first is not row:
            if row.organo_nombre != first.organo_nombre:
                yield column_error(
                    HEADER,
                    row.line,
                    "organo_nombre",
                    f"{row.sigla} se llama «{first.organo_nombre}» en la línea {first.line}; "
                    "use el mismo nombre en todas sus filas.",
                )
            if row.orden != first.orden:
                yield column_error(
                    HEADER,
                    row.line,
                    "orden",
                    f"{row.sigla} tiene el orden {first.orden} en la línea {first.line}; "
                    "use el mismo orden en todas sus filas.",
                )
        else:
            holder = sigla_of_orden.setdefault(row.orden, row)
            if holder is not row:
                yield column_error(
                    HEADER,
                    row.line,
                    "orden",
                    f"el orden {row.orden} ya es de {holder.sigla} (línea {holder.line}); "
                    "dos órganos no pueden tener el mismo orden.",
                )
        other = role_rows.setdefault((row.sigla, row.rol), row)
        if other is not row:
            yield column_error(
                HEADER,
                row.line,
                "rol",
                f"{row.sigla} ya tiene un {row.rol} en la línea {other.line}; cada órgano "
                "tiene un titular y como máximo un alterno.",
            )
    for (sigla, rol), row in role_rows.items():
        if rol == "alterno" and (sigla, "titular") not in role_rows:
            yield column_error(
                HEADER,
                row.line,
                "rol",
                f"{sigla} tiene alterno pero no titular; agregue la fila del titular.",
            )


def _describe(sigla: str, rol: str, nombre: str) -> str:
    return f"{sigla} {rol}: {nombre}"


def import_directory(session: Session, data: bytes | str, *, actor: str) -> ImportReport:
    """Bring the directory in line with an Anexo 2 CSV; all-or-nothing (see module docstring).

    Raises FileRejected, before touching the session, when any row is bad. The caller commits.
    """
    rows = parse_directory(data)
    now = utcnow()
    report = ImportReport()
    organos = {o.sigla: o for o in session.scalars(select(Organo))}
    in_file: dict[str, RepresentativeRow] = {}
    for row in rows:
        in_file.setdefault(row.sigla, row)

    for sigla, row in in_file.items():
        organo = organos.get(sigla)
        if organo is None:
            organo = Organo(sigla=sigla, nombre=row.organo_nombre, orden=row.orden, activo=True)
            session.add(organo)
            session.flush()
            organos[sigla] = organo
            report.organos_added.append(f"{sigla} {row.organo_nombre} (orden {row.orden})")
            audit.record_change(session, organo, "create", actor=actor)
            continue
        changes = []
        if organo.nombre != row.organo_nombre:
            changes.append(f"nombre «{organo.nombre}» → «{row.organo_nombre}»")
        if organo.orden != row.orden:
            changes.append(f"orden {organo.orden} → {row.orden}")
        if not organo.activo:
            changes.append("reactivado")
        if changes:
            before = audit.state(organo)
            organo.nombre, organo.orden, organo.activo = row.organo_nombre, row.orden, True
            organo.updated_at = now
            report.organos_changed.append(f"{sigla}: " + ", ".join(changes))
            audit.record_change(session, organo, "update", actor=actor, before=before)

    for sigla, organo in organos.items():
        if sigla not in in_file and organo.activo:
            before = audit.state(organo)
            organo.activo = False
            organo.updated_at = now
            report.organos_deactivated.append(f"{sigla} {organo.nombre}")
            audit.record_change(session, organo, "deactivate", actor=actor, before=before)

    serving = {
        (rep.organo.sigla, rep.rol): rep
        for rep in session.scalars(
            select(Representative).where(Representative.retired_at.is_(None))
        )
    }
    wanted = {(row.sigla, row.rol): row for row in rows}

    for key, rep in serving.items():
        wanted_row = wanted.get(key)
        if wanted_row is not None and fold(rep.nombre_completo) == fold(wanted_row.nombre_completo):
            _update_in_place(session, rep, wanted_row, report, actor)
        else:
            before = audit.state(rep)
            rep.retired_at = now
            report.retired.append(_describe(rep.organo.sigla, rep.rol, rep.nombre_completo))
            audit.record_change(session, rep, "retire", actor=actor, before=before)
    # The roles nobody serves now, or whose holder was just retired, go to the file's person.
    to_add = [row for key, row in wanted.items() if key not in serving or serving[key].retired_at]
    # Retirements reach the database before the new people take the role (one serving per role).
    session.flush()
    for row in to_add:
        rep = Representative(
            organo_id=organos[row.sigla].id,
            rol=row.rol,
            nombre_completo=row.nombre_completo,
            cargo=row.cargo,
            correo=row.correo,
            anexo=row.anexo,
        )
        session.add(rep)
        session.flush()
        report.added.append(_describe(row.sigla, row.rol, row.nombre_completo))
        audit.record_change(session, rep, "create", actor=actor)
    session.flush()
    return report


def _update_in_place(
    session: Session, rep: Representative, row: RepresentativeRow, report: ImportReport, actor: str
) -> None:
    changes = [
        f"{name} «{getattr(rep, name)}» → «{getattr(row, name)}»"
        for name in ("nombre_completo", "cargo", "correo", "anexo")
        if getattr(rep, name) != getattr(row, name)
    ]
    if not changes:
        return
    before = audit.state(rep)
    rep.nombre_completo, rep.cargo = row.nombre_completo, row.cargo
    rep.correo, rep.anexo = row.correo, row.anexo
    report.changed.append(
        _describe(row.sigla, row.rol, row.nombre_completo) + " (" + ", ".join(changes) + ")"
    )
    audit.record_change(session, rep, "update", actor=actor, before=before)


def export_rows(session: Session) -> list[list[object]]:
    """The serving representatives of the active órganos, in menu order, titular first."""
    return [
        [o.sigla, o.nombre, o.orden, rol, rep.nombre_completo, rep.cargo, rep.correo, rep.anexo]
        for o in active_organos(session)
        for rol in ROLES
        if (rep := o.current(rol)) is not None
    ]
