"""E-mail: the one way the service sends mail (SMTP, STARTTLS and login when configured).

Used by the Módulo de Visitas' notice (routing/authorities.py), the Red members' notice of
a missed technical call (register/jobs.py) and the reports sent to the órganos
(register/sendings.py). Only rq jobs send mail, never a webhook or a page: each is queued with
``MAIL_RETRY`` (rq retries it with backoff; what still fails is listed by
``flask report mail-failed`` and ``flask register failed``).
"""

from __future__ import annotations

import smtplib
import ssl
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any, NamedTuple

from rq import Retry

DEFAULT_SENDER = "red-atencion@mef.gob.pe"


# The retries of every mail job: 10 s, 1 min, 5 min, 15 min, 1 h.
MAIL_RETRY = Retry(max=5, interval=[10, 60, 300, 900, 3600])
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class Attachment(NamedTuple):
    filename: str
    content: bytes
    mimetype: str = XLSX_TYPE


@dataclass(frozen=True)
class SmtpSettings:
    host: str = "localhost"
    port: int = 25
    user: str | None = None
    password: str | None = None
    sender: str = DEFAULT_SENDER
    starttls: bool = False
    timeout: float = 20.0

    @classmethod
    def from_config(cls, c: Mapping[str, Any]) -> SmtpSettings:
        starttls = c.get("SMTP_STARTTLS")
        if isinstance(starttls, str):
            starttls = starttls.strip().lower() in {"1", "true", "yes", "on", "si", "sí"}
        return cls(
            host=c.get("SMTP_HOST") or "localhost",
            port=int(c.get("SMTP_PORT") or 25),
            user=c.get("SMTP_USER") or None,
            password=c.get("SMTP_PASSWORD") or None,
            sender=c.get("MAIL_FROM") or c.get("SMTP_FROM") or DEFAULT_SENDER,
            starttls=bool(starttls),
        )


def send(
    settings: SmtpSettings,
    to: Sequence[str],
    subject: str,
    body: str,
    *,
    message_id: str | None = None,
    attachments: Sequence[Attachment] = (),
) -> str:
    """Send one plain-text message to ``to``, with ``attachments``; returns its Message-ID. STARTTLS (with the
    system's certificate checks) before the login when ``settings.starttls``; the login when a
    user and password are set. Raises smtplib or OSError errors (the job's retry sends it)."""
    if not to:
        raise ValueError("no recipient")
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = settings.sender
    message["To"] = ", ".join(to)
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = message_id or f"<{uuid.uuid4().hex}@red-atencion.mef.gob.pe>"
    message.set_content(body)
    for attachment in attachments:
        maintype, _, subtype = attachment.mimetype.partition("/")
        message.add_attachment(
            attachment.content, maintype=maintype, subtype=subtype, filename=attachment.filename
        )
    with smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout) as smtp:
        smtp.ehlo()
        if settings.starttls:
            smtp.starttls(context=ssl.create_default_context())
            smtp.ehlo()
        if settings.user and settings.password:
            smtp.login(settings.user, settings.password)
        smtp.send_message(message)
    return str(message["Message-ID"])
