"""gunicorn's settings beside the Procfile's flags (gunicorn reads this file from the working
directory): each web worker freezes the app's objects out of the cyclic collector once the app
is loaded, so the collections during a request scan only what the request allocated."""

from __future__ import annotations

import gc
from typing import Any


def post_worker_init(worker: Any) -> None:
    gc.collect()
    gc.freeze()
