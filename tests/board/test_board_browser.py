"""The board in Debian's headless Chromium (Playwright), live for real: the web app and the
live process (live/) on loopback, the publisher loop in a thread. A caller queued through
signed webhooks appears within 1 s, an agent's state change shows, and a supervisor frees a
ringing agent and finds it in the audit log. The README's screenshot is taken here."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from board import publisher
from board.data import NEED_KEY
from board.settings import BoardSettings
from clock import LIMA
from directory.models import AuditEntry
from extensions import db, redis_store
from live.server import LiveSettings
from live.thread import LiveThread
from routing import agents
from routing import queue as line
from routing.dispatch import match
from routing.settings import RoutingSettings
from tests.admin.conftest import BROWSER, CHROMIUM, CHROMIUM_ARGS, PASSWORD
from tests.board.conftest import queue_caller, register_row
from tests.conftest import TwilioSigner
from tests.routing.conftest import add_agent, caller_state, sid

pytestmark = BROWSER
R = RoutingSettings()
# The README's screenshot: written there with UPDATE_SCREENSHOTS=1, else to the test's folder.
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "board.png"


@pytest.fixture
def live(app: Flask, redis_url: str, live_server: str) -> Iterator[LiveThread]:
    settings = LiveSettings(
        redis_url=redis_url, secret=app.config["SECRET_KEY"], origins=(live_server,)
    )
    with LiveThread(settings) as thread:
        app.config["LIVE_URL"] = thread.url
        yield thread


@pytest.fixture
def publishing(app: Flask, live: LiveThread) -> Iterator[None]:
    """`flask board publish`'s loop, in a thread with its own app context."""
    stop = threading.Event()
    settings = BoardSettings.from_config(app.config)

    def step() -> object:
        with app.app_context():
            try:
                jobs = redis_store.queue("mail")
                return publisher.publish_once(
                    db.session(), redis_store.client, settings, jobs, now_ms=line.now_ms()
                )
            finally:
                db.session.remove()

    loop = threading.Thread(
        target=publisher.run, args=(step, redis_store.client, settings), kwargs={"stop": stop}
    )
    loop.start()
    yield
    stop.set()
    loop.join(timeout=5)


def _sign_in(page: object, base: str) -> None:
    page.goto(f"{base}/admin/login")  # type: ignore[attr-defined]
    page.fill("#username", "sofia")  # type: ignore[attr-defined]
    page.fill("#password", PASSWORD)  # type: ignore[attr-defined]
    page.click("button[type=submit]")  # type: ignore[attr-defined]
    page.wait_for_url("**/supervision")  # type: ignore[attr-defined]


def test_the_board_live_in_chromium(
    app: Flask,
    live_server: str,
    publishing: None,
    supervisor: object,
    session: Session,
    twilio: TwilioSigner,
    redis_client: redis.Redis,
    tmp_path: Path,
) -> None:
    from playwright.sync_api import sync_playwright

    ana = add_agent(session, "Ana Quispe")
    beto = add_agent(session, "Beto Rojas")
    today = datetime.now(LIMA).date()
    session.add_all(
        [
            register_row(
                today,
                at=dtime(8 + n // 8, (n * 7) % 60),
                atendido_por="Ana Quispe",
                agent_id=ana.id,
            )
            for n in range(40)
        ]
        + [
            register_row(
                today - timedelta(weeks=w), at=dtime(8 + n // 10, (n * 5) % 60), atendido_por="Ana"
            )
            for w in range(1, 5)
            for n in range(60)
        ]
    )
    missed = {
        "dials": [
            {"rol": "titular", "nombre": "Tita Titular"},
            {"rol": "titular", "outcome": "no-answer"},
            {"rol": "alterno", "nombre": "Alberto Alterno"},
            {"rol": "alterno", "outcome": "accepted"},
        ]
    }
    technical: dict[str, Any] = {
        "tipo_consulta": "tecnica",
        "queued_at": None,
        "atendido_por": None,
    }
    session.add_all(
        [register_row(today, organo="DGPP", derivacion="titular", **technical) for _ in range(3)]
        + [
            register_row(today, organo="DGPP", derivacion="alterno", journey=missed, **technical)
            for _ in range(3)
        ]
        + [register_row(today, organo="OGA", derivacion="titular", **technical)]
    )
    session.commit()
    # the need is computed once a day: the publisher's first round came before these rows
    redis_client.delete(NEED_KEY.format(day=today.isoformat()))

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            violations: list[str] = []
            page.on(
                "console",
                lambda m: (
                    violations.append(m.text) if "Content Security Policy" in m.text else None
                ),
            )
            _sign_in(page, live_server)
            page.wait_for_selector("#enlace.ok", timeout=5000)  # the live stream is open
            page.wait_for_selector(f"#agente-{ana.id}")

            # A caller queued through signed webhooks appears within a second.
            caller_state(sid(1), preferencial="adulto_mayor")
            started = time.monotonic()
            queue_caller(twilio, sid(1))
            page.wait_for_selector(f"#llamante-{sid(1)}", timeout=1000)
            assert time.monotonic() - started < 1.0
            assert page.inner_text("#cola-total") == "1"
            assert "preferencial" in page.inner_text(f"#llamante-{sid(1)}")

            # An agent's state change shows (within a second too).
            started = time.monotonic()
            agents.set_state(
                redis_client, beto.id, "available", languages=[], now=line.now_ms(), settings=R
            )
            page.wait_for_selector(f"#agente-{beto.id}[data-estado=available]", timeout=1000)
            assert time.monotonic() - started < 1.0

            # Beto is offered the caller and left ringing; the supervisor frees him.
            match(redis_client, now=line.now_ms(), settings=R)
            page.wait_for_selector(f"#agente-{beto.id}[data-estado=ringing]", timeout=2000)
            assert "Timbrando" in page.inner_text(f"#agente-{beto.id}")
            for n in range(2, 6):
                caller_state(sid(n), tipo_usuario="autoridad" if n % 2 else "ciudadano")
                queue_caller(twilio, sid(n))
            page.wait_for_selector(f"#llamante-{sid(5)}", timeout=2000)
            page.wait_for_selector("#organo-DGPP")
            assert "Tita Titular (titular): 3" in page.inner_text("#organo-DGPP")
            assert "no contestó 3 llamadas hoy" in page.inner_text("#alertas")
            shot = SCREENSHOT if os.environ.get("UPDATE_SCREENSHOTS") else tmp_path / "board.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.read_bytes().startswith(b"\x89PNG")

            page.click(f"#agente-{beto.id} button[data-accion=liberar]")
            page.wait_for_selector(f"#agente-{beto.id}[data-estado=offline]", timeout=2000)
            page.wait_for_selector(f"#llamante-{sid(1)}", timeout=2000)  # back in line
            assert "desconectado (estaba timbrando" in page.inner_text("#aviso")
            assert not violations, violations
        finally:
            browser.close()

    session.expire_all()
    [entry] = session.scalars(select(AuditEntry).where(AuditEntry.entity == "supervision"))
    assert (entry.actor, entry.action, entry.entity_id) == ("sofia", "estado_agente", str(beto.id))
    assert entry.before == {"estado": "ringing", "llamada": sid(1)}
    assert entry.after == {"estado": "offline", "llamada_devuelta": sid(1)}
