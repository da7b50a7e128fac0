"""What the routing flows need from the running app, gathered in one plain value.

Views, jobs and CLI commands build a ``Context`` with ``from_app()`` and hand it to the domain
functions; the events the routing records go on its ``journal``, handed to the register by the
webhook step that owns it, or by ``hand_over`` in jobs, commands and the API. Every sentence
the routing speaks goes through its ``speak`` (the prompt catalogue, ivr.prompts).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis
from flask import current_app
from rq import Queue
from sqlalchemy.orm import Session
from twilio.twiml import TwiML
from werkzeug.routing import Map

from extensions import db, redis_store
from ivr.prompts import Speak, Voice, speak
from register import sink_of
from register.events import Journal, Sink, send
from routing.settings import RoutingSettings

Links = Callable[..., str]


class Refused(Exception):
    """What the agent asked cannot be done now; ``message`` says why, in Spanish, and
    ``status`` is the API's answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Context:
    r: redis.Redis
    settings: RoutingSettings
    links: Links  # links(endpoint, **values) -> absolute URL Twilio can call
    jobs: Queue  # the routing's jobs
    mail: Queue  # jobs that send e-mail
    sink: Sink
    speak: Speak  # speak(target, prompt_id, language="es", **fields): a catalogue prompt
    journal: Journal = field(default_factory=Journal)
    hold_music_url: str = ""
    anexo_dial: str = "sip:{anexo}@pbx.mef.gob.pe"
    caller_id: str = "+5113115930"
    service_hours: str = "mon-fri 08:30-16:30"
    close_on_holidays: bool = True
    fallback_dial: str | None = None  # PLATAFORMA_FALLBACK_DIAL: a number or a SIP URI

    def hand_over(self) -> None:
        """Hand the events recorded so far to the register (jobs, commands, the API)."""
        send(self.sink, self.journal.take())

    def job(self, name: str, *args: Any, call_sid: str | None = None) -> None:
        """Queue the job ``routing.jobs.<name>(*args)`` (30 s at most); its log lines carry
        ``call_sid``, by default the first argument."""
        meta = {"call_sid": args[0] if call_sid is None else call_sid}
        self.jobs.enqueue(f"routing.jobs.{name}", *args, job_timeout=30, meta=meta)


def external_links(base_url: str, url_map: Map) -> Links:
    """links(endpoint, **values): ``base_url`` + the endpoint's path, the URL Twilio calls and
    signs."""
    adapter = url_map.bind("localhost")

    def links(endpoint: str, **values: Any) -> str:
        return f"{base_url}{adapter.build(endpoint, values)}"

    return links


def speaker(session: Session | None, voice: Voice) -> Speak:
    """ivr.prompts.speak over one session (None: the default texts) in one voice."""

    def say(target: TwiML, prompt_id: str, language: str = "es", **fields: Any) -> None:
        speak(target, session, voice, prompt_id, language, **fields)

    return say


def from_app(journal: Journal | None = None, *, catalogue: bool = True) -> Context:
    """The Context of the running app; with ``catalogue=False`` it speaks the default texts
    without reading the database (a webhook's safe route when something behind it failed)."""
    config = current_app.config
    voice = Voice(config.get("TTS_VOICE") or "Polly.Mia", config.get("TTS_LANGUAGE") or "es-MX")
    return Context(
        r=redis_store.client,
        settings=RoutingSettings.from_config(config),
        links=external_links(config["PUBLIC_BASE_URL"] or "", current_app.url_map),
        jobs=redis_store.queue(config.get("RQ_DEFAULT_QUEUE", "default")),
        mail=redis_store.queue(config.get("RQ_MAIL_QUEUE", "mail")),
        sink=sink_of(current_app),
        speak=speaker(db.session() if catalogue else None, voice),
        journal=journal if journal is not None else Journal(),
        hold_music_url=config.get("HOLD_MUSIC_URL") or "",
        anexo_dial=config.get("ANEXO_DIAL") or "sip:{anexo}@pbx.mef.gob.pe",
        caller_id=config.get("ROUTING_CALLER_ID") or "+5113115930",
        service_hours=config["SERVICE_HOURS"],
        close_on_holidays=bool(config["SERVICE_CLOSE_ON_HOLIDAYS"]),
        fallback_dial=config.get("PLATAFORMA_FALLBACK_DIAL") or None,
    )
