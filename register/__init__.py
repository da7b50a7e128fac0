"""The register package: the Anexo 1 register written by rq workers, exports and reports."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register this package's CLI commands and where its spool file lives."""
    from register import cli, events, jobs  # noqa: F401  (jobs: loaded before rq forks)

    events.configure(app.config["INSTANCE_DIR"])
    cli.init_app(app)
