"""Recordings kept at Twilio, played in the staff pages: the app fetches the media with the
account's credentials (Twilio may require HTTP basic auth for recordings) and streams it to
the page's player. Used by /buzon (voice messages) and /red (the caller's summary)."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import requests
from flask import Response, abort, current_app, stream_with_context


def may_send_credentials(url: str) -> bool:
    """The account's credentials go only to Twilio (or the hosts TWILIO_MEDIA_HOSTS names)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("https", "http"):
        return False
    if parts.scheme == "https" and (host == "twilio.com" or host.endswith(".twilio.com")):
        return True
    return host in current_app.config.get("TWILIO_MEDIA_HOSTS", ())


def media_url(recording_url: str) -> str:
    """The URL of the recording's audio: Twilio's RecordingUrl without an extension answers
    WAV; with ``.mp3`` it answers MP3, which is smaller, so that is what is fetched."""
    path = urlsplit(recording_url).path
    if path.endswith((".mp3", ".wav")):
        return recording_url
    return recording_url + ".mp3"


def proxied(recording_url: str, what: str) -> Response:
    """The recording's audio streamed from Twilio; 404 when the URL is not Twilio's or
    Twilio has none, 502 when Twilio cannot be reached. ``what`` names it in the log."""
    url = media_url(recording_url)
    if not may_send_credentials(url):
        current_app.logger.warning("recording URL of %s is not Twilio's: %s", what, url)
        abort(404)
    config = current_app.config
    try:
        upstream = requests.get(
            url,
            auth=(config["TWILIO_ACCOUNT_SID"], config["TWILIO_AUTH_TOKEN"] or ""),
            stream=True,
            timeout=config["TWILIO_MEDIA_TIMEOUT_SECONDS"],
        )
    except requests.RequestException as exc:
        current_app.logger.warning("recording of %s unreachable: %s", what, exc)
        abort(502)
    if upstream.status_code != 200:
        upstream.close()
        current_app.logger.warning(
            "recording of %s: Twilio answered %s", what, upstream.status_code
        )
        abort(404)

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
