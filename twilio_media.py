"""Twilio's recording media passed on to a staff page's player: fetched with the account's
credentials (Twilio may require HTTP basic auth for recordings), only from Twilio's hosts or
the ones TWILIO_MEDIA_HOSTS names. Used by /buzon (voice messages) and /agente (the caller's
recorded summary)."""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
from flask import Response, stream_with_context

log = logging.getLogger(__name__)


def media_url(recording_url: str) -> str:
    """The URL of the recording's audio: Twilio's RecordingUrl without an extension answers
    WAV; with ``.mp3`` it answers MP3, which is smaller, so that is what is fetched."""
    path = urlsplit(recording_url).path
    if path.endswith((".mp3", ".wav")):
        return recording_url
    return recording_url + ".mp3"


def may_send_credentials(url: str, extra_hosts: Collection[str] = ()) -> bool:
    """The account's credentials go only to Twilio (or the hosts TWILIO_MEDIA_HOSTS names)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("https", "http"):
        return False
    if parts.scheme == "https" and (host == "twilio.com" or host.endswith(".twilio.com")):
        return True
    return host in extra_hosts


def relay(url: str, config: Mapping[str, Any], what: str) -> Response | int:
    """The audio at ``url`` as a streamed response, or the HTTP status to answer instead
    (404: not Twilio's, or Twilio has none; 502: unreachable). ``what`` names it in the log."""
    if not may_send_credentials(url, config.get("TWILIO_MEDIA_HOSTS", ())):
        log.warning("recording URL of %s is not Twilio's: %s", what, url)
        return 404
    try:
        upstream = requests.get(
            url,
            auth=(config["TWILIO_ACCOUNT_SID"], config["TWILIO_AUTH_TOKEN"] or ""),
            stream=True,
            timeout=config["TWILIO_MEDIA_TIMEOUT_SECONDS"],
        )
    except requests.RequestException as exc:
        log.warning("recording of %s unreachable: %s", what, exc)
        return 502
    if upstream.status_code != 200:
        upstream.close()
        log.warning("recording of %s: Twilio answered %s", what, upstream.status_code)
        return 404

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
