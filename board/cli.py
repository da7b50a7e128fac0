"""`flask --app app board publish`: the board's publisher (the Procfile's `board:` process)."""

from __future__ import annotations

import signal
import threading
from types import FrameType

import click
from flask import current_app

from board.publisher import publish_once, run
from board.settings import BoardSettings
from cli_support import Group
from extensions import db, redis_store
from routing.queue import now_ms

board_cli = Group("board", help="El tablero de supervisión en vivo.")


@board_cli.command("publish")
@click.option("--once", is_flag=True, help="Publicar una sola vez y salir.")
def publish_command(once: bool) -> None:
    """Recalcular y publicar el tablero cuando la fila cambia (como mínimo cada
    BOARD_REFRESH_MS), hasta recibir SIGTERM o SIGINT."""
    settings = BoardSettings.from_config(current_app.config)
    r = redis_store.client
    jobs = redis_store.queue(current_app.config.get("RQ_MAIL_QUEUE", "mail"))

    def step() -> object:
        try:
            return publish_once(db.session(), r, settings, jobs, now_ms=now_ms())
        finally:
            db.session.remove()

    if once:
        board = step()
        assert isinstance(board, dict)
        click.echo(
            f"Tablero publicado: {board['cola']['total']} en espera, "
            f"{len(board['agentes'])} agentes."
        )
        return
    stop = threading.Event()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    runs = run(step, r, settings, stop=stop)
    click.echo(f"Publicador del tablero detenido tras {runs} publicaciones.")
