"""Error pages in Spanish, in the site's layout, for people (Twilio's /voice/* requests and the
JSON API get a bare status)."""

from __future__ import annotations

from flask import Flask, Response, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

PAGES = {
    400: (
        "Solicitud no válida",
        "La página recibió datos que no puede usar. Vuelva atrás, revise lo que escribió y "
        "vuelva a intentarlo.",
    ),
    403: ("Acceso no permitido", "Su usuario no tiene permiso para ver esta página."),
    404: ("Página no encontrada", "La dirección no existe. Revise el enlace o vuelva al inicio."),
    405: ("Operación no permitida", "Esta página no acepta esa operación."),
    413: (
        "Archivo demasiado grande",
        "El archivo supera el tamaño permitido. Envíe uno más pequeño.",
    ),
    429: (
        "Demasiados intentos",
        "Hubo demasiados intentos de inicio de sesión en poco tiempo. Espere un minuto y "
        "vuelva a intentarlo.",
    ),
    500: (
        "Error del servicio",
        "Ocurrió un error inesperado; el equipo técnico fue notificado en el registro del "
        "servicio. Vuelva a intentarlo en unos minutos.",
    ),
}
CSRF_PAGE = (
    "El formulario venció",
    "La sesión del formulario venció o la página se abrió desde otro sitio. Vuelva a cargar "
    "la página e inténtelo de nuevo.",
)


def _page(error: HTTPException) -> Response | HTTPException:
    code = error.code or 500
    if request.path.startswith(("/voice/", "/api/")) or code not in PAGES:
        return error
    title, message = CSRF_PAGE if isinstance(error, CSRFError) else PAGES[code]
    html = render_template("admin/error.html", title=title, message=message, code=code)
    response = Response(html, status=code, mimetype="text/html")
    if code == 429:
        response.headers["Retry-After"] = "60"
    return response


def init_app(app: Flask) -> None:
    for code in PAGES:
        app.register_error_handler(code, _page)
    app.register_error_handler(CSRFError, _page)
