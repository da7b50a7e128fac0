"""The sign-in's defences (admin/security.py): the rate limit, cookies, security headers,
CSRF on every POST from a page, local-only redirects, and Spanish error pages."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from admin.models import User
from admin.security import safe_next
from tests.admin.conftest import PASSWORD, login


def _wrong(client: FlaskClient, username: str, address: str = "10.0.0.1") -> int:
    response = client.post(
        "/admin/login",
        data={"username": username, "password": "no es la clave"},
        environ_base={"REMOTE_ADDR": address},
    )
    return response.status_code


def test_six_wrong_passwords_in_a_minute_get_429_in_spanish(
    client: FlaskClient, users: dict[str, User]
) -> None:
    assert [_wrong(client, "admin") for _ in range(5)] == [200] * 5
    response = client.post(
        "/admin/login",
        data={"username": "admin", "password": PASSWORD},
        environ_base={"REMOTE_ADDR": "10.0.0.1"},
    )
    assert response.status_code == 429  # even the right password waits
    page = response.get_data(as_text=True)
    assert "Demasiados intentos" in page and "Espere un minuto" in page
    assert '<header class="site">' in page  # the site's layout
    assert response.headers["Retry-After"] == "60"


def test_the_limit_is_per_user_from_any_address_and_per_address_for_any_user(
    client: FlaskClient, users: dict[str, User]
) -> None:
    for i in range(5):
        assert _wrong(client, "supervisor", f"10.0.1.{i}") == 200
    assert _wrong(client, "supervisor", "10.0.1.99") == 429  # same user, new address
    for name in ("a1", "a2", "a3", "a4", "a5"):
        assert _wrong(client, name, "10.0.2.1") == 200
    assert _wrong(client, "lector", "10.0.2.1") == 429  # same address, another user
    # Someone else, elsewhere, still signs in.
    ok = client.post(
        "/admin/login",
        data={"username": "lector", "password": PASSWORD},
        environ_base={"REMOTE_ADDR": "10.0.3.1"},
    )
    assert ok.status_code == 302


def test_successful_sign_ins_do_not_use_up_the_limit(
    client: FlaskClient, users: dict[str, User]
) -> None:
    for _ in range(7):
        assert login(client, "lector").status_code == 302
        client.post("/admin/logout")


@pytest.mark.parametrize("path", ["/admin/login", "/admin/reportes", "/no-existe", "/health"])
def test_security_headers_on_every_page(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    csp = response.headers["Content-Security-Policy"]
    assert (
        "script-src 'self'" in csp
        and "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
    )
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_pages_have_no_inline_script(client: FlaskClient, users: dict[str, User]) -> None:
    login(client, "admin")
    for path in (
        "/admin/directorio",
        "/admin/usuarios",
        "/admin/auditoria",
        "/buzon",
        "/admin/mensajes",
        "/directorio",
    ):
        page = client.get(path).get_data(as_text=True)
        assert not re.search(r"<script(?![^>]*\bsrc=)", page), path
        assert " onclick=" not in page and " onload=" not in page


def test_session_cookie_is_httponly_and_lax(client: FlaskClient, users: dict[str, User]) -> None:
    response = login(client, "admin")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_production_cookies_are_secure(monkeypatch: pytest.MonkeyPatch) -> None:
    from config import Config, DevelopmentConfig

    monkeypatch.delenv("SESSION_COOKIE_SECURE", raising=False)
    assert Config().SESSION_COOKIE_SECURE is True
    assert DevelopmentConfig().SESSION_COOKIE_SECURE is False


@pytest.mark.parametrize(
    ("target", "kept"),
    [
        ("/admin/reportes?mes=2026-10", True),
        ("/buzon", True),
        ("//evil.example/phish", False),
        ("/\t/evil.example/phish", False),
        ("/\\evil.example", False),
        ("https://evil.example/", False),
        ("/\n/evil.example", False),
        ("reportes", False),
    ],
)
def test_safe_next_keeps_only_local_paths(target: str, kept: bool) -> None:
    assert (safe_next(target) == target) is kept


def test_login_does_not_redirect_to_a_tab_smuggled_host(
    client: FlaskClient, users: dict[str, User]
) -> None:
    response = client.post(
        "/admin/login?next=/%09/evil.example/phish",
        data={"username": "admin", "password": PASSWORD},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


@pytest.fixture
def csrf_client(app: Flask) -> FlaskClient:
    app.config["WTF_CSRF_ENABLED"] = True
    return app.test_client()


def _token(page: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert match
    return match.group(1)


def test_csrf_on_forms_and_on_json_posts_from_a_page(
    csrf_client: FlaskClient, users: dict[str, User], session: object
) -> None:
    token = _token(csrf_client.get("/admin/login").get_data(as_text=True))
    csrf_client.post(
        "/admin/login", data={"username": "admin", "password": PASSWORD, "csrf_token": token}
    )
    # A form post without its token is refused, in Spanish, in the layout.
    refused = csrf_client.post("/admin/directorio/organos", data={"o-new-sigla": "X"})
    assert refused.status_code == 400
    assert "El formulario venció" in refused.get_data(as_text=True)
    # A JSON post from a signed-in page needs the X-CSRFToken header too.
    assert csrf_client.post("/api/queue", json={}).status_code == 400
    page = csrf_client.get("/admin/directorio").get_data(as_text=True)
    header = {"X-CSRFToken": _token(page)}
    assert csrf_client.post("/api/queue", json={}, headers=header).status_code != 400
    # Twilio's webhooks are signed instead and never asked for a token.
    assert csrf_client.post("/voice/incoming").status_code == 403


@pytest.mark.parametrize(
    ("method", "path", "code", "title"),
    [
        ("get", "/no-existe", 404, "Página no encontrada"),
        ("put", "/admin/login", 405, "Operación no permitida"),
        ("get", "/buzon?estado=otro", 400, "Solicitud no válida"),
        ("get", "/admin/usuarios", 403, "Acceso no permitido"),
    ],
)
def test_error_pages_are_spanish_in_the_layout(
    client: FlaskClient, users: dict[str, User], method: str, path: str, code: int, title: str
) -> None:
    login(client, "agente")
    response = getattr(client, method)(path)
    assert response.status_code == code
    page = response.get_data(as_text=True)
    assert title in page and '<header class="site">' in page and "Salir" in page


def test_a_500_page_is_spanish_too(app: Flask, client: FlaskClient) -> None:
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.get("/_boom")
    def _boom() -> str:
        raise RuntimeError("boom")

    response = client.get("/_boom")
    assert response.status_code == 500
    assert "Error del servicio" in response.get_data(as_text=True)


def test_an_unexpected_error_is_a_spanish_page_in_the_layout(app: Flask) -> None:
    """Issue 12.2: the 500 page too (Twilio's webhooks keep a bare status)."""

    def broken() -> str:
        raise RuntimeError("a failure nobody expected (test)")

    app.add_url_rule("/admin/roto", "roto", broken)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = app.test_client().get("/admin/roto")
    assert response.status_code == 500 and response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "Error del servicio" in page and "Vuelva a intentarlo en unos minutos" in page
    assert "RuntimeError" not in page
