"""Reading and writing the directory's files: CSV (UTF-8, a BOM accepted, `,` or `;`) or
XLSX, with an exact header.

Errors name the line and the column (its name and its number, counting from 1), in Spanish.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from directory.rules import FORMULA_START, RuleError


@dataclass(frozen=True)
class RowError:
    """One problem in an imported file, located by line and column."""

    line: int
    column: str | None
    column_number: int | None
    message: str

    def __str__(self) -> str:
        where = f"línea {self.line}"
        if self.column is not None:
            where += f", columna {self.column} (n.° {self.column_number})"
        return f"{where}: {self.message}"


class FileRejected(Exception):
    """The file was rejected as a whole; ``errors`` lists every problem found."""

    def __init__(self, errors: Sequence[RowError]) -> None:
        self.errors = sorted(errors, key=lambda e: (e.line, e.column_number or 0))
        super().__init__(
            f"Archivo rechazado, {len(self.errors)} error(es); no se cambió nada:\n"
            + "\n".join(str(e) for e in self.errors)
        )

    @classmethod
    def at(cls, line: int, message: str) -> FileRejected:
        """The file rejected for one problem of a line as a whole (not of one of its cells)."""
        return cls([RowError(line, None, None, message)])


@dataclass(frozen=True)
class CsvRow:
    line: int
    values: dict[str, str]


def column_error(header: Sequence[str], line: int, column: str, message: str) -> RowError:
    return RowError(line, column, list(header).index(column) + 1, message)


def check_row(
    header: Sequence[str],
    row: CsvRow,
    checks: dict[str, Callable[[str], Any]],
    errors: list[RowError],
) -> dict[str, Any] | None:
    """Each cell of ``row`` through its column's check: the checked values, in the order of
    ``checks``, or None when a rule is broken (each one added to ``errors``)."""
    values: dict[str, Any] = {}
    for column, check in checks.items():
        try:
            values[column] = check(row.values[column])
        except RuleError as exc:
            errors.append(column_error(header, row.line, column, str(exc)))
    return values if len(values) == len(checks) else None


def decode(data: bytes | str) -> str:
    """UTF-8 text (a leading BOM dropped), or FileRejected naming the first bad line."""
    if isinstance(data, str):
        return data.removeprefix("\ufeff")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise FileRejected.at(
            line, "el archivo no está en UTF-8 (guárdelo como CSV UTF-8)."
        ) from exc


XLSX_MAGIC = b"PK\x03\x04"


def is_xlsx(data: bytes | str) -> bool:
    return isinstance(data, bytes) and data.startswith(XLSX_MAGIC)


def delimiter_of(first_line: str, header: Sequence[str]) -> str:
    """``;`` when the header line is separated by semicolons (Excel in Spanish saves CSV so),
    else ``,``."""
    if first_line.count(";") >= len(header) - 1 and first_line.count(",") < len(header) - 1:
        return ";"
    return ","


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _xlsx_records(data: bytes) -> Iterator[tuple[int, list[str]]]:
    """(row number, cells) of the first sheet of an XLSX workbook."""
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # zipfile, XML and openpyxl errors alike
        raise FileRejected.at(1, f"el archivo XLSX no se puede leer ({exc}).") from exc
    try:
        sheet = workbook.worksheets[0]
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            cells = [_cell(v) for v in values]
            while cells and cells[-1] == "":
                cells.pop()
            yield number, cells
    finally:
        workbook.close()


def _csv_records(text: str, header: Sequence[str]) -> Iterator[tuple[int, list[str]]]:
    """(first line number, cells) of each CSV record; bad quoting raises ``_CsvBroken``."""
    first_line = text.split("\n", 1)[0]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter_of(first_line, header))
    previous_end = 0
    while True:
        start = previous_end + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise _CsvBroken(start, str(exc)) from exc
        previous_end = reader.line_num
        yield start, cells


class _CsvBroken(Exception):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line


def read_rows(data: bytes | str, header: Sequence[str]) -> tuple[list[CsvRow], list[RowError]]:
    """The data rows of a CSV (``,`` or ``;``) or XLSX file whose first line must be exactly
    ``header``, and the rows that could not be read (wrong number of fields, bad quoting).

    Blank lines are skipped. A bad header or encoding raises ``FileRejected`` at once.
    """
    records: Iterator[tuple[int, list[str]]]
    if isinstance(data, bytes) and is_xlsx(data):
        records = _xlsx_records(data)
    else:
        records = _csv_records(decode(data), header)
    expected = ",".join(header)
    try:
        first = next(records)[1]
    except StopIteration:
        raise FileRejected.at(
            1, f"el archivo está vacío; la cabecera debe ser: {expected}"
        ) from None
    except _CsvBroken as exc:
        raise FileRejected.at(1, f"CSV mal formado: {exc}") from exc
    found = [cell.strip() for cell in first]
    if found != list(header):
        raise FileRejected.at(
            1, f"la cabecera es «{','.join(found)}»; se espera exactamente: {expected}"
        )
    rows: list[CsvRow] = []
    errors: list[RowError] = []
    while True:
        try:
            start, cells = next(records)
        except StopIteration:
            break
        except _CsvBroken as exc:
            errors.append(RowError(exc.line, None, None, f"CSV mal formado: {exc}"))
            break
        if not cells or all(not c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            errors.append(
                RowError(
                    start,
                    None,
                    None,
                    f"la fila tiene {len(cells)} columnas; se esperan {len(header)} ({expected}).",
                )
            )
            continue
        values = {name: cell.strip() for name, cell in zip(header, cells, strict=True)}
        rows.append(CsvRow(start, values))
    return rows, errors


# A phone number as the service writes it (E.164, or masked: +51 9** *** 321): no formula.
_PHONE = re.compile(r"\+?[0-9][0-9 *]*")


def safe_text(value: object) -> str:
    """A CSV cell a spreadsheet will not run: text that starts like a formula (=, +, -, @, a
    tab, a carriage return) gets a leading apostrophe, as OWASP advises; the service's own
    phone numbers stay as they are."""
    text = "" if value is None else str(value)
    if text.startswith((*FORMULA_START, "\t", "\r")) and not _PHONE.fullmatch(text):
        return "'" + text
    return text


def as_text_cells(sheet: Any, row_index: int) -> None:
    """The row's text cells stay text in the workbook (openpyxl takes a str that starts with
    "=" for a formula)."""
    for cell in sheet[row_index]:
        if isinstance(cell.value, str):
            cell.data_type = "s"


def write_rows(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """CSV text with ``header`` and ``rows`` (UTF-8 text, ``\n`` line ends; see ``safe_text``)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([safe_text(v) for v in row] for row in rows)
    return out.getvalue()


def write_xlsx(header: Sequence[str], rows: Sequence[Sequence[object]], title: str) -> bytes:
    """An XLSX workbook with ``header`` and ``rows`` on one sheet; importing it back reads the
    same rows (every cell is text, so anexos and telephones keep their digits)."""
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = title[:31]
    sheet.append(list(header))
    for row in rows:
        sheet.append(["" if v is None else str(v) for v in row])
        as_text_cells(sheet, sheet.max_row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
