"""The admin's hours and prompt catalogue pages (admin/settings_views.py): roles, changes that
reach the call flow, errors that change nothing, the audit log, CSRF."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from admin.models import User
from clock import lima_now
from directory.audit import entries
from ivr import hours as hours_domain
from ivr import prompts as prompts_domain
from tests.admin.conftest import PASSWORD, login
from tests.conftest import TwilioSigner, call_params
from tests.ivr.helpers import lima, said, twiml

PAGES = ["/admin/horario", "/admin/mensajes"]


def in_force(app: Flask, session: Session) -> hours_domain.Hours:
    """The hours the call flow uses (the same call as ivr/entry.py)."""
    return hours_domain.load_hours(
        session, app.config["SERVICE_HOURS"], app.config["SERVICE_CLOSE_ON_HOLIDAYS"]
    )


# --- Roles ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", PAGES)
def test_admin_may_open_the_settings_pages(
    client: FlaskClient, users: dict[str, User], path: str
) -> None:
    login(client, "admin")
    assert client.get(path).status_code == 200


@pytest.mark.parametrize("path", PAGES)
@pytest.mark.parametrize("username", ["supervisor", "lector", "agente"])
def test_other_roles_get_403_on_the_settings_pages(
    client: FlaskClient, users: dict[str, User], path: str, username: str
) -> None:
    login(client, username)
    assert client.get(path).status_code == 403


@pytest.mark.parametrize(
    ("path", "form"),
    [
        ("/admin/horario", {"spec": "mon-sun 00:00-24:00"}),
        ("/admin/horario/cierres", {"day": "2026-12-24"}),
        ("/admin/mensajes/goodbye/qu", {"goodbye-qu-audio_url": "https://cdn.mef.gob.pe/a.mp3"}),
    ],
)
def test_a_supervisor_cannot_change_settings(
    app: Flask,
    client: FlaskClient,
    users: dict[str, User],
    session: Session,
    path: str,
    form: dict[str, str],
) -> None:
    login(client, "supervisor")
    assert client.post(path, data=form).status_code == 403
    current = in_force(app, session)
    assert current.source == "entorno" and not current.closure_days
    assert prompts_domain.missing_recordings(session)["qu"].count("goodbye") == 1


@pytest.mark.parametrize("path", PAGES)
def test_anonymous_visitor_is_sent_to_the_login_page(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 302
    assert "/admin/login?next=" in response.headers["Location"]


def test_navigation_shows_only_the_links_the_role_may_use(
    client: FlaskClient, users: dict[str, User]
) -> None:
    login(client, "admin")
    page = client.get("/admin/reportes").get_data(as_text=True)
    for href in (
        "/admin/reportes",
        "/admin/horario",
        "/admin/mensajes",
        "/admin/directorio",
        "/admin/usuarios",
        "/admin/auditoria",
        "/buzon",
    ):
        assert f'href="{href}"' in page
    assert ">Salir</button>" in page
    client.post("/admin/logout")
    login(client, "lector")
    page = client.get("/admin/reportes").get_data(as_text=True)
    assert 'href="/admin/reportes"' in page and 'href="/directorio"' in page
    assert 'href="/admin/horario"' not in page and 'href="/admin/mensajes"' not in page
    assert 'href="/admin/usuarios"' not in page and 'href="/buzon"' not in page


# --- /admin/horario ---------------------------------------------------------------------


def test_hours_page_shows_the_hours_in_force_holidays_and_closure_days(
    client: FlaskClient, users: dict[str, User], session: Session
) -> None:
    soon = lima_now().date() + timedelta(days=3)
    hours_domain.close_day(session, soon, "Inventario anual")
    login(client, "admin")
    page = client.get("/admin/horario").get_data(as_text=True)
    assert "De lunes a viernes, de 8:30 a 16:30" in page
    assert "Del entorno (SERVICE_HOURS)" in page
    assert "La línea cierra en los feriados del Perú." in page
    assert soon.strftime("%d/%m/%Y") in page and "Inventario anual" in page
    next_holiday, name = hours_domain.upcoming_holidays(lima_now().date(), 1)[0]
    assert next_holiday.strftime("%d/%m/%Y") in page and name in page
    assert "15 segundos como máximo" in page


def test_hours_set_on_the_page_reach_the_call_flow(
    app: Flask,
    client: FlaskClient,
    twilio: TwilioSigner,
    users: dict[str, User],
    session: Session,
) -> None:
    login(client, "admin")
    response = client.post("/admin/horario", data={"spec": "mon-fri 08:30-13:00;sat 09:00-12:00"})
    assert response.status_code == 302
    current = in_force(app, session)
    assert current.source == "administración"
    assert hours_domain.closed_reason(lima("2026-11-26 14:00"), current) == "fuera_de_horario"
    assert hours_domain.closed_reason(lima("2026-11-28 10:00"), current) is None
    # The call flow itself: Thursday 14:00 is now closed, with the new hours said.
    app.config["IVR_NOW"] = lima("2026-11-26 14:00")
    root = twiml(twilio.post("/voice/incoming", call_params()))
    assert "de lunes a viernes, de 8:30 a 13:00; los sábados, de 9:00 a 12:00" in said(root)
    page = client.get("/admin/horario").get_data(as_text=True)
    assert "Horario guardado." in page
    assert "Fijado en esta página" in page
    [entry] = entries(session, "ivr_setting")
    assert entry.actor == "admin:admin" and entry.action == "create"
    assert entry.after == {"key": "SERVICE_HOURS", "value": "mon-fri 08:30-13:00;sat 09:00-12:00"}


def test_invalid_hours_show_the_parsers_error_and_change_nothing(
    app: Flask, client: FlaskClient, users: dict[str, User], session: Session
) -> None:
    login(client, "admin")
    response = client.post("/admin/horario", data={"spec": "lun-vie 08:30-16:30"})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    error = re.search(r'<div class="field-error" id="error-horario">([^<]+)</div>', page)
    assert error is not None and "Días inválidos" in error.group(1)
    assert 'value="lun-vie 08:30-16:30"' in page  # the admin's value is kept to correct it
    current = in_force(app, session)
    assert current.source == "entorno" and current.spec == app.config["SERVICE_HOURS"]
    assert entries(session, "ivr_setting") == []


def test_back_to_the_environment_hours(
    app: Flask, client: FlaskClient, users: dict[str, User], session: Session
) -> None:
    hours_domain.set_service_hours(session, "sat 09:00-12:00")
    login(client, "admin")
    assert client.post("/admin/horario/entorno").status_code == 302
    current = in_force(app, session)
    assert current.source == "entorno" and current.spec == app.config["SERVICE_HOURS"]
    assert [e.action for e in entries(session, "ivr_setting")] == ["delete"]


def test_holidays_toggle_opens_the_line_on_a_holiday(
    app: Flask, client: FlaskClient, users: dict[str, User], session: Session
) -> None:
    holiday = lima("2026-12-08 10:00")  # Inmaculada Concepción, a Tuesday
    assert hours_domain.closed_reason(holiday, in_force(app, session)) == "feriado"
    login(client, "admin")
    client.post("/admin/horario/feriados", data={})  # the box left unticked
    assert hours_domain.closed_reason(holiday, in_force(app, session)) is None
    client.post("/admin/horario/feriados", data={"close_on_holidays": "y"})
    assert hours_domain.closed_reason(holiday, in_force(app, session)) == "feriado"
    assert [e.after for e in entries(session, "ivr_setting")] == [
        {"key": "SERVICE_CLOSE_ON_HOLIDAYS", "value": "false"},
        {"key": "SERVICE_CLOSE_ON_HOLIDAYS", "value": "true"},
    ]


def test_closure_day_added_and_removed_on_the_page(
    app: Flask, client: FlaskClient, users: dict[str, User], session: Session
) -> None:
    day = lima_now().date() + timedelta(days=10)
    login(client, "admin")
    response = client.post(
        "/admin/horario/cierres", data={"day": day.isoformat(), "reason": "Mudanza"}
    )
    assert response.status_code == 302
    assert hours_domain.closed_reason(lima(f"{day} 10:00"), in_force(app, session)) == "cierre"
    page = client.get("/admin/horario").get_data(as_text=True)
    assert f'data-day="{day.isoformat()}"' in page and "Mudanza" in page

    response = client.post(f"/admin/horario/cierres/{day.isoformat()}/quitar")
    assert response.status_code == 302
    assert day not in in_force(app, session).closure_days
    page = client.get("/admin/horario").get_data(as_text=True)
    assert f'data-day="{day.isoformat()}"' not in page
    assert [(e.action, e.entity_id, e.actor) for e in entries(session, "closure_day")] == [
        ("create", day.isoformat(), "admin:admin"),
        ("delete", day.isoformat(), "admin:admin"),
    ]


def test_closure_day_without_a_valid_or_future_date_is_refused(
    client: FlaskClient, users: dict[str, User], session: Session
) -> None:
    login(client, "admin")
    response = client.post(
        "/admin/horario/cierres", data={"day": "24/12/2026"}, follow_redirects=True
    )
    assert "Indique una fecha válida (AAAA-MM-DD)." in response.get_data(as_text=True)
    yesterday = lima_now().date() - timedelta(days=1)
    response = client.post(
        "/admin/horario/cierres", data={"day": yesterday.isoformat()}, follow_redirects=True
    )
    assert "Esa fecha ya pasó" in response.get_data(as_text=True)
    assert hours_domain.closure_days(session) == []


# --- /admin/mensajes --------------------------------------------------------------------


def test_catalogue_page_lists_every_prompt_and_the_missing_recordings(
    client: FlaskClient, users: dict[str, User], session: Session
) -> None:
    prompts_domain.set_audio(session, "greeting", "qu", "https://cdn.mef.gob.pe/qu/greeting.mp3")
    login(client, "admin")
    page = client.get("/admin/mensajes").get_data(as_text=True)
    for prompt_id in prompts_domain.DEFAULT_PROMPTS:
        assert f'id="p-{prompt_id}"' in page
        assert f"<strong>{prompts_domain.PROMPT_LABELS[prompt_id]}</strong>" in page
    recorded = len(prompts_domain.DEFAULT_PROMPTS) - len(prompts_domain.SPANISH_ONLY)
    assert f"Quechua: {recorded - 1} mensajes sin grabación" in page
    assert f"Aymara: {recorded} mensajes sin grabación" in page
    assert 'value="https://cdn.mef.gob.pe/qu/greeting.mp3"' in page


def test_audio_url_set_and_cleared_on_the_page(
    client: FlaskClient, users: dict[str, User], session: Session
) -> None:
    url = "https://cdn.mef.gob.pe/qu/main_menu.mp3"
    login(client, "admin")
    response = client.post(
        "/admin/mensajes/main_menu/qu", data={"main_menu-qu-audio_url": f" {url} "}
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/admin/mensajes#p-main_menu")
    assert prompts_domain.render(session, "main_menu", "qu").audio_url == url
    assert "main_menu" not in prompts_domain.missing_recordings(session)["qu"]

    client.post("/admin/mensajes/main_menu/qu", data={"main_menu-qu-audio_url": ""})
    assert prompts_domain.render(session, "main_menu", "qu").audio_url is None
    assert "main_menu" in prompts_domain.missing_recordings(session)["qu"]
    assert [(e.entity_id, e.after) for e in entries(session, "prompt")] == [
        ("main_menu:qu", {"text": None, "audio_url": url}),
        ("main_menu:qu", {"text": None, "audio_url": None}),
    ]


@pytest.mark.parametrize(
    "url", ["ftp://cdn.mef.gob.pe/a.mp3", "cdn.mef.gob.pe/a.mp3", "https://", "javascript:x"]
)
def test_invalid_audio_url_is_refused_next_to_the_field(
    client: FlaskClient, users: dict[str, User], session: Session, url: str
) -> None:
    login(client, "admin")
    response = client.post(
        "/admin/mensajes/goodbye/ay",
        data={"goodbye-ay-audio_url": url, "goodbye-ay-text": "Otro texto"},
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "no es una dirección válida: use una URL http:// o https://" in page
    assert all(not e.overridden for e in prompts_domain.catalogue(session))
    assert entries(session, "prompt") == []


def test_text_set_and_restored_on_the_page(
    client: FlaskClient, users: dict[str, User], session: Session
) -> None:
    login(client, "admin")
    client.post("/admin/mensajes/goodbye/es", data={"goodbye-es-text": "Hasta pronto."})
    assert prompts_domain.render(session, "goodbye").text == "Hasta pronto."
    client.post("/admin/mensajes/goodbye/es", data={"goodbye-es-text": "  "})
    assert (
        prompts_domain.render(session, "goodbye").text == prompts_domain.DEFAULT_PROMPTS["goodbye"]
    )


def test_text_with_an_unknown_field_is_refused_next_to_the_field(
    client: FlaskClient, users: dict[str, User], session: Session
) -> None:
    login(client, "admin")
    response = client.post(
        "/admin/mensajes/hours/es",
        data={"hours-es-text": "Atendemos {horario}.", "hours-es-audio_url": "https://a.pe/h.mp3"},
    )
    assert response.status_code == 400
    assert "Campos disponibles: hours" in response.get_data(as_text=True)
    assert prompts_domain.render(session, "hours", hours="x").audio_url is None


def test_unknown_prompt_or_language_is_404(client: FlaskClient, users: dict[str, User]) -> None:
    login(client, "admin")
    assert client.post("/admin/mensajes/no_such/qu", data={}).status_code == 404
    assert client.post("/admin/mensajes/goodbye/fr", data={}).status_code == 404


# --- CSRF -------------------------------------------------------------------------------


def _token(page: str, name: str = "csrf_token") -> str:
    match = re.search(rf'name="{re.escape(name)}" type="hidden" value="([^"]+)"', page)
    assert match, name
    return match.group(1)


def test_csrf_is_enforced_on_the_settings_forms_when_enabled(
    app: Flask, users: dict[str, User], session: Session
) -> None:
    app.config["WTF_CSRF_ENABLED"] = True
    client = app.test_client()
    token = _token(client.get("/admin/login").get_data(as_text=True))
    client.post(
        "/admin/login", data={"username": "admin", "password": PASSWORD, "csrf_token": token}
    )
    day = lima_now().date() + timedelta(days=30)

    assert client.post("/admin/horario", data={"spec": "sat 09:00-12:00"}).status_code == 400
    client.post("/admin/horario/cierres", data={"day": day.isoformat()})
    client.post("/admin/mensajes/goodbye/qu", data={"goodbye-qu-audio_url": "https://a.pe/x.mp3"})
    assert in_force(app, session).source == "entorno"
    assert hours_domain.closure_days(session) == []
    assert prompts_domain.render(session, "goodbye", "qu").audio_url is None

    horario = client.get("/admin/horario").get_data(as_text=True)
    client.post("/admin/horario", data={"spec": "sat 09:00-12:00", "csrf_token": _token(horario)})
    client.post(
        "/admin/horario/cierres", data={"day": day.isoformat(), "csrf_token": _token(horario)}
    )
    mensajes = client.get("/admin/mensajes").get_data(as_text=True)
    client.post(
        "/admin/mensajes/goodbye/qu",
        data={
            "goodbye-qu-audio_url": "https://a.pe/x.mp3",
            "goodbye-qu-csrf_token": _token(mensajes, "goodbye-qu-csrf_token"),
        },
    )
    assert in_force(app, session).spec == "sat 09:00-12:00"
    assert [row.day for row in hours_domain.closure_days(session)] == [day]
    assert prompts_domain.render(session, "goodbye", "qu").audio_url == "https://a.pe/x.mp3"
