"""A tiny per-process cache with a time limit, for what every call reads and admins rarely change
(the órgano menu, the hours, the prompt overrides). Other processes see a change within the TTL."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

DEFAULT_TTL_SECONDS = 15.0

_lock = threading.Lock()
_entries: dict[str, tuple[float, Any]] = {}


def cached(key: str, load: Callable[[], T], ttl: float = DEFAULT_TTL_SECONDS) -> T:
    """The value under ``key``, loaded again once it is older than ``ttl`` seconds."""
    now = time.monotonic()
    entry = _entries.get(key)
    if entry is not None and now - entry[0] < ttl:
        return entry[1]  # type: ignore[no-any-return,unused-ignore]
    value = load()
    with _lock:
        _entries[key] = (now, value)
    return value


def invalidate(prefix: str = "") -> None:
    """Forget every entry whose key starts with ``prefix`` (all of them by default)."""
    with _lock:
        for key in [k for k in _entries if k.startswith(prefix)]:
            del _entries[key]
