"""The agent's day in Debian's headless Chromium (Playwright), everything real but the Twilio
Voice SDK's Device, which the page creates through its one seam (window.RedSoftphone,
replaced before the page's scripts run) and Twilio itself, whose callbacks the test plays as
signed webhooks (every REST request checked against the OpenAPI description by the fake).

The live process runs too (live.thread, on a free port): the page's events come through it.
Sign in, go available, a caller who keyed an expediente is queued and offered, the screen pop
shows it, accept, warm transfer to DGPP's titular who does not answer, one click to the
alterno who accepts, complete, wrap-up with a detalle; the register row names the agent, the
alterno and the detalle, with derivacion ``alterno``. Then a preferential caller is offered
after the wrap-up (the pop shows the reason), the token is refreshed before it expires, and a
Device that loses its registration takes the agent offline."""

from __future__ import annotations

import os
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import redis
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session
from twilio.twiml.voice_response import VoiceResponse
from werkzeug.test import TestResponse

from clock import lima_now
from directory.models import Agent
from extensions import redis_store
from live.server import LiveSettings
from live.thread import LiveThread
from register import callbacks
from register.models import RegisterCall
from routing import agents, legs
from routing import queue as line
from routing.context import from_app
from routing.jobs import sweep
from tests.admin.conftest import BROWSER, CHROMIUM, CHROMIUM_ARGS, PASSWORD, live_server
from tests.conftest import TwilioSigner, call_params
from tests.console.conftest import add_user, local
from tests.ivr.helpers import OPEN
from tests.routing.conftest import add_agent, caller_state, send_to_plataforma, sid
from tests.twilio_fake import FakeTwilio

pytestmark = BROWSER
__all__ = ["live_server"]  # the fixture, shared with the staff pages' browser tests

CALLER = sid(1)
CALLBACK_NUMBER = "+51912345678"
SECRET_OF_THE_KEY = "a-secret-of-at-least-thirty-two-bytes"
SECOND = sid(2)
CONFERENCE = "CF" + "c" * 32
DOCS = Path(__file__).resolve().parents[2] / "docs"

# The Device double: what the page uses of a Twilio.Device and its Calls (console.js's seam).
FAKE_DEVICE = """
(() => {
  class Emitter {
    constructor() { this.handlers = {}; }
    on(name, fn) { (this.handlers[name] = this.handlers[name] || []).push(fn); return this; }
    emit(name, ...args) { (this.handlers[name] || []).forEach((fn) => fn(...args)); }
  }
  const fake = { device: null, calls: [], tokens: [], log: [] };
  function makeCall(params) {
    const call = new Emitter();
    call.parameters = Object.assign({ CallSid: "CA" + "f".repeat(32) }, params || {});
    call.accept = () => { call.accepted = true; fake.log.push("accept"); call.emit("accept", call); };
    call.reject = () => { call.rejected = true; fake.log.push("reject"); call.emit("reject"); };
    call.disconnect = () => {
      if (call.ended) return;
      call.ended = true; fake.log.push("disconnect"); call.emit("disconnect", call);
    };
    call.mute = (on) => { call.muted = on; fake.log.push("mute:" + on); };
    call.isMuted = () => !!call.muted;
    call.sendDigits = (d) => { fake.log.push("digits:" + d); };
    fake.calls.push(call);
    return call;
  }
  fake.incoming = () => { fake.device.emit("incoming", makeCall({})); return true; };
  window.RedFake = fake;
  window.RedSoftphone = {
    createDevice(token, options) {
      const device = new Emitter();
      fake.tokens.push(token);
      device.options = options;
      device.register = () => { setTimeout(() => device.emit("registered"), 20); return Promise.resolve(); };
      device.updateToken = (t) => { fake.tokens.push(t); fake.log.push("updateToken"); };
      device.connect = (opts) => Promise.resolve(makeCall(opts && opts.params));
      fake.device = device;
      return device;
    },
  };
})();
"""


def xml(response: TestResponse) -> ET.Element:
    assert response.status_code == 200, response.data
    return ET.fromstring(response.data)


@pytest.fixture
def live_process(app: Flask, live_server: str) -> Iterator[LiveThread]:
    settings = LiveSettings(
        redis_url=app.config["REDIS_URL"],
        secret=app.config["SECRET_KEY"],
        origins=(live_server,),
        presence_refresh_seconds=1,
    )
    with LiveThread(settings) as thread:
        app.config["LIVE_URL"] = thread.url
        yield thread


def walk_to_the_plataforma(
    twilio: TwilioSigner, call_sid: str, keys: list[tuple[str, str]]
) -> None:
    root = xml(twilio.post("/voice/incoming", call_params(call_sid)))
    for path, digits in keys:
        root = xml(twilio.post(path, call_params(call_sid, Digits=digits)))
    assert root.find("Enqueue") is not None, ET.tostring(root)


def sign_in(page: Any, base: str) -> None:
    """Rosa signs in: her start page is the console, its live stream connects."""
    from playwright.sync_api import expect

    page.goto(f"{base}/")
    page.fill("#username", "rosa")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/agente")
    expect(page.locator("#vivo-estado")).to_have_text("conectado")


def wait_until(check: Any, timeout: float = 15.0) -> Any:
    """``check()``'s first truthy answer. Generous: on a loaded machine a POST that places a
    leg (its job runs inline here, its REST request checked against the OpenAPI description)
    has taken over 5 s to answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_an_agents_day_on_the_console(
    app: Flask,
    live_server: str,
    live_process: LiveThread,
    session: Session,
    twilio: TwilioSigner,
    fake_twilio: FakeTwilio,
    redis_client: redis.Redis,
    directory: None,
) -> None:
    from playwright.sync_api import expect, sync_playwright

    app.config.update(
        IVR_NOW=OPEN,
        TWILIO_API_KEY_SID="SK" + "a" * 32,
        TWILIO_API_KEY_SECRET=SECRET_OF_THE_KEY,
        TWILIO_TWIML_APP_SID="AP" + "b" * 32,
        ROUTING_WRAP_UP_SECONDS=2,
    )
    rosa = add_agent(session, "Rosa Huamán Quispe", canal="client", destino="agente_rosa")
    add_user(session, "rosa", rosa)
    callbacks.request_callback(
        session,
        call_sid=sid(7),
        source="cola",
        telefono=CALLBACK_NUMBER,
        due=lima_now().date(),
        detalle="Pidió que lo llamen por su trámite de viáticos",
    )
    session.commit()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1100})
            problems: list[str] = []
            page.on(
                "console",
                lambda m: problems.append(m.text) if m.type == "error" else None,
            )
            page.add_init_script(FAKE_DEVICE)

            # Sign in: the console is the agent's start page, today's callbacks listed.
            sign_in(page, live_server)
            expect(page.locator("#softphone-estado")).to_have_text("listo")
            expect(page.locator("#estado-actual")).to_have_text("Desconectado")
            expect(page.locator("#devoluciones tbody tr")).to_have_count(1)
            expect(page.locator("#devoluciones tbody tr")).to_contain_text("viáticos")

            # Available, through the page.
            page.click("#btn-disponible")
            expect(page.locator("#estado-actual")).to_have_text("Disponible")
            assert agents.presence(redis_client, rosa.id).state == "available"

            # A caller keys their expediente and is queued: offered to Rosa, who sees them.
            walk_to_the_plataforma(
                twilio,
                CALLER,
                [
                    ("/voice/language?try=1", "1"),
                    ("/voice/menu?try=1", "1"),
                    ("/voice/expediente?try=1", "2024123"),
                    ("/voice/expediente/confirm?try=1", "1"),
                ],
            )
            expect(page.locator("#oferta")).to_be_visible()
            expect(page.locator("#estado-actual")).to_have_text("Timbrando")
            expect(page.locator("#pop-telefono")).to_have_text("+51 9** *** 321")

            # Twilio takes the caller to the conference and rings Rosa's softphone; the pop
            # shows what the caller keyed.
            [update] = fake_twilio.of("member_update")
            root = xml(twilio.post(local(update.one("Url")), call_params(CALLER)))
            events = local(root.find("Dial/Conference").attrib["statusCallback"])  # type: ignore[union-attr]
            joined = call_params(
                CALLER, ConferenceSid=CONFERENCE, StatusCallbackEvent="participant-join"
            )
            assert twilio.post(events, joined).status_code == 204
            # (her softphone joins as a participant: the Conference Participants API)
            assert fake_twilio.of("call_create") == []
            [leg] = fake_twilio.of("participant_create")
            assert leg.path.endswith(f"/Conferences/plataforma-{CALLER}/Participants.json")
            assert leg.one("To") == "client:agente_rosa"
            agent_leg = legs.conference(redis_store.client, CALLER).agent_leg
            assert agent_leg is not None
            status = local(leg.one("StatusCallback"))
            twilio.post(status, call_params(agent_leg, CallStatus="ringing"))
            expect(page.locator("#pop-expediente")).to_have_text("2024123")
            expect(page.locator("#pop-consulta")).to_have_text("estado de un trámite")
            expect(page.locator("#pop-ruta li")).to_contain_text(["Expediente 2024123"])
            page.evaluate("window.RedFake.incoming()")
            expect(page.locator("#btn-contestar")).to_be_enabled()
            page.screenshot(path=str(_shot("agente-llamada-entrante.png")), full_page=True)
            page.click("#btn-contestar")
            assert page.evaluate("window.RedFake.log").count("accept") == 1
            # the softphone's acceptance: the participant is answered, Twilio says so
            answered = call_params(agent_leg, CallStatus="in-progress", ConferenceSid=CONFERENCE)
            assert twilio.post(status, answered).status_code == 204
            expect(page.locator("#llamada")).to_be_visible()
            expect(page.locator("#estado-actual")).to_have_text("En llamada")
            expect(page.locator("#llamada-estado")).to_have_text("conectada")

            # Mute and the keypad act on the softphone's call.
            page.click("#btn-silencio")
            page.click("#btn-teclado")
            page.click(".tecla[data-digito='5']")
            assert {"mute:true", "digits:5"} <= set(page.evaluate("window.RedFake.log"))

            # Warm transfer: DGPP found by name, its titular called.
            page.fill("#organo-buscar", "presupuesto")
            dgpp = page.locator("#organos li[data-sigla=DGPP]")
            expect(dgpp).to_be_visible()
            expect(dgpp.locator("button[data-rol=alterno]")).to_contain_text("Jorge Salas Paredes")
            seen = len(fake_twilio.sent)
            dgpp.locator("button[data-rol=titular]").click()
            expect(page.locator("#tramos li[data-rol=titular]")).to_be_visible()
            titular_call = wait_until(
                lambda: [s for s in fake_twilio.sent[seen:] if s.operation == "call_create"]
            )[0]
            assert titular_call.one("To") == "sip:1201@pbx.mef.gob.pe"
            titular_sid = wait_until(lambda: _leg_sid_of(redis_client, titular_call))
            titular_status = local(titular_call.one("StatusCallback"))
            twilio.post(titular_status, call_params(titular_sid, CallStatus="ringing"))
            twilio.post(titular_status, call_params(titular_sid, CallStatus="no-answer"))
            expect(page.locator("#tramos li[data-rol=titular]")).to_have_text(
                "Titular: no contestó"
            )

            # One click to the alterno, who hears the whisper and presses 1.
            seen = len(fake_twilio.sent)
            page.click("#btn-alterno")
            alterno_call = wait_until(
                lambda: [s for s in fake_twilio.sent[seen:] if s.operation == "call_create"]
            )[0]
            assert alterno_call.one("To") == "sip:1202@pbx.mef.gob.pe"
            red_leg = wait_until(lambda: _leg_sid_of(redis_client, alterno_call))
            gather = xml(twilio.post(local(alterno_call.one("Url")), call_params(red_leg))).find(
                "Gather"
            )
            assert gather is not None
            twilio.post(local(gather.attrib["action"]), call_params(red_leg, Digits="1"))
            twilio.post(
                local(alterno_call.one("StatusCallback")),
                call_params(red_leg, CallStatus="in-progress"),
            )
            expect(page.locator("#tramos li[data-rol=alterno]")).to_have_text("Alterno: aceptó")
            page.screenshot(path=str(_shot("agente-transferencia.png")), full_page=True)

            # Complete: Rosa leaves, the caller and the alterno talk; the wrap-up form opens.
            page.click("#btn-completar")
            expect(page.locator("#cierre")).to_be_visible()
            expect(page.locator("#llamada")).to_be_hidden()
            expect(page.locator("#cierre-resultado")).to_have_value("derivada_red")
            expect(page.locator("#estado-actual")).to_have_text("Cierre de llamada")
            done = call_params(CALLER, DialCallStatus="completed", DialCallDuration="300")
            twilio.post(f"/voice/queue/dial-done?call={CALLER}&agent={rosa.id}", done)
            twilio.post(
                local(alterno_call.one("StatusCallback")),
                call_params(red_leg, CallStatus="completed"),
            )
            twilio.post(
                "/voice/status", call_params(CALLER, CallStatus="completed", CallDuration="420")
            )

            detalle = "Consultó el estado del expediente 2024123; DGPP lo atiende por su alterno."
            page.select_option("#cierre-tipo", "tecnica")
            page.fill("#cierre-detalle", detalle)
            page.screenshot(path=str(_shot("agente-cierre.png")), full_page=True)
            page.click("#btn-guardar-cierre")
            expect(page.locator("#aviso")).to_have_text("Cierre guardado en el registro.")
            expect(page.locator("#cierre")).to_be_hidden()

            row = wait_until(
                lambda: session.scalars(
                    select(RegisterCall)
                    .where(RegisterCall.call_sid == CALLER)
                    .execution_options(populate_existing=True)
                ).first()
            )
            session.refresh(row)
            assert row.atendido_por == "Rosa Huamán Quispe → Jorge Salas Paredes (alterno)"
            assert row.derivacion == "alterno"
            assert row.detalle == detalle
            assert row.tipo_consulta == "tecnica"

            # After the wrap-up, a preferential caller is offered: the pop says why.
            walk_to_the_plataforma(
                twilio,
                SECOND,
                [
                    ("/voice/language?try=1", "1"),
                    ("/voice/menu?try=1", "9"),
                    ("/voice/preferential?try=1", "2"),
                ],
            )
            time.sleep(2.2)  # the wrap-up's 2 s
            sweep(from_app(), now=line.now_ms())
            expect(page.locator("#oferta")).to_be_visible()
            expect(page.locator("#pop-prioridad")).to_have_text("Preferencial: adulto mayor")
            # the same number called before: that call is on the pop, as the register has it
            expect(page.locator("#pop-previas tbody tr")).to_have_count(1)
            expect(page.locator("#pop-previas tbody tr")).to_contain_text(detalle)
            expect(page.locator("#pop-previas tbody tr")).to_contain_text("Jorge Salas Paredes")

            # The token is refreshed before it expires.
            page.evaluate("window.RedFake.device.emit('tokenWillExpire')")
            wait_until(lambda: "updateToken" in page.evaluate("window.RedFake.log"))
            first, renewed = page.evaluate("window.RedFake.tokens")
            claims = jwt.decode(renewed, SECRET_OF_THE_KEY, algorithms=["HS256"])
            assert claims["grants"]["identity"] == "agente_rosa"
            assert (
                claims["exp"] >= jwt.decode(first, SECRET_OF_THE_KEY, algorithms=["HS256"])["exp"]
            )

            # Rejecting the offer: the Device's call rejected and the engine told.
            page.evaluate("window.RedFake.incoming()")
            page.click("#btn-rechazar")
            expect(page.locator("#oferta")).to_be_hidden()
            assert "reject" in page.evaluate("window.RedFake.log")
            assert agents.presence(redis_client, rosa.id).misses == 1

            # A callback, dialed from the page: taken, the softphone calls through the TwiML
            # App (Twilio asks our Voice URL what to dial), the outcome recorded.
            page.click("#btn-desconectar")
            expect(page.locator("#estado-actual")).to_have_text("Desconectado")
            row = page.locator("#devoluciones tbody tr")
            row.locator("button", has_text="Llamar").click()
            expect(row.locator(".llamando")).to_have_text("Llamando…")
            params = page.evaluate(
                "window.RedFake.calls[window.RedFake.calls.length - 1].parameters"
            )
            assert params["To"] == CALLBACK_NUMBER and params["Devolucion"].startswith("c")
            outbound = call_params(
                "CA" + "e" * 32, From="client:agente_rosa", Direction="inbound", **params
            )
            root = xml(twilio.post("/voice/agent/outbound", outbound))
            assert root.findtext("Dial/Number") == CALLBACK_NUMBER
            page.evaluate("window.RedFake.calls[window.RedFake.calls.length - 1].emit('accept')")
            expect(row.locator(".llamando")).to_have_text("En llamada")
            page.screenshot(path=str(_shot("agente-devolucion.png")), full_page=True)
            row.locator("button", has_text="Colgar").click()
            expect(row.locator(".llamando")).to_have_text("Terminada")
            row.locator("button", has_text="Atendida").click()
            expect(page.locator("#aviso")).to_have_text("Devolución registrada: atendida.")
            expect(page.locator("#sin-devoluciones")).to_be_visible()

            # A pause with its reason; then a Device that loses its registration: the agent
            # is offline, and told why.
            page.select_option("#motivo-pausa", "capacitacion")
            page.click("#btn-pausa")
            expect(page.locator("#estado-actual")).to_have_text("En pausa")
            expect(page.locator("#estado-motivo")).to_have_text("(Capacitación)")
            assert agents.presence(redis_client, rosa.id).reason == "capacitacion"
            page.evaluate("window.RedFake.device.emit('unregistered')")
            expect(page.locator("#estado-actual")).to_have_text("Desconectado")
            expect(page.locator("#estado-motivo")).to_contain_text("perdió su registro")
            assert agents.presence(redis_client, rosa.id).state == "offline"
            assert [m for m in problems if "Content Security Policy" in m] == []
        finally:
            browser.close()


def _leg_sid_of(r: redis.Redis, created: Any) -> str | None:
    """The CallSid the fake gave a leg's creation, once the leg knows it."""
    url = created.one("Url")
    leg_id = url.rsplit("leg=", 1)[-1]
    found = legs.leg(r, leg_id)
    return found.sid if found is not None else None


def _shot(name: str) -> Path:
    """Where a screenshot goes: docs/ when UPDATE_SCREENSHOTS=1 (for the README), else a
    temporary folder."""
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        DOCS.mkdir(exist_ok=True)
        return DOCS / name
    return Path(os.environ.get("TMPDIR", "/tmp")) / name


def test_closing_the_console_leaves_the_agent_unoffered(
    app: Flask,
    live_server: str,
    live_process: LiveThread,
    session: Session,
    redis_client: redis.Redis,
    fake_twilio: FakeTwilio,
) -> None:
    """Kill the stream (close the page): within seconds no caller is offered to the agent."""
    from playwright.sync_api import expect, sync_playwright

    rosa: Agent = add_agent(session, "Rosa", canal="client", destino="agente_rosa")
    add_user(session, "rosa", rosa)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context()
            page = context.new_page()
            # no closing beacon: only the stream's end can tell
            page.add_init_script("navigator.sendBeacon = () => true;")
            sign_in(page, live_server)
            page.set_viewport_size({"width": 390, "height": 800})  # usable on a phone
            assert page.evaluate("document.documentElement.scrollWidth") <= 390
            page.click("#btn-disponible")
            expect(page.locator("#estado-actual")).to_have_text("Disponible")
            assert redis_client.exists(f"livehere:agent:{rosa.id}")
            page.close()  # the stream ends
            closed = time.monotonic()
        finally:
            browser.close()
    wait_until(lambda: not redis_client.exists(f"livehere:agent:{rosa.id}"), timeout=10)
    assert time.monotonic() - closed < 3
    assert agents.presence(redis_client, rosa.id).state == "available"  # the sweep is not by
    # A caller comes: matched to Rosa, but connect_caller sees her console is gone.
    with app.test_request_context():
        send_to_plataforma(VoiceResponse(), caller_state(CALLER), "menu")
    assert line.position(redis_client, CALLER) == 1  # still waiting, not offered
    assert fake_twilio.of("member_update") == []
    found = agents.presence(redis_client, rosa.id)
    assert found.state == "offline" and found.reason == "consola_cerrada"
