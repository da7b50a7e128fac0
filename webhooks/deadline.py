"""A webhook's time budget: past ``seconds``, whatever the view is waiting on (a frozen Redis, a
database that accepts and never answers, several timeouts in a row) is interrupted, so that the
caller gets the safe route while Twilio still listens (it gives up at 15 s; we answer within 5).

It is SIGALRM (``signal.setitimer``): the only way to interrupt a blocking socket read in a
synchronous worker, which is what the Procfile's gunicorn runs (one request at a time, in the
main thread). Elsewhere (a thread of a development server, the browser tests' live server) it
does nothing and the dependencies' own timeouts still bound the request.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType


class DeadlineExceeded(Exception):
    """The webhook's budget is spent: the view gives up, the caller gets the safe route."""


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise DeadlineExceeded("the webhook's time budget is spent")


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Raise ``DeadlineExceeded`` inside the block once ``seconds`` have passed (0: none)."""
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGALRM, _interrupt)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
