"""The application factory: gunicorn, worker.py, the CLI and the tests all start here."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask

from config import Config, load_config
from extensions import configure_logging, db, redis_store

log = logging.getLogger(__name__)


def create_app(config: Config | dict[str, Any] | None = None) -> Flask:
    """Build the app from a Config object, a dict of overrides, or the environment."""
    app = Flask(__name__, instance_relative_config=False)
    if isinstance(config, Config):
        settings = config.as_dict()
    else:
        settings = load_config().as_dict() | (config or {})
    app.config.update(settings)
    if not app.config["TESTING"]:  # pytest keeps its own log capture
        configure_logging(json_lines=app.config["ENV_NAME"] == "production")

    db.init_app(app)
    redis_store.init_app(app)

    import admin
    import console
    import directory
    import ivr
    import register
    import routing
    import webhooks
    from health import bp as health_bp
    from metrics import bp as metrics_bp
    from migrations_cli import init_app as init_migrations

    app.register_blueprint(health_bp)
    app.register_blueprint(metrics_bp)
    init_migrations(app)
    for package in (directory, ivr, routing, register, webhooks, admin, console):
        package.init_app(app)

    if not app.config["TWILIO_VALIDATE_SIGNATURES"]:
        app.logger.warning(
            "Twilio signature validation is OFF (TWILIO_SKIP_SIGNATURE_VALIDATION, development "
            "only): anyone can drive this service's webhooks."
        )
    return app
