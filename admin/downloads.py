"""Files the staff pages hand out: ``attachment`` (a CSV or an XLSX download) and the Anexo 1
register (CSV with a BOM, or XLSX) for /admin/registro and /red/anexo1, phones masked unless the
reader's role may see them."""

from __future__ import annotations

import io

from flask import Response, abort, send_file

from extensions import db
from register.export import export_rows, write_csv, write_xlsx

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def attachment(data: bytes, filename: str) -> Response:
    """``data`` as a download named ``filename``: CSV when it ends in ``.csv``, else XLSX."""
    if filename.endswith(".csv"):
        return Response(
            data,
            mimetype="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )
    return send_file(io.BytesIO(data), mimetype=XLSX, as_attachment=True, download_name=filename)


def anexo1_download(
    fmt: str, month: str, *, organo: str | None, role: str | None, name: str
) -> Response:
    """``name``.csv or ``name``.xlsx; 404 for another format, 400 for a wrong month or órgano."""
    if fmt not in ("csv", "xlsx"):
        abort(404)
    try:
        rows = export_rows(db.session(), month, organo=organo, role=role)
        if fmt == "csv":
            text = io.StringIO()
            write_csv(rows, text)
            return attachment(text.getvalue().encode("utf-8"), f"{name}.csv")
        buffer = io.BytesIO()
        write_xlsx(rows, buffer)
    except ValueError as exc:
        abort(400, str(exc))
    return attachment(buffer.getvalue(), f"{name}.xlsx")
