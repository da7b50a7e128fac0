"""The board's tunables, read once from the app's settings into a plain value."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from routing.settings import RoutingSettings


@dataclass(frozen=True)
class BoardSettings:
    routing: RoutingSettings = RoutingSettings()
    min_interval_ms: int = 500  # the snapshot is recomputed at most this often
    refresh_ms: int = 2000  # ... and at least this often (waits and today's figures move)
    callers_shown: int = 100  # the waiting callers listed one by one (all are counted)
    wait_alert_seconds: int = 300  # a caller waiting longer is flagged, and alerts
    service_level_seconds: int = 20  # answered within this counts for the service level
    service_level_target: float = 0.8  # below it for the last half hour: an alert
    red_missed_alert: int = 3  # a Red member who missed this many calls today: an alert
    alert_to: tuple[str, ...] = ()  # who receives the alerts by e-mail

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> BoardSettings:
        to = config.get("BOARD_ALERT_EMAIL") or ""
        return cls(
            routing=RoutingSettings.from_config(config),
            min_interval_ms=int(config.get("BOARD_MIN_INTERVAL_MS", 500)),
            refresh_ms=int(config.get("BOARD_REFRESH_MS", 2000)),
            callers_shown=int(config.get("BOARD_CALLERS_SHOWN", 100)),
            wait_alert_seconds=60 * int(config.get("BOARD_WAIT_ALERT_MINUTES", 5)),
            service_level_seconds=int(config.get("BOARD_SERVICE_LEVEL_SECONDS", 20)),
            service_level_target=int(config.get("BOARD_SERVICE_LEVEL_TARGET_PCT", 80)) / 100,
            red_missed_alert=int(config.get("BOARD_RED_MISSED_ALERT", 3)),
            alert_to=tuple(a.strip() for a in to.split(",") if a.strip()),
        )
