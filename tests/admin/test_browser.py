"""The report page in a real headless Chromium (Debian's), driven by Playwright."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from sqlalchemy.orm import Session

from admin.models import User
from clock import lima_now
from register.demo import seed_demo_calls
from tests.admin.conftest import BROWSER, CHROMIUM, CHROMIUM_ARGS, PASSWORD

ARGS = CHROMIUM_ARGS

pytestmark = BROWSER


def test_supervisor_signs_in_and_reads_the_monthly_report_charts(
    live_server: str, users: dict[str, User], session: Session, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    seed_demo_calls(session, months=2, per_day=20, today=date(2026, 11, 10))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.goto(f"{live_server}/admin/reportes?mes=2026-10")
            assert "/admin/login" in page.url
            page.fill("#username", "supervisor")
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_selector("#chart-por-dia")
            assert "octubre de 2026" in page.inner_text("#titulo")
            offered = int(page.inner_text("[data-kpi=ofrecidas] .v"))
            answered = int(page.inner_text("[data-kpi=atendidas] .v"))
            assert offered > 200 and 0 < answered < offered
            assert "%" in page.inner_text("[data-kpi=nivel_servicio] .v")
            # Every day of October has its stack of bars, drawn with a real size.
            box = page.locator("#chart-por-dia").bounding_box()
            assert box is not None and box["width"] > 600
            bars = page.locator("#chart-por-dia rect[fill='#2e7d32']")
            assert bars.count() >= 20
            assert page.locator("#chart-por-organo text.total").count() >= 3
            assert page.locator("#tabla-erlang tr").count() >= 5
            page.screenshot(path=str(tmp_path / "reportes.png"), full_page=True)

            page.fill("#trimestre", "2026-Q4")
            page.click("text=Ver trimestre")
            page.wait_for_selector("text=4.º trimestre de 2026")
            assert int(page.inner_text("[data-kpi=ofrecidas] .v")) > offered

            page.click("text=Salir")
            page.wait_for_url("**/admin/login")
        finally:
            browser.close()


def test_admin_changes_the_hours_and_adds_a_closure_day_in_the_browser(
    live_server: str, users: dict[str, User], tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    day = lima_now().date() + timedelta(days=20)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.goto(f"{live_server}/admin/horario")
            assert "/admin/login" in page.url
            page.fill("#username", "admin")
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_selector("#horario-valor")
            assert page.inner_text("#horario-origen") == "Del entorno (SERVICE_HOURS)"

            page.fill("#spec", "lun-vie 08:00-13:00")  # a wrong value first: its error shows
            page.click("text=Guardar horario")
            assert "Días inválidos" in page.inner_text("#error-horario")

            page.fill("#spec", "mon-fri 08:00-13:00;sat 09:00-12:00")
            page.click("text=Guardar horario")
            page.wait_for_selector("text=Horario guardado.")
            assert page.inner_text("#horario-valor") == "mon-fri 08:00-13:00;sat 09:00-12:00"
            assert "Fijado en esta página" in page.inner_text("#horario-origen")
            assert "De lunes a viernes, de 8:00 a 13:00; los sábados" in page.inner_text(
                "#horario-dicho"
            )

            page.fill("#day", day.isoformat())
            page.fill("#reason", "Inventario anual")
            page.click("text=Agregar día de cierre")
            row = page.locator(f"#tabla-cierres tr[data-day='{day.isoformat()}']")
            row.wait_for()
            assert day.strftime("%d/%m/%Y") in row.inner_text()
            assert "Inventario anual" in row.inner_text()
            page.screenshot(path=str(tmp_path / "horario.png"), full_page=True)

            row.locator("button", has_text="Quitar").click()
            page.wait_for_selector("text=ya no es día de cierre")
            assert page.locator(f"#tabla-cierres tr[data-day='{day.isoformat()}']").count() == 0

            page.click("header >> text=Mensajes")
            page.wait_for_selector("#faltan-qu")
            page.click("#p-main_menu > summary")
            page.locator("#p-main_menu form[data-lang=qu] button").wait_for()
            page.locator("#p-main_menu").screenshot(path=str(tmp_path / "mensajes.png"))
        finally:
            browser.close()
