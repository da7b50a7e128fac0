"""What keeps the staff pages safe: the sign-in rate limit (Flask-Limiter on Redis), CSRF on
every POST a page sends (forms and JSON), security headers on every page, session cookies that
the server can revoke, and redirects only to local paths.

Twilio's ``/voice/*`` webhooks are left alone: they are signed (``webhooks.twilio_auth``), carry
no cookie, and their latency matters.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, Response, current_app, g, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFProtect

import livebus

csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address, key_prefix="red:limiter", strategy="fixed-window")


def content_security_policy(connect: tuple[str, ...] = (), media: tuple[str, ...] = ()) -> str:
    """The staff pages' Content-Security-Policy; ``connect`` and ``media`` add the sources a
    page also needs (the live stream's origin; the softphone's Twilio endpoints)."""
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            # The pages' own <style> blocks and the charts' SVG attributes; never a script.
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data:",
            # recordings set by URL are previewed from their host
            " ".join(("media-src 'self'", *media, "https:")),
            " ".join(("connect-src 'self'", *(c for c in connect if c))),
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


def live_stream_base() -> str:
    """The live channel's stream base URL as this request's page sees it (livebus.py)."""
    config = current_app.config
    return livebus.stream_base(config.get("LIVE_URL"), request.host_url, config["LIVE_PORT"])


UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def is_twilio_path(path: str) -> bool:
    return path.startswith("/voice/")


def safe_next(target: str | None) -> str | None:
    """``target`` when it is a path on this site, else None.

    Browsers drop tabs and newlines inside URLs and read ``\\`` as ``/``, so ``/%09/evil.example``
    would become ``//evil.example`` (another site): any control character or backslash, or
    anything with a scheme or host, is refused."""
    if not target or not target.startswith("/"):
        return None
    if any(ord(c) < 0x20 or ord(c) == 0x7F or c == "\\" for c in target):
        return None
    if target.startswith("//"):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


@limiter.request_filter
def _twilio_request() -> bool:
    """Twilio's signed webhooks are never rate-limited (nor looked at by the limiter)."""
    return is_twilio_path(request.path)


def login_username_key() -> str:
    """The rate limit's key per account: the user name typed (case and spaces aside)."""
    return "usuario:" + (request.form.get("username") or "").strip().lower()[:80]


def login_failed(_response: Response) -> bool:
    """Only failed sign-ins count towards the limit (the view sets ``g.login_failed``)."""
    return bool(g.get("login_failed"))


def _storage_uri(redis_url: str | None, sentinels: str | None, master: str | None) -> str:
    if sentinels:  # the limits package follows the Sentinel master too
        return f"redis+sentinel://{sentinels}/{master}"
    assert redis_url is not None
    if redis_url.startswith("unix://"):
        return "redis+unix://" + redis_url.removeprefix("unix://")
    return redis_url


def _protect_csrf() -> None:
    if request.method not in UNSAFE_METHODS or is_twilio_path(request.path):
        return
    if not current_app.config.get("WTF_CSRF_ENABLED", True):
        return
    # API clients that carry a bearer token have no cookie to abuse (routing/api.py).
    if request.headers.get("Authorization", "").startswith("Bearer "):
        return
    csrf.protect()


def _headers(response: Response) -> Response:
    if is_twilio_path(request.path):
        return response
    headers = response.headers
    # The staff pages' live updates come from the live channel's stream (livebus.py), which
    # may be on another origin (its own port in development).
    headers.setdefault(
        "Content-Security-Policy",
        content_security_policy(connect=(livebus.origin_of(live_stream_base()),)),
    )
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Permissions-Policy", "camera=(), geolocation=()")
    if current_app.config.get("SESSION_COOKIE_SECURE"):
        headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    if request.endpoint and not request.path.startswith(("/audio/", "/admin/static/")):
        # Staff pages hold personal data (Ley 29733): never kept by a shared cache.
        headers.setdefault("Cache-Control", "no-store")
    return response


def init_app(app: Flask) -> None:
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False  # checked by _protect_csrf, /voice/* excepted
    app.config["WTF_CSRF_TIME_LIMIT"] = None  # the token lives as long as the session
    app.config.setdefault(
        "RATELIMIT_STORAGE_URI",
        _storage_uri(
            app.config["REDIS_URL"],
            app.config.get("REDIS_SENTINELS"),
            app.config.get("REDIS_SENTINEL_MASTER"),
        ),
    )
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", False)
    csrf.init_app(app)
    limiter.init_app(app)
    app.before_request(_protect_csrf)
    app.after_request(_headers)
