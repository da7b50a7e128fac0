"""A small WAV, and a loopback HTTP server that fakes Twilio's recording media URL: it answers
only with the account's credentials (HTTP basic auth), as Twilio may require."""

from __future__ import annotations

import base64
import io
import math
import struct
import threading
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def tone_wav(seconds: float = 1.0, rate: int = 8000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        frames = b"".join(
            struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate)))
            for i in range(int(seconds * rate))
        )
        w.writeframes(frames)
    return out.getvalue()


@contextmanager
def fake_twilio_media(account_sid: str, auth_token: str, body: bytes) -> Iterator[dict]:
    """Serves ``body`` as audio/mpeg at any path under /2010-04-01/...; yields a dict with the
    base URL and the requests seen (path, whether the credentials were right)."""
    expected = "Basic " + base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode()
    seen: list[tuple[str, bool]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            ok = self.headers.get("Authorization") == expected
            seen.append((self.path, ok))
            if not ok:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="Twilio API"')
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "audio/wav")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield {"base": f"http://127.0.0.1:{server.server_port}", "seen": seen}
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
