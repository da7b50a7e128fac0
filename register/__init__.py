"""The register package: the Anexo 1 register written by rq workers, exports and reports."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from extensions import db, redis_store
from register import cli, jobs  # noqa: F401  (jobs: loaded with the app, before the worker runs them)
from register.events import SPOOL_NAME, Sink


def init_app(app: Flask) -> None:
    """The app's ``Sink`` (where journey events go) and this package's CLI commands."""
    init_app_sink(app)
    cli.init_app(app)


def init_app_sink(app: Flask) -> None:
    """The app's ``Sink``, on the app's current Redis connection."""
    app.extensions["register"] = Sink(
        r=redis_store.client,
        queue=redis_store.queue(app.config["RQ_REGISTER_QUEUE"]),
        new_session=db.new_session,
        spool=Path(app.config["INSTANCE_DIR"]) / SPOOL_NAME,
        replicas=int(app.config.get("REDIS_WAIT_REPLICAS") or 0),
    )


def sink_of(app: Flask) -> Sink:
    return app.extensions["register"]
