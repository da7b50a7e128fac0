"""The board's alerts, read off a snapshot (a pure function), and their e-mail once a day.

- callers waiting more than BOARD_WAIT_ALERT_MINUTES (one alert for them all; the board shows
  each of them in red);
- the service level of the last half hour below the target;
- a Red member who missed BOARD_RED_MISSED_ALERT calls today (or more);
- no agent available while callers wait.

Each alert has a key that names it for the day (``espera``, ``nivel_servicio``,
``red:<órgano>:<rol>``, ``sin_agentes``): the publisher e-mails an alert the first time its key
shows up in a day (a Redis SET NX per key and day), so it goes out once however often the
board is recomputed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import redis
from rq import Queue, Retry

from board.settings import BoardSettings

SENT_KEY = "board:alert:{day}:{key}"
SENT_TTL_SECONDS = 2 * 24 * 3600


@dataclass(frozen=True)
class Alert:
    key: str
    kind: str  # espera, nivel_servicio, red, sin_agentes
    message: str  # Spanish, as the board and the e-mail say it


def _minutes(seconds: int) -> str:
    minutes = seconds // 60
    return "1 minuto" if minutes == 1 else f"{minutes} minutos"


def evaluate(snapshot: dict[str, Any], settings: BoardSettings) -> list[Alert]:
    """The alerts a snapshot raises, most urgent kinds first."""
    out: list[Alert] = []
    line = snapshot["cola"]
    if line["total"] and not snapshot["disponibles"]:
        waiting = line["total"]
        out.append(
            Alert(
                "sin_agentes",
                "sin_agentes",
                f"No hay agentes disponibles y {waiting} "
                + ("persona espera." if waiting == 1 else "personas esperan."),
            )
        )
    over = line["sobre_limite"]
    if over:
        who = "1 llamada espera" if over == 1 else f"{over} llamadas esperan"
        out.append(
            Alert(
                "espera",
                "espera",
                f"{who} más de {_minutes(settings.wait_alert_seconds)} "
                f"(la más larga, {_minutes(line['espera_max_seg'])}).",
            )
        )
    level = snapshot["hoy"]["nivel_servicio_30min"]
    if level is not None and level < settings.service_level_target:
        out.append(
            Alert(
                "nivel_servicio",
                "nivel_servicio",
                f"Nivel de servicio de la última media hora: {round(level * 100)} % "
                f"(objetivo {round(settings.service_level_target * 100)} % en "
                f"{settings.service_level_seconds} s).",
            )
        )
    for organ in snapshot["organos"]:
        for member in organ["perdidas"]:
            if member["llamadas"] >= settings.red_missed_alert:
                out.append(
                    Alert(
                        f"red:{organ['sigla']}:{member['rol']}",
                        "red",
                        f"{member['nombre']} ({member['rol']}, {organ['sigla']}) no contestó "
                        f"{member['llamadas']} llamadas hoy.",
                    )
                )
    return out


def as_data(alerts: list[Alert]) -> list[dict[str, str]]:
    return [asdict(a) for a in alerts]


def mail_new(
    r: redis.Redis, jobs: Queue, alerts: list[Alert], settings: BoardSettings, *, day: str
) -> list[str]:
    """Queue the e-mail of every alert not yet sent today (none without BOARD_ALERT_EMAIL).
    Returns the keys queued."""
    if not settings.alert_to:
        return []
    queued = []
    for alert in alerts:
        key = SENT_KEY.format(day=day, key=alert.key)
        if not r.set(key, "1", nx=True, ex=SENT_TTL_SECONDS):
            continue
        jobs.enqueue(
            "board.jobs.mail_alert",
            day,
            alert.key,
            alert.message,
            list(settings.alert_to),
            job_timeout=60,
            retry=Retry(max=5, interval=[30, 120, 600, 1800, 3600]),
            meta={"alert": alert.key},
        )
        queued.append(alert.key)
    return queued
