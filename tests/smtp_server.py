"""A real SMTP server on loopback (aiosmtpd) for the tests that send mail: STARTTLS with a
self-signed certificate the client is told to trust (SSL_CERT_FILE), and a login that only
accepts the test's user and password. The messages it accepted are read back parsed."""

from __future__ import annotations

import socket
import ssl
import subprocess
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

USER, PASSWORD = "red-atencion", "clave-de-prueba"


@dataclass
class Received:
    envelope_to: list[str]
    message: EmailMessage


@dataclass
class _Handler:
    received: list[Received] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = message_from_bytes(envelope.original_content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.received.append(Received(list(envelope.rcpt_tos), parsed))
        return "250 Message accepted for delivery"


def _authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> Any:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login.decode() == USER
        and auth_data.password.decode() == PASSWORD
    )
    return AuthResult(success=ok, handled=False)  # not handled: the server answers 535


def self_signed(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SmtpServer:
    """Started by the ``smtp_server`` fixture (tests/conftest.py)."""

    def __init__(self, cert: Path, key: Path) -> None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        self.handler = _Handler()
        self.port = _free_port()
        self.controller = Controller(
            self.handler,
            hostname="127.0.0.1",
            port=self.port,
            tls_context=context,
            require_starttls=True,
            authenticator=_authenticate,
            auth_required=True,
        )

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    def config(self) -> dict[str, Any]:
        """The app settings that send to this server."""
        return {
            "SMTP_HOST": "localhost",
            "SMTP_PORT": self.port,
            "SMTP_USER": USER,
            "SMTP_PASSWORD": PASSWORD,
            "SMTP_STARTTLS": True,
            "SMTP_FROM": "red-atencion@mef.gob.pe",
        }
