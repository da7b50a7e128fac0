"""Callers: concurrent simulated calls that do what Twilio does with the answers. Each request
is signed (X-Twilio-Signature over PUBLIC_BASE_URL); each answer's TwiML decides the next
request (a <Gather>'s action with the caller's keys, a <Dial>'s action with its result, an
<Enqueue>'s action once the caller hangs up, a <Redirect>); the call ends with its status
callback. Every request's time and whether the caller got a route are kept."""

from __future__ import annotations

import asyncio
import contextlib
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from bench.common import HOST, call_fields, read_response, signed_request
from ivr.prompts import DEFAULT_PROMPTS

TWILIO_PATIENCE = 15.0  # Twilio gives up on a webhook after this long
ROUTE_VERBS = {"Say", "Play", "Gather", "Dial", "Enqueue", "Redirect", "Hangup", "Record", "Leave"}
# The caller's keys at each menu (by the action's path): Spanish, a technical query, the first
# órgano, a survey mark; the odd calls ask for the Plataforma instead.
KEYS = {
    "/voice/language": "1",
    "/voice/menu": "3",
    "/voice/organos": "1",
    "/voice/survey/answer": "5",
}
MAX_STEPS = 12
SAFE_ROUTE = DEFAULT_PROMPTS["to_plataforma_error"].encode()  # webhooks/voice.py's safe route


@dataclass
class Answer:
    path: str
    seconds: float
    status: int  # 0: no answer within Twilio's patience (or the connection failed)
    routed: bool  # the TwiML gives the caller somewhere to go
    live: bool  # a caller is on the line waiting for this answer (not a status callback)
    safe_route: bool = False  # the route given when something behind the webhook failed


@dataclass
class Call:
    sid: str
    phone: str
    duration: int
    answers: list[Answer] = field(default_factory=list)


@dataclass
class Script:
    """How the callers of one fault behave."""

    prefix: str  # the CallSids' first characters after "CA" (one per fault)
    duplicate: bool = False  # every callback sent twice (Twilio retries)
    reorder: bool = False  # the status callback comes before the call's last request


@dataclass(frozen=True)
class Signer:
    """The service's port and the auth token its webhooks are signed with."""

    port: int
    token: str


async def post(
    signer: Signer, path: str, params: dict[str, str], live: bool
) -> tuple[Answer, bytes]:
    started = time.monotonic()
    status, body = 0, b""
    writer = None
    try:
        async with asyncio.timeout(TWILIO_PATIENCE):
            reader, writer = await asyncio.open_connection(HOST, signer.port)
            writer.write(signed_request(signer.port, signer.token, path, params, close=True))
            await writer.drain()
            status, _headers, body = await read_response(reader)
    except (TimeoutError, OSError, ValueError, IndexError, asyncio.IncompleteReadError):
        status = 0
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
    seconds = time.monotonic() - started
    routed = status == 200 and _routes(body)
    return Answer(path, seconds, status, routed, live, SAFE_ROUTE in body), body


def _routes(body: bytes) -> bool:
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return False
    return root.tag == "Response" and any(child.tag in ROUTE_VERBS for child in root)


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def next_request(body: bytes, dialed: int, plataforma: bool) -> tuple[str, dict[str, str]] | None:
    """What Twilio asks next after this TwiML (None: the call is over)."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return None
    for verb in root:
        if verb.tag == "Gather" and verb.get("action"):
            path = _path(verb.get("action", ""))
            keys = KEYS.get(path.split("?")[0], "")
            if plataforma and path.startswith("/voice/menu"):
                keys = "2"
            return path, {"Digits": keys}
        if verb.tag == "Dial" and verb.get("action"):
            if dialed == 0:
                return _path(verb.get("action", "")), {"DialCallStatus": "no-answer"}
            result = {"DialCallStatus": "completed", "DialCallDuration": "20"}
            return _path(verb.get("action", "")), result
        if verb.tag == "Enqueue" and verb.get("action"):
            return _path(verb.get("action", "")), {"QueueResult": "hangup", "QueueTime": "3"}
        if verb.tag == "Redirect" and verb.text:
            return _path(verb.text), {}
    return None


def fields(call: Call, **extra: str) -> dict[str, str]:
    return call_fields(call.sid, call.phone, **extra)


async def run_call(signer: Signer, call: Call, script: Script, plataforma: bool) -> None:
    """One call from /voice/incoming to its status callback."""
    status = fields(call, CallStatus="completed", CallDuration=str(call.duration))

    async def send(path: str, params: dict[str, str], live: bool) -> bytes:
        answer, body = await post(signer, path, params, live)
        call.answers.append(answer)
        if script.duplicate:  # Twilio sends it again: the same answer, nothing twice
            again, body_again = await post(signer, path, params, live)
            call.answers.append(again)
            body = body_again if again.status == 200 else body
        return body

    request: tuple[str, dict[str, str]] | None = ("/voice/incoming", {})
    dialed = 0
    steps = 0
    status_sent = False
    while request is not None and steps < MAX_STEPS:
        path, extra = request
        body = await send(
            path, fields(call, **extra), live=not path.startswith("/voice/queue/left")
        )
        steps += 1
        if path.startswith("/voice/technical/dial-result"):
            dialed += 1
        request = next_request(body, dialed, plataforma)
        if script.reorder and not status_sent and request is not None and _last(request):
            await send("/voice/status", status, live=False)
            status_sent = True
        await asyncio.sleep(0.15)  # the caller listens, presses a key
    if not status_sent:
        await send("/voice/status", status, live=False)


def _last(request: tuple[str, dict[str, str]]) -> bool:
    """The request after which Twilio sends no more TwiML requests for this call (reordered
    callbacks: the status arrives before it)."""
    path = request[0]
    return path.startswith(("/voice/queue/left", "/voice/survey/answer")) or (
        path.startswith("/voice/technical/dial-result") and "alterno" in path
    )


async def drive(
    signer: Signer, script: Script, callers: int, seconds: float, first: int
) -> list[Call]:
    """``callers`` callers who keep calling for ``seconds``; returns every call started."""
    calls: list[Call] = []
    stop_at = time.monotonic() + seconds

    async def caller(n: int) -> None:
        while time.monotonic() < stop_at:
            i = first + len(calls)
            call = Call(
                sid=f"CA{script.prefix}{i:0{32 - len(script.prefix)}d}",
                phone=f"+5198{i:07d}",
                duration=30 + i % 200,
            )
            calls.append(call)
            await run_call(signer, call, script, plataforma=i % 2 == 1)

    await asyncio.gather(*(caller(n) for n in range(callers)))
    return calls
