"""/red in Debian's headless Chromium (Playwright): a Red member signs in, lands on their page,
sees the call they missed today with the caller's number masked, plays the caller's summary
(fetched by the app from a loopback fake of Twilio's media URL, with the account's
credentials), writes a note on a call they took, and finds it in the register export: their
page's Anexo 1 download and `flask register export`."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy.orm import Session

from register.anexo1 import COLUMNS
from tests.admin.conftest import BROWSER, CHROMIUM, CHROMIUM_ARGS, PASSWORD
from tests.admin.media import fake_twilio_media, tone_wav
from tests.admin.red_fixtures import (
    TODAY_MISSED,
    TODAY_TAKEN,
    fixed_now,  # noqa: F401  (fixture)
    seed_red_member,
)

ARGS = [*CHROMIUM_ARGS, "--autoplay-policy=no-user-gesture-required"]
NOTE = "Se explicó cómo modificar la meta presupuestaria; enviará el oficio."

pytestmark = BROWSER


def test_a_red_member_plays_a_missed_calls_summary_and_notes_a_call_they_took(
    app: Flask,
    live_server: str,
    session: Session,
    runner: FlaskCliRunner,
    tmp_path: Path,
    fixed_now: object,  # noqa: F811
) -> None:
    from playwright.sync_api import sync_playwright

    sid, token = app.config["TWILIO_ACCOUNT_SID"], app.config["TWILIO_AUTH_TOKEN"]
    with fake_twilio_media(sid, token, tone_wav(2.0)) as fake, sync_playwright() as p:
        app.config["TWILIO_MEDIA_HOSTS"] = ("127.0.0.1",)
        summary = f"{fake['base']}/2010-04-01/Accounts/{sid}/Recordings/RE{2:032d}"
        member = seed_red_member(session, summary_url=summary)
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 390, "height": 800}, accept_downloads=True)
            violations: list[str] = []
            page.on(
                "console",
                lambda m: (
                    violations.append(m.text) if "Content Security Policy" in m.text else None
                ),
            )
            page.goto(f"{live_server}/")
            page.fill("#username", "red")
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url("**/red")
            assert page.inner_text("#usuario-rol") == "Integrante de la Red"
            assert member.rep.anexo == page.inner_text("#anexo")

            missed = page.locator(f"#tabla-hoy tr[data-call={TODAY_MISSED}]")
            assert "no contestó" in missed.inner_text()
            assert "+51 9** *** 321" in missed.locator(".caller").inner_text()
            assert "+51987654321" not in page.content()
            audio = f"#tabla-hoy tr[data-call={TODAY_MISSED}] audio"
            page.evaluate(f"document.querySelector('{audio}').play()")
            # (wait_for_function evaluates a string, which the page's CSP rightly forbids)
            played = 0.0
            for _ in range(100):
                played = page.evaluate(f"document.querySelector('{audio}').currentTime")
                if played > 0.2:
                    break
                page.wait_for_timeout(100)
            assert played > 0.2
            assert fake["seen"] and all(ok for _path, ok in fake["seen"])
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, width

            taken = page.locator(f"#tabla-hoy tr[data-call={TODAY_TAKEN}]")
            taken.locator("textarea").fill(NOTE)
            taken.locator("button", has_text="Guardar nota").click()
            page.wait_for_selector("text=Nota guardada en el registro de la llamada.")
            assert page.locator(f"tr[data-call={TODAY_TAKEN}] textarea").input_value() == NOTE
            page.set_viewport_size({"width": 1200, "height": 900})
            page.screenshot(path=str(tmp_path / "red.png"), full_page=True)

            with page.expect_download() as download:
                page.click("#anexo1-csv")
            csv_path = tmp_path / "anexo1.csv"
            download.value.save_as(csv_path)
            assert violations == []
        finally:
            browser.close()

    header, *lines = csv_path.read_text(encoding="utf-8-sig").splitlines()
    assert header == ",".join(COLUMNS)
    [line] = [line for line in lines if TODAY_TAKEN in line]
    assert f"consulta_tecnica | nota de la Red: {NOTE}" in line

    out = tmp_path / "registro.csv"
    result = runner.invoke(args=["register", "export", "--month", "2026-12", "--output", str(out)])
    assert result.exit_code == 0, result.output
    [exported] = [
        line for line in out.read_text(encoding="utf-8-sig").splitlines() if TODAY_TAKEN in line
    ]
    assert f"nota de la Red: {NOTE}" in exported
