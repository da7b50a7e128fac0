"""rq jobs of the board (queue "mail"): an alert's e-mail."""

from __future__ import annotations

from flask import current_app

import mailer
from extensions import redis_store

MAILED_KEY = "board:alert-mailed:{day}:{key}"


def mail_alert(day: str, key: str, message: str, to: list[str]) -> str:
    """E-mail one alert of the board. Idempotent: an alert mailed today is not mailed again
    (rq delivers twice). Returns sent or already."""
    r = redis_store.client
    mailed = MAILED_KEY.format(day=day, key=key)
    if r.exists(mailed):
        return "already"
    mailer.send(
        mailer.SmtpSettings.from_config(current_app.config),
        to,
        f"Alerta de la Red de Atención: {message}",
        f"{message}\n\nTablero de supervisión, {day}.\n",
        message_id=f"<board-{day}-{key.replace(':', '-')}@red-atencion.mef.gob.pe>",
    )
    r.set(mailed, "1", ex=2 * 24 * 3600)
    return "sent"
