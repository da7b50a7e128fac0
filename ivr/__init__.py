"""The call flow: greeting, hours, language, menus, the technical route, CONECTAMEF, the survey;
its prompt catalogue; the `flask hours`, `flask prompts` and `flask simulate` commands."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Check the flow's settings (a clear error at start), forget cached data, add commands."""
    from config import ConfigError
    from ivr import cache, cli
    from ivr.hours import ServiceHoursError, parse_service_hours
    from ivr.technical import AnexoDialError, check_anexo_dial

    try:
        parse_service_hours(app.config["SERVICE_HOURS"])
    except ServiceHoursError as exc:
        raise ConfigError(f"SERVICE_HOURS: {exc}") from exc
    try:
        check_anexo_dial(app.config["ANEXO_DIAL"])
    except AnexoDialError as exc:
        raise ConfigError(str(exc)) from exc
    cache.invalidate()
    cli.init_app(app)
