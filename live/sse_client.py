"""A small server-sent-events reader (aiohttp's client) for the tests and bench/console."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp


@dataclass(frozen=True)
class Event:
    event: str
    data: Any
    id: str | None


async def events(resp: aiohttp.ClientResponse) -> AsyncIterator[Event]:
    """The events of an open text/event-stream response (comment lines skipped)."""
    name, data, ident = "message", list[str](), None
    async for raw in resp.content:
        line = raw.decode().rstrip("\r\n")
        if line == "":
            if data:
                yield Event(name, json.loads("\n".join(data)), ident)
            name, data, ident = "message", list[str](), None
        elif line.startswith(":"):
            continue
        else:
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)
            elif field == "id":
                ident = value
