"""Reading and writing the directory's CSV files (UTF-8, a BOM accepted, exact header).

Errors name the line and the column (its name and its number, counting from 1), in Spanish.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass


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


@dataclass(frozen=True)
class CsvRow:
    line: int
    values: dict[str, str]


def column_error(header: Sequence[str], line: int, column: str, message: str) -> RowError:
    return RowError(line, column, list(header).index(column) + 1, message)


def decode(data: bytes | str) -> str:
    """UTF-8 text (a leading BOM dropped), or FileRejected naming the first bad line."""
    if isinstance(data, str):
        return data.removeprefix("\ufeff")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise FileRejected(
            [RowError(line, None, None, "el archivo no está en UTF-8 (guárdelo como CSV UTF-8).")]
        ) from exc


def read_rows(data: bytes | str, header: Sequence[str]) -> tuple[list[CsvRow], list[RowError]]:
    """The data rows of a CSV whose first line must be exactly ``header``, and the rows that
    could not be read (wrong number of fields, bad quoting).

    Blank lines are skipped. A bad header or encoding raises ``FileRejected`` at once.
    """
    text = decode(data)
    reader = csv.reader(io.StringIO(text, newline=""))
    expected = ",".join(header)
    try:
        first = next(reader)
    except StopIteration:
        raise FileRejected(
            [RowError(1, None, None, f"el archivo está vacío; la cabecera debe ser: {expected}")]
        ) from None
    except csv.Error as exc:
        raise FileRejected([RowError(1, None, None, f"CSV mal formado: {exc}")]) from exc
    found = [cell.strip() for cell in first]
    if found != list(header):
        raise FileRejected(
            [
                RowError(
                    1,
                    None,
                    None,
                    f"la cabecera es «{','.join(found)}»; se espera exactamente: {expected}",
                )
            ]
        )
    rows: list[CsvRow] = []
    errors: list[RowError] = []
    previous_end = reader.line_num
    while True:
        start = previous_end + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            errors.append(RowError(start, None, None, f"CSV mal formado: {exc}"))
            break
        previous_end = reader.line_num
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


def write_rows(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """CSV text with ``header`` and ``rows`` (UTF-8 text, ``\\n`` line ends)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()
