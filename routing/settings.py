"""The routing engine's tunables, read once from the app's settings into a plain value."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Class offsets in steps of the aging time: a caller one class lower who has waited
# ROUTING_AGING_SECONDS longer than a higher-class caller is ahead of them.
CLASS_STEPS = {"preferential": 2, "authority": 1, "normal": 0}
MAX_MISSES = 2  # an agent who misses two offers in a row is paused


@dataclass(frozen=True)
class RoutingSettings:
    aging_seconds: int = 300
    wrap_up_seconds: int = 30
    language_wait_seconds: int = 120
    wait_limit_seconds: int = 900
    ring_timeout_seconds: int = 20
    default_handle_seconds: int = 180
    max_misses: int = MAX_MISSES

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> RoutingSettings:
        return cls(
            aging_seconds=int(config.get("ROUTING_AGING_SECONDS", 300)),
            wrap_up_seconds=int(config.get("ROUTING_WRAP_UP_SECONDS", 30)),
            language_wait_seconds=int(config.get("ROUTING_LANGUAGE_WAIT_SECONDS", 120)),
            wait_limit_seconds=int(config.get("ROUTING_WAIT_LIMIT_SECONDS", 900)),
            ring_timeout_seconds=int(config.get("ROUTING_RING_TIMEOUT_SECONDS", 20)),
            default_handle_seconds=int(config.get("ROUTING_DEFAULT_HANDLE_SECONDS", 180)),
        )

    def class_offset_ms(self, priority: str) -> int:
        """How far ahead (in ms of arrival time) a class starts."""
        return CLASS_STEPS.get(priority, 0) * self.aging_seconds * 1000
