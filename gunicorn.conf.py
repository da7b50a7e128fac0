"""gunicorn's settings beside the Procfile's flags (gunicorn reads this file from the working
directory). In production the web refuses to start on a Redis without an append-only file
(unless REDIS_ALLOW_NO_AOF, see extensions.check_redis_persistence); each web worker freezes
the app's objects out of the cyclic collector once the app is loaded, so the collections
during a request scan only what the request allocated."""

from __future__ import annotations

import gc
import os
from typing import Any


def on_starting(_server: Any) -> None:
    from config import load_config
    from extensions import check_redis_persistence, redis_client

    config = load_config()
    if config.ENV_NAME == "production" and (config.REDIS_URL or config.REDIS_SENTINELS):
        client = redis_client(
            config.REDIS_URL, config.REDIS_SENTINELS, config.REDIS_SENTINEL_MASTER
        )
        check_redis_persistence(client, allow_no_aof=config.REDIS_ALLOW_NO_AOF)


def child_exit(_server: Any, worker: Any) -> None:
    """A web worker's metrics stop counting when it exits (prometheus-client's multiprocess
    mode, with PROMETHEUS_MULTIPROC_DIR set)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def post_worker_init(worker: Any) -> None:
    gc.collect()
    gc.freeze()
