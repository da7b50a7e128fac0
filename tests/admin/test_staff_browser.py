"""The staff pages in Debian's headless Chromium (Playwright): the done-when walk of issue 12
(an admin signs in, changes the demo password, creates an agent user, uploads a changed
Anexo 2, previews, confirms and finds it in the audit log; the agent gets 403 on the
directory editor; six wrong passwords get 429), a form error beside its field, the pages at
390 px, no CSP violation, and the inbox playing a recording fetched from a loopback fake of
Twilio's media URL."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from flask import Flask
from sqlalchemy.orm import Session

from admin.demo import seed_demo_users
from admin.models import User
from directory.demo import seed_demo
from directory.plans import export_csv
from register.models import VoiceMessage
from tests.admin.conftest import BROWSER, CHROMIUM, CHROMIUM_ARGS, PASSWORD
from tests.admin.media import fake_twilio_media, tone_wav

ARGS = [*CHROMIUM_ARGS, "--autoplay-policy=no-user-gesture-required"]

pytestmark = BROWSER


def _no_sideways_scroll(page: object) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")  # type: ignore[attr-defined]
    assert width <= 390, width


def test_done_when_walk_of_an_admin_and_an_agent(
    live_server: str, session: Session, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    seed_demo(session, actor="seed")
    seed_demo_users(session, "seed")  # the demo users share a password they must change
    session.commit()
    changed = export_csv(session, "anexo2").replace(",2301\n", ",2399\n")
    anexo2 = tmp_path / "anexo2.csv"
    anexo2.write_text(changed.replace(",", ";"), encoding="utf-8-sig")  # Excel's Spanish CSV

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            violations: list[str] = []
            page.on(
                "console",
                lambda m: (
                    violations.append(m.text) if "Content Security Policy" in m.text else None
                ),
            )
            page.goto(f"{live_server}/")
            assert "/admin/login" in page.url
            page.fill("#username", "admin")
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_selector("#aviso-temporal")  # the demo password must be changed

            page.fill("#current", PASSWORD)
            page.fill("#password", "nueva clave de la admin")
            page.fill("#confirm", "otra cosa distinta")
            page.click("#form-clave button[type=submit]")
            assert "no coinciden" in page.inner_text("#error-confirm")
            page.fill("#current", PASSWORD)
            page.fill("#password", "nueva clave de la admin")
            page.fill("#confirm", "nueva clave de la admin")
            page.click("#form-clave button[type=submit]")
            page.wait_for_url("**/admin/directorio")
            assert page.inner_text("#usuario-rol") == "Administrador(a)"
            assert "Salir" in page.inner_text("header")

            # A form with an error: the órgano's order is taken, said beside the field.
            row = page.locator("#organo-OGSU")
            row.locator("input[name='o-OGSU-orden']").fill("1")
            row.locator("button", has_text="Guardar").click()
            error = page.locator("[data-error-for='o-OGSU-orden']")
            error.wait_for()
            assert "ya es de DGPP" in error.inner_text()

            # An agent user, linked to the agent Rosa Huamán Quispe.
            page.click("header >> text=Usuarios")
            page.fill("#username", "rosa")
            page.fill("#nombre", "Rosa Huamán Quispe")
            page.select_option("#role", "agente")
            page.select_option("#agent_id", label="Rosa Huamán Quispe (anexo 2101)")
            page.fill("#form-crear-usuario #password", "temporal de rosa 1")
            page.click("#form-crear-usuario button[type=submit]")
            page.wait_for_selector("tr[data-user=rosa]")
            assert "Agente de la Plataforma" in page.inner_text("tr[data-user=rosa]")

            # The changed Anexo 2: preview, then confirm.
            page.click("header >> text=Directorio")
            page.set_input_files("#subir-anexo2 input[type=file]", str(anexo2))
            page.click("#subir-anexo2 button[type=submit]")
            page.wait_for_selector("#vista-previa")
            assert "anexo «2301» → «2399»" in page.inner_text("#plan-modificar")
            page.click("#confirmar button[type=submit]")
            page.wait_for_selector("text=cambios aplicados")

            # ... and the change in the audit log, before and after side by side.
            page.goto(f"{live_server}/admin/auditoria?tabla=representative&usuario=admin:admin")
            entry = page.locator(".audit-entry[data-action=update]").first
            changed_row = entry.locator("tr.changed", has_text="anexo")
            assert changed_row.locator(".before").inner_text() == "2301"
            assert changed_row.locator(".after").inner_text() == "2399"

            # Every page at 390 px: no sideways scrolling; tables scroll inside.
            page.set_viewport_size({"width": 390, "height": 800})
            for path in (
                "/admin/directorio",
                "/admin/usuarios",
                "/admin/auditoria",
                "/buzon",
                "/directorio",
                "/admin/mensajes",
                "/admin/horario",
                "/admin/reportes",
            ):
                page.goto(f"{live_server}{path}")
                _no_sideways_scroll(page)
            page.screenshot(path=str(tmp_path / "reportes-390.png"), full_page=True)
            page.click("text=Salir")
            page.wait_for_url("**/admin/login")

            # The agent: temporary password first, then their start page, and 403 on the editor.
            page.set_viewport_size({"width": 1200, "height": 900})
            page.fill("#username", "rosa")
            page.fill("#password", "temporal de rosa 1")
            page.click("button[type=submit]")
            page.fill("#current", "temporal de rosa 1")
            page.fill("#password", "clave propia de rosa")
            page.fill("#confirm", "clave propia de rosa")
            page.click("#form-clave button[type=submit]")
            page.wait_for_url("**/agente")  # the console is the start page
            assert page.inner_text("#usuario-rol") == "Agente de la Plataforma"
            response = page.goto(f"{live_server}/admin/directorio")
            assert response is not None and response.status == 403
            assert "Acceso no permitido" in page.inner_text("#error")
            page.click("text=Salir")
            page.wait_for_url("**/admin/login")

            # Six wrong passwords in a minute: 429, in Spanish.
            for _ in range(5):
                page.fill("#username", "admin")
                page.fill("#password", "no es la clave")
                page.click("button[type=submit]")
                page.wait_for_selector("text=Usuario o contraseña incorrectos.")
            page.fill("#username", "admin")
            page.fill("#password", "no es la clave")
            with page.expect_response("**/admin/login") as answer:
                page.click("button[type=submit]")
            assert answer.value.status == 429
            assert "Demasiados intentos" in page.inner_text("#error")
            assert violations == []
        finally:
            browser.close()


def test_the_inbox_plays_a_recording_fetched_from_twilio(
    app: Flask, live_server: str, users: dict[str, User], session: Session
) -> None:
    from playwright.sync_api import sync_playwright

    wav = tone_wav(2.0)
    sid, token = app.config["TWILIO_ACCOUNT_SID"], app.config["TWILIO_AUTH_TOKEN"]
    with fake_twilio_media(sid, token, wav) as fake, sync_playwright() as p:
        app.config["TWILIO_MEDIA_HOSTS"] = ("127.0.0.1",)
        recording = f"{fake['base']}/2010-04-01/Accounts/{sid}/Recordings/RE{1:032d}"
        session.add(
            VoiceMessage(
                call_sid="CA" + "7" * 32,
                telefono="+51987654321",
                recording_url=recording,
                duration_seconds=2,
                created_at=datetime(2026, 12, 1, 22, tzinfo=UTC),
                due_date=date(2026, 12, 2),
            )
        )
        session.commit()
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 390, "height": 800})
            page.goto(f"{live_server}/buzon")
            page.fill("#username", "agente")
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_selector("#tabla-buzon")
            assert "+51 9** *** 321" in page.inner_text("#tabla-buzon .caller")
            page.evaluate("document.querySelector('#tabla-buzon audio').play()")
            # (wait_for_function evaluates a string, which the page's CSP rightly forbids)
            played = 0.0
            for _ in range(100):
                played = page.evaluate("document.querySelector('#tabla-buzon audio').currentTime")
                if played > 0.2:
                    break
                page.wait_for_timeout(100)
            assert played > 0.2
            assert page.evaluate("document.querySelector('#tabla-buzon audio').duration") > 1.5
            assert fake["seen"] and all(ok for _path, ok in fake["seen"])
            _no_sideways_scroll(page)

            row = page.locator("#tabla-buzon tr[data-id]")
            row.locator("select").select_option("atendido")
            row.locator("button", has_text="Cambiar").click()
            page.wait_for_selector("#tabla-buzon tr[data-status=atendido]")
            assert "por agente" in page.inner_text("#tabla-buzon .who-changed")
        finally:
            browser.close()
