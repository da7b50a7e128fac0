"""Issue 15.2: a webhook's time budget. Whatever one dependency does (refuses, hangs, freezes),
the caller is answered within 5 s; with the database refusing or hanging, callers still get the
language and main menus (the catalogue's texts and the hours of the environment)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from extensions import db
from ivr import cache
from register.models import RegisterCall, RegisterOutbox
from tests.conftest import TwilioSigner, call_params
from tests.ivr.helpers import OPEN, enqueued, gather_action, said, twiml
from tests.webhooks.conftest import app_on

SID = "CA" + "d" * 32
BUDGET = 5.0  # Twilio waits 15 s; the issue asks for 5


def _timed(twilio: TwilioSigner, path: str, **fields: str) -> tuple[Any, float]:
    """The answer and how long until Twilio had it (what runs once it is sent, at the
    response's close, is not counted: Twilio has moved on by then)."""
    data = call_params(SID, **fields)
    headers = {"X-Twilio-Signature": twilio.signature(path, data)}
    started = time.monotonic()
    response = twilio.client.post(path, data=data, headers=headers)
    seconds = time.monotonic() - started
    response.close()
    return twiml(response), seconds


@pytest.mark.parametrize("fault", ["refusing", "hanging"])
def test_with_the_database_down_callers_still_get_the_language_and_main_menus(
    tmp_path: Path, app: Flask, tarpit: int, fault: str
) -> None:
    port = 1 if fault == "refusing" else tarpit
    app.config["IVR_NOW"] = OPEN
    with app_on(tmp_path, app, database_url=f"postgresql://nobody@127.0.0.1:{port}/x") as down:
        twilio = TwilioSigner(down, down.test_client())
        root, seconds = _timed(twilio, "/voice/incoming")
        assert seconds < BUDGET
        assert gather_action(root) == "/voice/language?try=1"
        root, seconds = _timed(twilio, "/voice/language?try=1", Digits="1")
        assert seconds < BUDGET
        assert gather_action(root) == "/voice/menu?try=1"


def test_a_database_that_fails_after_loading_serves_the_copy_it_had(app: Flask) -> None:
    """What the caches hold is served however old it is while the database is down."""
    calls = {"n": 0}

    def load() -> str:
        calls["n"] += 1
        if calls["n"] > 1:
            raise OperationalError("SELECT 1", {}, Exception("the database is down (test)"))
        return "copia"

    assert cache.cached("test:stale", load, ttl=0.0) == "copia"
    assert cache.cached("test:stale", load, ttl=0.0) == "copia"  # the load failed: the copy
    assert calls["n"] == 2
    # For a few seconds after a failure no entry asks the database again.
    assert cache.cached("test:stale", load, ttl=0.0) == "copia"
    assert calls["n"] == 2
    with pytest.raises(Exception, match="down"):
        cache.cached("test:none", load, ttl=0.0)  # nothing loaded and no fallback: an error
    cache.invalidate("test:")


def test_a_frozen_redis_gets_the_caller_the_safe_route_within_the_budget(
    tmp_path: Path, app: Flask, tarpit: int
) -> None:
    app.config["IVR_NOW"] = OPEN
    with app_on(tmp_path, app, redis_url=f"redis://127.0.0.1:{tarpit}/0") as frozen:
        twilio = TwilioSigner(frozen, frozen.test_client())
        root, seconds = _timed(twilio, "/voice/incoming")
        assert seconds < BUDGET
        assert enqueued(root) and "un asesor" in said(root)
        # Redis did not answer a moment ago: the next callers do not wait for it again.
        root, seconds = _timed(twilio, "/voice/language?try=1", Digits="1")
        assert seconds < 0.5
        assert enqueued(root)
        # Handed to the register after the answer: Redis still frozen, so the outbox.
        kept = db.session.scalars(select(RegisterOutbox.payload)).all()
        assert any('"incoming"' in payload for payload in kept)


def test_the_deadline_interrupts_a_view_that_waits_and_the_call_is_still_registered(
    app: Flask,
    twilio: TwilioSigner,
    session: Session,
    monkeypatch: pytest.MonkeyPatch,
    work: Callable[..., None],
) -> None:
    app.config["IVR_NOW"] = OPEN
    app.config["WEBHOOK_DEADLINE_SECONDS"] = 0.5

    def stuck(*_args: Any, **_kwargs: Any) -> Any:
        time.sleep(30)  # a dependency that holds the request (a lock, a slow read…)

    monkeypatch.setattr("ivr.flow.load_hours", stuck)
    root, seconds = _timed(twilio, "/voice/incoming")
    assert seconds < 1.5
    assert enqueued(root)
    work()  # Redis is fine: the events went to the stream once the answer was sent
    row = db.session.scalars(select(RegisterCall)).one()
    assert row.call_sid == SID and row.telefono == "+51987654321"
