"""A Twilio recording's audio passed on to a staff page's player (the /buzon inbox, the
supervisor's board): fetched with the account's credentials (Twilio may require HTTP basic
auth for recordings), which go only to Twilio or the hosts TWILIO_MEDIA_HOSTS names."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
from flask import Response, abort, stream_with_context

log = logging.getLogger(__name__)


class MediaUnavailable(Exception):
    """The audio cannot be passed on; ``status`` is what the page gets (404 or 502)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def media_url(recording_url: str) -> str:
    """The URL of the recording's audio: Twilio's RecordingUrl without an extension answers
    WAV; with ``.mp3`` it answers MP3, which is smaller, so that is what is fetched."""
    path = urlsplit(recording_url).path
    if path.endswith((".mp3", ".wav")):
        return recording_url
    return recording_url + ".mp3"


def may_send_credentials(url: str, media_hosts: tuple[str, ...]) -> bool:
    """The account's credentials go only to Twilio (or the hosts in ``media_hosts``)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("https", "http"):
        return False
    if parts.scheme == "https" and (host == "twilio.com" or host.endswith(".twilio.com")):
        return True
    return host in media_hosts


def stream(recording_url: str, config: Mapping[str, Any]) -> Response:
    """The recording's audio as a streamed response; raises MediaUnavailable."""
    url = media_url(recording_url)
    if not may_send_credentials(url, tuple(config.get("TWILIO_MEDIA_HOSTS", ()))):
        raise MediaUnavailable(404, f"the recording URL is not Twilio's: {url}")
    try:
        upstream = requests.get(
            url,
            auth=(config["TWILIO_ACCOUNT_SID"], config["TWILIO_AUTH_TOKEN"] or ""),
            stream=True,
            timeout=config["TWILIO_MEDIA_TIMEOUT_SECONDS"],
        )
    except requests.RequestException as exc:
        raise MediaUnavailable(502, f"unreachable: {exc}") from exc
    if upstream.status_code != 200:
        upstream.close()
        raise MediaUnavailable(404, f"Twilio answered {upstream.status_code}")

    def body() -> Iterator[bytes]:
        try:
            yield from upstream.iter_content(64 * 1024)
        finally:
            upstream.close()

    headers = {"Cache-Control": "private, no-store"}
    if upstream.headers.get("Content-Length"):
        headers["Content-Length"] = upstream.headers["Content-Length"]
    return Response(
        stream_with_context(body()),
        mimetype=upstream.headers.get("Content-Type", "audio/mpeg").split(";")[0],
        headers=headers,
    )


def proxied(recording_url: str, config: Mapping[str, Any], what: str) -> Response:
    """``stream`` for a view: a recording that cannot be passed on aborts with its status
    (404 or 502), logged with ``what`` names it."""
    try:
        return stream(recording_url, config)
    except MediaUnavailable as exc:
        log.warning("recording of %s: %s", what, exc)
        abort(exc.status)
