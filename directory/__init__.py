"""The directory package: Anexo 2 (órganos and Red members), Plataforma agents, the §5.4
language registry, CONECTAMEF centers (Anexo 3), the audit log, and their commands and page.

The look-ups the call flow and routing use live in ``directory.queries``.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register this package's blueprints and CLI commands."""
    from directory.cli import init_app as init_cli
    from directory.views import bp

    app.register_blueprint(bp)
    init_cli(app)
