"""Shared fixtures: a real database (SQLite file, or PostgreSQL when DATABASE_URL says so), a
real Redis (an embedded server, or REDIS_URL) flushed per test, the app, its clients, and a
helper that posts requests signed the way Twilio signs them."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from rq import SimpleWorker
from sqlalchemy import insert, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator
from werkzeug.test import TestResponse

import twilio_rest
from app import create_app
from config import TestConfig
from extensions import Base, db, ensure_embedded_redis, make_engine, redis_store
from migrations_cli import upgrade_database
from tests.smtp_server import SmtpServer, self_signed
from tests.twilio_fake import FakeTwilio, twilio_openapi


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("DATABASE_URL")
    if url:
        engine = make_engine(url)
        with engine.begin() as conn:  # start from an empty schema every run
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    upgrade_database(url)
    return url


@pytest.fixture(scope="session")
def reference_rows(database_url: str) -> dict[str, list[dict[str, Any]]]:
    """Rows the migrations themselves insert (reference data), restored before every test."""
    engine = make_engine(database_url)
    with engine.connect() as conn:
        rows = {
            table.name: [dict(r._mapping) for r in conn.execute(select(table))]
            for table in Base.metadata.sorted_tables
        }
    engine.dispose()
    return {name: data for name, data in rows.items() if data}


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    instance = tmp_path_factory.mktemp("redis-instance")
    url = ensure_embedded_redis(str(instance))
    yield url
    with contextlib.suppress(redis.ConnectionError, redis.ResponseError):
        redis.Redis.from_url(url).shutdown(nosave=True)


def reset_database(engine: Engine, reference: dict[str, list[dict[str, Any]]]) -> None:
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
        for table in Base.metadata.sorted_tables:
            if table.name in reference:
                conn.execute(insert(table), reference[table.name])


@pytest.fixture
def config(database_url: str, redis_url: str, tmp_path: Path) -> TestConfig:
    cfg = TestConfig()
    cfg.DATABASE_URL = database_url
    cfg.REDIS_URL = redis_url
    cfg.INSTANCE_DIR = str(tmp_path / "instance")
    return cfg


@pytest.fixture
def app(config: TestConfig, reference_rows: dict[str, list[dict[str, Any]]]) -> Iterator[Flask]:
    app = create_app(config)

    @app.before_request
    def _user_per_request() -> None:
        # The test client reuses the fixture's app context, so ``g`` outlives a request;
        # in production every request loads its user from the cookie (and the server's
        # session token) again: make the tests do the same.
        from flask import g

        g.pop("_login_user", None)

    assert db.engine is not None
    reset_database(db.engine, reference_rows)
    redis.Redis.from_url(app.config["REDIS_URL"]).flushdb()
    with app.app_context():
        yield app
    db.session.remove()
    db.engine.dispose()


@pytest.fixture(autouse=True)
def fake_twilio(app: Flask) -> Iterator[FakeTwilio]:
    fake = FakeTwilio(
        account_sid=app.config["TWILIO_ACCOUNT_SID"], auth_token=app.config["TWILIO_AUTH_TOKEN"]
    )
    twilio_openapi()  # parsed once per session here, not inside a webhook's time budget
    twilio_rest.use_http_client(fake)
    yield fake
    twilio_rest.use_http_client(None)


@pytest.fixture
def work(app: Flask) -> Callable[..., None]:
    """Run the worker's queues in-process until empty (rq SimpleWorker, burst)."""

    def run(max_jobs: int | None = None) -> None:
        worker = SimpleWorker(
            [redis_store.queue(name) for name in ("mail", "register", "default")],
            connection=redis_store.client,
        )
        worker.work(burst=True, max_jobs=max_jobs)

    return run


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@pytest.fixture
def session(app: Flask) -> Session:
    """The app's scoped session (the same one views and jobs use)."""
    return db.session()


@pytest.fixture
def redis_client(app: Flask) -> redis.Redis:
    from extensions import redis_store

    return redis_store.client


class TwilioSigner:
    """Posts requests to the app the way Twilio does: form-encoded, with X-Twilio-Signature
    computed over PUBLIC_BASE_URL + path + query."""

    def __init__(self, app: Flask, client: FlaskClient) -> None:
        self.app = app
        self.client = client
        self.validator = RequestValidator(app.config["TWILIO_AUTH_TOKEN"])

    def signature(self, path: str, params: dict[str, str]) -> str:
        url = self.app.config["PUBLIC_BASE_URL"] + path
        return str(self.validator.compute_signature(url, params))

    def post(self, path: str, params: dict[str, Any] | None = None, **kw: Any) -> TestResponse:
        data = {k: str(v) for k, v in (params or {}).items()}
        headers = {"X-Twilio-Signature": self.signature(path, data)}
        response = self.client.post(path, data=data, headers=headers, **kw)
        response.close()  # as a WSGI server does once the answer is sent (call_on_close)
        return response

    def post_unsigned(self, path: str, params: dict[str, Any] | None = None) -> TestResponse:
        return self.client.post(path, data={k: str(v) for k, v in (params or {}).items()})

    def post_badly_signed(self, path: str, params: dict[str, Any] | None = None) -> TestResponse:
        data = {k: str(v) for k, v in (params or {}).items()}
        return self.client.post(
            path, data=data, headers={"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"}
        )


class Journey(list[dict[str, Any]]):
    """The journey events recorded during a test, as the register keeps them (one per id), in
    the order they were recorded: a spy on ``register.events.Journal.record``, the one way
    every module records (the real method still runs)."""

    @property
    def events(self) -> list[dict[str, Any]]:
        return list(self)

    def steps(self, call_sid: str | None = None) -> list[str]:
        return [e["step"] for e in self if call_sid in (None, e["call_sid"])]

    def of(self, step: str) -> list[dict[str, Any]]:
        return [e for e in self if e["step"] == step]


@pytest.fixture
def journey(monkeypatch: pytest.MonkeyPatch) -> Journey:
    from register.events import Journal

    spied = Journey()
    real = Journal.record

    def record(self: Journal, *args: Any, **kwargs: Any) -> dict[str, Any]:
        event = real(self, *args, **kwargs)
        if all(e["id"] != event["id"] for e in spied):
            spied.append(event)
        return event

    monkeypatch.setattr(Journal, "record", record)
    return spied


@pytest.fixture
def twilio(app: Flask, client: FlaskClient) -> TwilioSigner:
    return TwilioSigner(app, client)


def call_params(call_sid: str = "CA" + "0" * 32, **extra: Any) -> dict[str, str]:
    """The fields Twilio sends with every voice webhook."""
    params = {
        "CallSid": call_sid,
        "AccountSid": "AC" + "1" * 32,
        "From": "+51987654321",
        "To": "+5113115930",
        "CallStatus": "in-progress",
        "Direction": "inbound",
        "ApiVersion": "2010-04-01",
    }
    params.update({k: str(v) for k, v in extra.items()})
    return params


@pytest.fixture(scope="session")
def smtp_certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed(tmp_path_factory.mktemp("smtp"))


@pytest.fixture
def smtp_server(
    smtp_certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> Iterator[SmtpServer]:
    """A real SMTP server on loopback (STARTTLS and login required); the client trusts its
    certificate through SSL_CERT_FILE."""
    cert, key = smtp_certificate
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    server = SmtpServer(cert, key)
    server.controller.start()
    yield server
    server.controller.stop()
