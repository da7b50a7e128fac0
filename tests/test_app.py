"""The factory, the configuration and /health."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from app import create_app
from config import ConfigError, load_config


def test_health_reports_database_and_redis(client: FlaskClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "ok", "redis": "ok"}


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


def test_unknown_profile_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RED_ENV", "staging")
    with pytest.raises(ConfigError, match="staging"):
        load_config()


def test_malformed_boolean_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVICE_CLOSE_ON_HOLIDAYS", "quizas")
    with pytest.raises(ConfigError, match="SERVICE_CLOSE_ON_HOLIDAYS"):
        load_config("testing")
