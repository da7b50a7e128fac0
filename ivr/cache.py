"""A tiny per-process cache with a time limit, for what every call reads and admins rarely change
(the órgano menu, the hours, the prompt overrides). Other processes see a change within the TTL.

When the database fails (refuses, hangs, times out), a caller must still hear the menus: the
last value loaded is served however old it is, else the caller's ``fallback`` (the defaults,
e.g. the hours of the environment and the catalogue's own texts). After a failure no entry asks
the database again for ``DATABASE_RETRY_SECONDS``: a database that hangs costs one request its
connect timeout, not every cache miss of every request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.exc import SQLAlchemyError

T = TypeVar("T")

log = logging.getLogger(__name__)

DEFAULT_TTL_SECONDS = 15.0
DATABASE_RETRY_SECONDS = 5.0

_lock = threading.Lock()
_entries: dict[str, tuple[float, Any]] = {}
_database_failed_at: float | None = None


def cached(
    key: str,
    load: Callable[[], T],
    ttl: float = DEFAULT_TTL_SECONDS,
    fallback: Callable[[], T] | None = None,
) -> T:
    """The value under ``key``, loaded again once it is older than ``ttl`` seconds. If the
    load fails on the database, the last value (however old), else ``fallback()`` (not
    cached); without either, the error is raised."""
    global _database_failed_at
    now = time.monotonic()
    entry = _entries.get(key)
    if entry is not None and now - entry[0] < ttl:
        return entry[1]  # type: ignore[no-any-return,unused-ignore]
    failed_at = _database_failed_at
    resting = failed_at is not None and now - failed_at < DATABASE_RETRY_SECONDS
    if not resting or (entry is None and fallback is None):
        try:
            value = load()
        except SQLAlchemyError:
            if entry is None and fallback is None:
                raise
            _database_failed_at = time.monotonic()
            log.warning("database unavailable: %r served from %s", key, _source(entry))
        else:
            with _lock:
                _entries[key] = (now, value)
                _database_failed_at = None
            return value
    if entry is not None:
        return entry[1]  # type: ignore[no-any-return,unused-ignore]
    assert fallback is not None
    return fallback()


def _source(entry: tuple[float, Any] | None) -> str:
    if entry is None:
        return "the defaults"
    return f"the copy loaded {time.monotonic() - entry[0]:.0f} s ago"


def invalidate(prefix: str = "") -> None:
    """Forget every entry whose key starts with ``prefix`` (all of them by default), and any
    database failure (the next read asks the database)."""
    global _database_failed_at
    with _lock:
        for key in [k for k in _entries if k.startswith(prefix)]:
            del _entries[key]
        _database_failed_at = None
