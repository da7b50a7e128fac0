"""Error pages in Spanish for people (Twilio's /voice/* requests get a bare status)."""

from __future__ import annotations

from flask import Flask, Response, render_template, request
from werkzeug.exceptions import HTTPException

PAGES = {
    403: ("Acceso no permitido", "Su usuario no tiene permiso para ver esta página."),
    404: ("Página no encontrada", "La dirección no existe. Revise el enlace o vuelva al inicio."),
    405: ("Operación no permitida", "Esta página no acepta esa operación."),
    500: (
        "Error del servicio",
        "Ocurrió un error inesperado; el equipo técnico fue notificado en el registro del "
        "servicio. Vuelva a intentarlo en unos minutos.",
    ),
}


def _page(error: HTTPException) -> Response | HTTPException:
    code = error.code or 500
    if request.path.startswith("/voice/") or request.path.startswith("/api/") or code not in PAGES:
        return error
    title, message = PAGES[code]
    html = render_template("admin/error.html", title=title, message=message)
    return Response(html, status=code, mimetype="text/html")


def init_app(app: Flask) -> None:
    for code in PAGES:
        app.register_error_handler(code, _page)
