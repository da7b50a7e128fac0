"""The Anexo 1 export: one row per call of a month, CSV or XLSX, phones masked by role."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import date, time
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from sqlalchemy import select
from sqlalchemy.orm import Session

from directory.csvio import as_text_cells, safe_text
from directory.models import Organo
from register.anexo1 import COLUMNS, mask_phone, mask_phones_in
from register.models import RegisterCall
from register.reports import Period, period_of_month

COLUMN_WIDTHS = {
    "fecha": 12,
    "hora_inicio": 11,
    "hora_fin": 11,
    "call_sid": 36,
    "canal": 12,
    "telefono": 17,
    "region": 16,
    "idioma": 8,
    "tipo_usuario": 13,
    "preferencial": 14,
    "tipo_consulta": 15,
    "detalle": 18,
    "expediente": 16,
    "organo": 10,
    "derivacion": 12,
    "atendido_por": 28,
    "resultado": 22,
    "espera_seg": 11,
    "duracion_seg": 13,
    "encuesta": 10,
}


# Ley 29733: only these roles read full numbers; everyone else gets them masked.
ROLES_SEEING_PHONES = frozenset({"admin", "supervisor"})


def may_see_phones(role: str | None) -> bool:
    return role in ROLES_SEEING_PHONES


def month_calls(
    session: Session, period: Period, organo: str | None = None, *, include_simulated: bool = False
) -> list[RegisterCall]:
    """The calls of the period (Lima dates); simulated calls only when asked."""
    fecha = RegisterCall.fecha
    stmt = select(RegisterCall).where(fecha >= period.start, fecha < period.end)
    if not include_simulated:
        stmt = stmt.where(RegisterCall.simulada.is_(False))
    if organo:
        stmt = stmt.where(RegisterCall.organo == organo.upper())
    stmt = stmt.order_by(RegisterCall.fecha, RegisterCall.hora_inicio, RegisterCall.call_sid)
    return list(session.scalars(stmt))


def check_organo(session: Session, sigla: str) -> str:
    """The sigla, upper case, of an órgano of the directory (active or not) or of the register
    (rows keep the siglas of their day); else a ValueError that names the known ones: an
    unknown sigla is a typo, not an empty month."""
    in_register = session.scalars(select(RegisterCall.organo).distinct())
    known = sorted({*session.scalars(select(Organo.sigla)), *(s for s in in_register if s)})
    if sigla.strip().upper() not in known:
        raise ValueError(
            f"No existe el órgano «{sigla}»; siglas registradas: {', '.join(known) or 'ninguna'}."
        )
    return sigla.strip().upper()


NOTE_MARK = "nota de la Red: "


def detalle_with_note(detalle: str | None, nota: str | None) -> str | None:
    """PRODUCT.md fixes Anexo 1's columns, so the Red member's note on a call travels in
    ``detalle``, after the menu's detail and marked as theirs:
    ``consulta_tecnica | nota de la Red: Se explicó el trámite``."""
    if not nota:
        return detalle
    return f"{detalle} | {NOTE_MARK}{nota}" if detalle else f"{NOTE_MARK}{nota}"


def export_rows(
    session: Session,
    month: str,
    *,
    organo: str | None = None,
    role: str | None = None,
    include_simulated: bool = False,
) -> Iterator[dict[str, Any]]:
    """The month's rows as dicts of the Anexo 1 columns (typed: date, time, int). The month
    and the órgano are checked at once (ValueError), before any row is read."""
    try:
        period = period_of_month(month)
    except ValueError as exc:
        raise ValueError(f"Mes no válido «{month}»: use el formato AAAA-MM.") from exc
    sigla = check_organo(session, organo) if organo else None
    show = may_see_phones(role)

    def rows() -> Iterator[dict[str, Any]]:
        for call in month_calls(session, period, sigla, include_simulated=include_simulated):
            row = {column: getattr(call, column) for column in COLUMNS}
            nota = call.nota_red if show else mask_phones_in(call.nota_red)
            row["detalle"] = detalle_with_note(call.detalle, nota)
            if not show:
                row["telefono"] = mask_phone(row["telefono"])
            yield row

    return rows()


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.strftime("%H:%M:%S")
    return str(value)


def write_csv(rows: Iterator[dict[str, Any]], out: io.TextIOBase | Any) -> int:
    """The header and the rows, behind a UTF-8 BOM so that Excel reads the accents right."""
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    count = 0
    for row in rows:
        writer.writerow([safe_text(_text(row[c])) for c in COLUMNS])
        count += 1
    return count


def fill_anexo1_sheet(ws: Any, rows: Iterable[dict[str, Any]]) -> int:
    """The Anexo 1 header and rows on the sheet ``ws`` (bold header, real date and time
    cells, widths, frozen header, a filter); returns the row count."""
    ws.title = "Anexo 1"
    ws.append(list(COLUMNS))
    for cell in ws[1]:
        cell.font = Font(bold=True)
    last = 1  # the header's row; counted here, as openpyxl's max_row scans every cell
    for row in rows:
        ws.append([row[c] for c in COLUMNS])
        last += 1
        as_text_cells(ws, last)
        ws.cell(last, 1).number_format = "yyyy-mm-dd"  # fecha
        ws.cell(last, 2).number_format = ws.cell(last, 3).number_format = "hh:mm:ss"
    for i, column in enumerate(COLUMNS, start=1):
        ws.column_dimensions[get_column_letter(i)].width = COLUMN_WIDTHS[column]
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = f"A1:{get_column_letter(len(COLUMNS))}{last}"
    return last - 1


def write_xlsx(rows: Iterator[dict[str, Any]], path: Path | io.BytesIO) -> int:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    count = fill_anexo1_sheet(ws, rows)
    wb.save(path)
    return count


def export_month(
    session: Session,
    month: str,
    output: Path,
    *,
    organo: str | None = None,
    role: str | None = None,
    include_simulated: bool = False,
) -> int:
    """Write the month's register to ``output`` (.csv, else .xlsx: the command checked the
    name); returns the row count. Nothing is written when the month or the órgano is wrong."""
    rows = export_rows(
        session, month, organo=organo, role=role, include_simulated=include_simulated
    )
    if output.suffix.lower() == ".csv":
        with open(output, "w", encoding="utf-8", newline="") as fh:
            return write_csv(rows, fh)
    return write_xlsx(rows, output)
