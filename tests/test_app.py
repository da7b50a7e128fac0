"""The factory, the configuration and /health."""

from __future__ import annotations

import time
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from rq import Worker
from sqlalchemy.orm import Session

from app import create_app
from config import ConfigError, load_config
from extensions import redis_store
from register.events import STREAM, write_outbox
from tests.register.journeys import plataforma_answered


def test_health_reports_database_and_redis(client: FlaskClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json == {
        "status": "ok",
        "database": "ok",
        "redis": "ok",
        "worker": "ok (no worker required)",
        "scheduler": "ok (no worker required)",
        "register_lag": "ok",
        "outbox": "ok",
    }


def report(response: Any) -> dict[str, str]:
    body: dict[str, str] = response.json
    return body


def test_health_is_503_without_a_worker_when_one_is_required(
    app: Flask, client: FlaskClient
) -> None:
    app.config["HEALTH_WORKER_REQUIRED"] = True
    response = client.get("/health")
    assert response.status_code == 503 and "heartbeat" in report(response)["worker"]
    worker = Worker([redis_store.queue("register")], connection=redis_store.client)
    worker.register_birth()
    worker.heartbeat()
    try:
        assert report(client.get("/health"))["worker"] == "ok"
    finally:
        worker.register_death()


def test_health_is_503_without_rqs_scheduler_for_the_workers_queues(
    app: Flask, client: FlaskClient
) -> None:
    """A worker started with its scheduler holds each queue's scheduler lock (rq's own)."""
    from rq.scheduler import RQScheduler

    app.config["HEALTH_WORKER_REQUIRED"] = True
    response = client.get("/health")
    assert response.status_code == 503
    assert report(response)["scheduler"] == (
        "error: no rq scheduler runs for the queue(s) register, default, mail"
    )
    scheduler = RQScheduler(["register", "default", "mail"], connection=redis_store.client)
    scheduler.acquire_locks()
    scheduler.register_birth()
    try:
        assert report(client.get("/health"))["scheduler"] == "ok"
    finally:
        scheduler.release_locks()
        scheduler.register_death()
    assert "default" in report(client.get("/health"))["scheduler"]


def test_health_is_503_when_the_register_lags_or_the_outbox_holds_events(
    app: Flask, client: FlaskClient, session: Session
) -> None:
    old_ms = int((time.time() - 600) * 1000)
    redis_store.client.xadd(STREAM, {"events": "[]"}, id=f"{old_ms}-0")
    response = client.get("/health")
    assert response.status_code == 503 and "600 s old" in report(response)["register_lag"]
    redis_store.client.delete(STREAM)
    write_outbox(session, plataforma_answered("CA" + "4" * 32)[:2])
    session.commit()
    response = client.get("/health")
    assert response.status_code == 503 and report(response)["outbox"].startswith("error: 2 events")


@pytest.mark.parametrize("missing", ["SECRET_KEY", "TWILIO_AUTH_TOKEN", "PUBLIC_BASE_URL"])
def test_production_refuses_to_start_without_a_required_setting(
    monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    monkeypatch.setenv("RED_ENV", "production")
    for name in ("SECRET_KEY", "TWILIO_AUTH_TOKEN", "PUBLIC_BASE_URL"):
        monkeypatch.setenv(name, "x" if name != "PUBLIC_BASE_URL" else "https://ivr.mef.gob.pe")
    monkeypatch.delenv(missing)
    with pytest.raises(ConfigError, match=missing):
        create_app()


def test_production_refuses_signature_validation_off(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SECRET_KEY", "TWILIO_AUTH_TOKEN"):
        monkeypatch.setenv(name, "x")
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://ivr.mef.gob.pe")
    monkeypatch.setenv("TWILIO_SKIP_SIGNATURE_VALIDATION", "true")
    with pytest.raises(ConfigError, match="RED_ENV=development"):
        load_config("production")


def test_the_sentinels_setting_is_checked_and_names_the_bad_entry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("SECRET_KEY", "TWILIO_AUTH_TOKEN"):
        monkeypatch.setenv(name, "x")
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://ivr.mef.gob.pe")
    monkeypatch.setenv("REDIS_SENTINELS", "10.0.0.1:26379, 10.0.0.2")
    with pytest.raises(ConfigError, match="'10.0.0.2' is not host:port"):
        load_config("production")
    monkeypatch.setenv("REDIS_SENTINELS", "10.0.0.1:26379,[::1]:26380")
    config = load_config("production")
    assert config.REDIS_WAIT_REPLICAS == 1  # with Sentinel, events wait for a replica
    from config import parse_sentinels

    assert parse_sentinels(config.REDIS_SENTINELS or "") == [("10.0.0.1", 26379), ("::1", 26380)]


def test_unknown_profile_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RED_ENV", "staging")
    with pytest.raises(ConfigError, match="staging"):
        load_config()


def test_malformed_boolean_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVICE_CLOSE_ON_HOLIDAYS", "quizas")
    with pytest.raises(ConfigError, match="SERVICE_CLOSE_ON_HOLIDAYS"):
        load_config("testing")
