"""Issue 15.5: the web processes are stateless and run as several nodes behind a reverse proxy.
Two gunicorn nodes on loopback behind Debian's nginx with TLS (a self-signed certificate) and
the X-Forwarded-* headers; signed calls walk the whole flow, nginx alternating the nodes at
every request, and each call is registered complete."""

from __future__ import annotations

import contextlib
import http.client
import shutil
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator

from faults.callers import Call, fields, next_request
from faults.servers import free_port, wait_for_port
from register.models import RegisterCall
from tests.deploy.conftest import TOKEN
from tests.smtp_server import self_signed

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
pytestmark = pytest.mark.skipif(
    not Path(NGINX).exists(),
    reason="nginx is missing: install Debian's nginx package (make test does, as root)",
)

CONFIG = """
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
daemon off;
events {{ worker_connections 64; }}
http {{
    access_log {dir}/access.log;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    upstream red_web {{
        server 127.0.0.1:{first};
        server 127.0.0.1:{second};
    }}
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        location / {{
            proxy_pass http://red_web;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host $host;
            proxy_set_header X-Forwarded-Port $server_port;
            proxy_read_timeout 15s;
            add_header X-Red-Node $upstream_addr always;
        }}
    }}
}}
"""


@contextlib.contextmanager
def nginx(directory: Path, port: int, ports: list[int]) -> Iterator[Path]:
    """nginx on ``port`` in front of the nodes; yields its certificate."""
    directory.mkdir()
    cert, key = self_signed(directory)
    conf = directory / "nginx.conf"
    conf.write_text(
        CONFIG.format(
            dir=directory, first=ports[0], second=ports[1], port=port, cert=cert, key=key
        ),
        encoding="utf-8",
    )
    process = subprocess.Popen(
        [NGINX, "-p", str(directory), "-e", str(directory / "error.log"), "-c", str(conf)],
        stderr=subprocess.PIPE,
    )
    try:
        wait_for_port(port, 10)
        yield cert
    finally:
        process.terminate()
        process.wait(timeout=10)


class Twilio:
    """Posts to the public https URL through nginx, signed over that URL, from 127.0.0.2 (so
    that the client's address differs from nginx's own)."""

    def __init__(self, port: int, cert: Path) -> None:
        self.base = f"https://127.0.0.1:{port}"
        context = ssl.create_default_context(cafile=str(cert))
        self.connection = http.client.HTTPSConnection(
            "127.0.0.1", port, context=context, source_address=("127.0.0.2", 0), timeout=15
        )
        self.validator = RequestValidator(TOKEN)
        self.nodes: list[str] = []

    def post(self, path: str, params: dict[str, str], signed_url: str | None = None) -> Any:
        signature = self.validator.compute_signature(signed_url or self.base + path, params)
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
        }
        self.connection.request("POST", path, body=urlencode(params), headers=headers)
        response = self.connection.getresponse()
        body = response.read()
        self.nodes.append(response.getheader("X-Red-Node", ""))
        return response.status, body


def walk(twilio: Twilio, call: Call, plataforma: bool) -> list[int]:
    """The whole call as Twilio walks it (the same rules as the fault suite's callers)."""
    statuses = []
    request: tuple[str, dict[str, str]] | None = ("/voice/incoming", {})
    dialed = 0
    while request is not None:
        path, extra = request
        status, body = twilio.post(path, fields(call, **extra))
        statuses.append(status)
        dialed += path.startswith("/voice/technical/dial-result")
        request = next_request(body, dialed, plataforma)
    completed = fields(call, CallStatus="completed", CallDuration=str(call.duration))
    statuses.append(twilio.post("/voice/status", completed)[0])
    return statuses


def test_two_nodes_behind_nginx_with_tls_walk_whole_calls(
    app: Flask,
    nodes: Callable[..., Any],
    session: Session,
    work: Callable[..., None],
    tmp_path: Path,
) -> None:
    started = time.monotonic()
    port = free_port()
    calls = [Call(f"CA{i:032d}", f"+5198765432{i}", 40 + i) for i in range(4)]
    # The public URL is nginx's https one: Twilio signs it, the nodes check it.
    with (
        nodes(f"https://127.0.0.1:{port}", 2, TRUSTED_PROXY_COUNT="1") as ports,
        nginx(tmp_path / "nginx", port, ports) as cert,
    ):
        twilio = Twilio(port, cert)
        for i, call in enumerate(calls):
            assert set(walk(twilio, call, plataforma=i % 2 == 1)) == {200}
        # A signature over the node's own http URL (what a node sees without the proxy) is
        # refused: the check is over the public https URL.
        own = f"http://127.0.0.1:{ports[0]}/voice/incoming"
        assert twilio.post("/voice/incoming", fields(calls[0]), signed_url=own)[0] == 403
    served = [node.rsplit(":", 1)[-1] for node in twilio.nodes]
    assert set(served) == {str(p) for p in ports}
    assert all(a != b for a, b in zip(served, served[1:], strict=False))  # alternating
    # ProxyFix: the nodes saw the caller's address (127.0.0.2), not nginx's.
    logged = (tmp_path / "node0-access.log").read_text() + (
        tmp_path / "node1-access.log"
    ).read_text()
    assert logged.count("127.0.0.2 ") == len(served)
    work()
    rows = {r.call_sid: r for r in session.scalars(select(RegisterCall))}
    assert {(rows[c.sid].telefono, rows[c.sid].final_status) for c in calls} == {
        (c.phone, "completed") for c in calls
    } and len(rows) == 4
    assert time.monotonic() - started < 60
