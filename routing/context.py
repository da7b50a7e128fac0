"""What the routing flows need from the running app, gathered in one plain value.

Views, jobs and CLI commands build a ``Context`` with ``from_app()`` and hand it to the domain
functions; the events the routing records go on its ``journal``, handed to the register by the
webhook step that owns it, or by ``hand_over`` in jobs, commands and the API.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis
from flask import current_app
from rq import Queue
from werkzeug.routing import Map

from extensions import redis_store
from register import sink_of
from register.events import Journal, Sink, send
from routing.settings import RoutingSettings

Links = Callable[..., str]


@dataclass(frozen=True)
class Context:
    r: redis.Redis
    settings: RoutingSettings
    links: Links  # links(endpoint, **values) -> absolute URL Twilio can call
    jobs: Queue
    sink: Sink
    journal: Journal = field(default_factory=Journal)
    voice: str = "Polly.Mia"
    tts_language: str = "es-MX"
    hold_music_url: str = ""
    anexo_dial: str = "sip:{anexo}@pbx.mef.gob.pe"
    caller_id: str = "+5113115930"

    def say(self) -> dict[str, Any]:
        return {"voice": self.voice, "language": self.tts_language}

    def hand_over(self) -> None:
        """Hand the events recorded so far to the register (jobs, commands, the API)."""
        send(self.sink, self.journal.take())


def external_links(base_url: str, url_map: Map) -> Links:
    """links(endpoint, **values): ``base_url`` + the endpoint's path, the URL Twilio calls and
    signs."""
    adapter = url_map.bind("localhost")

    def links(endpoint: str, **values: Any) -> str:
        return f"{base_url}{adapter.build(endpoint, values)}"

    return links


def from_app(journal: Journal | None = None) -> Context:
    config = current_app.config
    return Context(
        r=redis_store.client,
        settings=RoutingSettings.from_config(config),
        links=external_links(config["PUBLIC_BASE_URL"] or "", current_app.url_map),
        jobs=redis_store.queue(config.get("RQ_DEFAULT_QUEUE", "default")),
        sink=sink_of(current_app),
        journal=journal if journal is not None else Journal(),
        voice=config.get("TTS_VOICE") or "Polly.Mia",
        tts_language=config.get("TTS_LANGUAGE") or "es-MX",
        hold_music_url=config.get("HOLD_MUSIC_URL") or "",
        anexo_dial=config.get("ANEXO_DIAL") or "sip:{anexo}@pbx.mef.gob.pe",
        caller_id=config.get("ROUTING_CALLER_ID") or "+5113115930",
    )
