"""The supervisor's live board (/supervision): the line, the agents, today's figures and the
alerts (board/data.py, board/alerts.py), recomputed and published on the live channel by
`flask board publish` (board/publisher.py), and the supervisor's actions (board/actions.py)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from board.cli import board_cli
    from board.views import bp

    app.register_blueprint(bp)
    app.cli.add_command(board_cli)
