"""Preview, then apply: an Anexo 2 or Anexo 3 file is first tried against the directory and
rolled back (``preview``), so the admin sees exactly what it would add, change, retire and
deactivate, or every error with its line and column; ``apply`` then runs the same import, but
only if the directory is still as it was when previewed (``fingerprint``): the same file on
the same directory makes the same changes. Shared by /admin/directorio and the
``directory import`` / ``centers import`` commands (``--dry-run``, ``--yes``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from directory import centers, importer
from directory.centers import CentersReport, import_centers
from directory.csvio import write_rows, write_xlsx
from directory.importer import ImportReport, import_directory
from directory.models import CenterDepartment, ConectamefCenter, Organo, Representative
from directory.rules import RuleError

Kind = Literal["anexo2", "anexo3"]
TITLES = {"anexo2": "Anexo 2 (órganos y representantes)", "anexo3": "Anexo 3 (centros CONECTAMEF)"}


class DirectoryChanged(RuleError):
    """The directory changed between the preview and the confirmation."""


@dataclass
class Plan:
    kind: Kind
    fingerprint: str
    summary: list[str]
    unchanged: bool
    # Would deactivate more than half of the active órganos (Anexo 2) or centers (Anexo 3).
    drastic: bool
    warnings: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)
    deactivated: list[str] = field(default_factory=list)


def fingerprint(session: Session, kind: Kind) -> str:
    """A digest of everything an import of ``kind`` compares the file with."""
    if kind == "anexo2":
        rows: list[list[object]] = [
            [o.sigla, o.nombre, o.orden, o.activo]
            for o in session.scalars(select(Organo).order_by(Organo.sigla))
        ]
        rows += [
            [r.id, r.organo_id, r.rol, r.nombre_completo, r.cargo, r.correo, r.anexo]
            for r in session.scalars(
                select(Representative)
                .where(Representative.retired_at.is_(None))
                .order_by(Representative.id)
            )
        ]
    else:
        rows = [
            [c.centro, c.telefono, c.activo]
            for c in session.scalars(select(ConectamefCenter).order_by(ConectamefCenter.centro))
        ]
        rows += [
            [d.center_id, d.departamento]
            for d in session.scalars(
                select(CenterDepartment).order_by(
                    CenterDepartment.center_id, CenterDepartment.departamento
                )
            )
        ]
    return hashlib.sha256(json.dumps(rows, ensure_ascii=False).encode()).hexdigest()


def _active(session: Session, kind: Kind) -> int:
    model = Organo if kind == "anexo2" else ConectamefCenter
    return int(
        session.scalar(select(func.count()).select_from(model).where(model.activo.is_(True))) or 0
    )


def _run(
    session: Session, kind: Kind, data: bytes | str, actor: str
) -> ImportReport | CentersReport:
    if kind == "anexo2":
        return import_directory(session, data, actor=actor)
    return import_centers(session, data, actor=actor)


def _plan(kind: Kind, print_: str, report: ImportReport | CentersReport, active: int) -> Plan:
    if isinstance(report, ImportReport):
        what, deactivated, retired = "órganos", report.organos_deactivated, report.retired
        added = [f"Órgano {x}" for x in report.organos_added] + report.added
        changed = [f"Órgano {x}" for x in report.organos_changed] + report.changed
    else:
        what, deactivated, retired = "centros", report.deactivated, []
        added, changed = report.added, report.changed
    plan = Plan(
        kind,
        print_,
        report.summary(),
        report.unchanged,
        2 * len(deactivated) > active,
        added=added,
        changed=changed,
        retired=retired,
        deactivated=deactivated,
    )
    if plan.drastic:
        plan.warnings.append(
            f"El archivo desactivaría {len(deactivated)} de los {active} {what} activos (más de "
            "la mitad). Revise que sea el archivo completo antes de confirmar."
        )
    return plan


def preview(session: Session, kind: Kind, data: bytes | str, *, actor: str) -> Plan:
    """What importing ``data`` would do, with nothing changed: the import runs and is rolled
    back (the session must have nothing else pending). Raises FileRejected with every error."""
    before = fingerprint(session, kind)
    active = _active(session, kind)
    try:
        report = _run(session, kind, data, actor)
    finally:
        session.rollback()
    return _plan(kind, before, report, active)


def apply(session: Session, kind: Kind, data: bytes | str, *, expected: str, actor: str) -> Plan:
    """Import ``data`` if the directory is still the one previewed (``expected`` is the
    preview's fingerprint); else DirectoryChanged and nothing done. The caller commits."""
    now = fingerprint(session, kind)
    if now != expected:
        raise DirectoryChanged(
            "el directorio cambió desde la vista previa (otra persona o un comando lo modificó); "
            "revise la nueva vista previa antes de confirmar."
        )
    active = _active(session, kind)
    return _plan(kind, now, _run(session, kind, data, actor), active)


def export_csv(session: Session, kind: Kind) -> str:
    """The directory (anexo2) or the centers (anexo3) as CSV text; importing it back changes
    nothing."""
    return write_rows(*export_table(session, kind))


def export_table(session: Session, kind: Kind) -> tuple[tuple[str, ...], list[list[object]]]:
    if kind == "anexo2":
        return importer.HEADER, importer.export_rows(session)
    return centers.HEADER, centers.export_rows(session)


def export_xlsx(session: Session, kind: Kind) -> bytes:
    header, rows = export_table(session, kind)
    return write_xlsx(header, rows, "Anexo 2" if kind == "anexo2" else "Anexo 3")
