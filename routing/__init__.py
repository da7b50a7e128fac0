"""The routing package: the Plataforma's priority queue, agents, callbacks and authorities."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register this package's blueprints and CLI commands."""
    import twilio_rest
    from config import ConfigError
    from directory.dialing import check_address
    from routing.api import bp as api_bp
    from routing.cli import callbacks_cli, routing_cli

    if fallback := app.config.get("PLATAFORMA_FALLBACK_DIAL"):
        try:
            check_address("PLATAFORMA_FALLBACK_DIAL", fallback)
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc
    twilio_rest.configure(
        app.config.get("TWILIO_ACCOUNT_SID") or "",
        app.config.get("TWILIO_AUTH_TOKEN") or "",
        app.config.get("ROUTING_CALLER_ID") or "",
        api_base=app.config.get("TWILIO_API_BASE"),
        dry_run=bool(app.config.get("TWILIO_DRY_RUN")),
    )
    app.register_blueprint(api_bp)
    app.cli.add_command(routing_cli)
    app.cli.add_command(callbacks_cli)
