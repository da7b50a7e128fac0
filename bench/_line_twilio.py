"""The Twilio side of bench.line: what Twilio's voice engine and REST API do, played against the
running service.

Two halves, both here so that a change of how the engine bridges (a conference per call, say)
is followed in one place:

- ``RestEdge``: a loopback HTTP server the service's ``TWILIO_API_BASE`` points at. Every REST
  request is checked by the tests' own fake (tests/twilio_fake.py: Basic auth, the operation
  against Twilio's OpenAPI description, the required form fields) in a separate process (the
  validation is CPU-heavy and must not slow the callers down), and answered with the fake's
  canned, spec-valid body. What the request means for a call (a caller taken out of the queue,
  a call redirected, an agent's leg placed) is handed to ``Voice``, which plays it: the fake
  answers 404 for a call that is no longer in the queue or no longer up, as Twilio would.
- ``Voice``: Twilio running TwiML for each call leg: <Say>, <Play> and <Pause> take their time,
  <Gather> and <Record> ask the leg's ``Party`` (the caller, an agent, a Red member) what they
  key, <Dial> rings a callee (an agent's whisper, a Red member's, a plain number), <Enqueue>
  fetches the wait URL again whenever its TwiML is over, <Conference> holds its participants
  until one who ends it leaves, <Redirect>, <Leave>, <Hangup>; the Enqueue and Dial actions and
  the status callback when the leg ends. Every webhook is signed like Twilio's
  (X-Twilio-Signature over PUBLIC_BASE_URL + path + query). Times are multiplied by the run's
  time factor.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import aiohttp
import requests
from aiohttp import web
from twilio.request_validator import RequestValidator

from bench.common import ACCOUNT, call_fields
from tests.twilio_fake import FakeTwilio, SpecViolation, twilio_openapi

QUEUE_SID = "QU" + "b" * 32
STATUS_PATH = "/voice/status"  # the number's status callback
SPEECH_CHARS_PER_SECOND = 15.0
PROMPT_RECORDING_SECONDS = 4.0  # a <Play> that is not the hold music


# --- The REST edge ---------------------------------------------------------------------------

_fake: Any = None


def _start_fake(account_sid: str, auth_token: str) -> None:
    """In the validating process: the tests' fake, with Twilio's description parsed once."""
    global _fake
    twilio_openapi()
    _fake = FakeTwilio(account_sid=account_sid, auth_token=auth_token)


def _answer(
    method: str, path_qs: str, headers: dict[str, str], body: bytes, fail: str | None
) -> tuple[int, bytes, str, dict[str, str]]:
    """Validate one request with the fake and answer it (``fail``: the operation answers 404,
    the call is not there). Returns (status, body, operation, the answer's own sid or "")."""
    if fail:
        _fake.fail_next(fail, 404)
    prepared = requests.Request(
        method, "https://api.twilio.com" + path_qs, headers=headers, data=body
    ).prepare()
    try:
        response = _fake.answer(prepared)
    except SpecViolation as exc:
        _fake.failures.pop(fail or "", None)
        return 400, json.dumps({"message": str(exc)}).encode(), "violation", {"error": str(exc)}
    sent = _fake.sent[-1]
    _fake.sent.clear()
    content = response.content or b""
    sid = ""
    if content and response.status_code < 400:
        sid = str(json.loads(content).get("sid", ""))
    return response.status_code, content, sent.operation, {"sid": sid}


class RestEdge:
    """The loopback server the service's TWILIO_API_BASE points at."""

    def __init__(self, voice: Voice, account_sid: str, auth_token: str) -> None:
        self.voice = voice
        self.pool = ProcessPoolExecutor(
            max_workers=1, initializer=_start_fake, initargs=(account_sid, auth_token)
        )
        self.requests: dict[str, int] = defaultdict(int)
        self.violations: list[str] = []
        self.runner: web.AppRunner | None = None

    async def start(self, host: str, port: int) -> None:
        # The first task waits for the fake's process to parse Twilio's description.
        await asyncio.get_running_loop().run_in_executor(self.pool, _noop)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, host, port).start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
        self.pool.shutdown(wait=True, cancel_futures=True)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        form = {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
        parts = request.path.removesuffix(".json").split("/")
        fail = self.voice.rest_would_fail(request.method, parts, form)
        headers = {
            k: v
            for k, v in request.headers.items()
            if k.lower() in ("authorization", "content-type")
        }
        status, content, operation, extra = await asyncio.get_running_loop().run_in_executor(
            self.pool, _answer, request.method, request.path_qs, headers, body, fail
        )
        self.requests[operation] += 1
        if operation == "violation":
            self.violations.append(extra["error"])
        elif status < 400:
            self.voice.rest_done(operation, parts, form, extra.get("sid", ""))
        return web.Response(status=status, body=content, content_type="application/json")


def _noop() -> None:
    return None


# --- Webhooks, signed --------------------------------------------------------------------------


@dataclass
class Traffic:
    """What the webhooks cost, by route (path without the query), while ``recording``."""

    recording: bool = False
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    requests: int = 0
    error_samples: list[str] = field(default_factory=list)

    def add(self, route: str, seconds: float, ok: bool, detail: str = "") -> None:
        if not ok:
            self.errors[route] += 1
            if len(self.error_samples) < 5:
                self.error_samples.append(f"{route}: {detail}")
        if self.recording:
            self.requests += 1
            self.latencies[route].append(seconds)


class Webhooks:
    """POSTs to the service, signed over PUBLIC_BASE_URL the way Twilio signs them."""

    def __init__(
        self, session: aiohttp.ClientSession, base: str, token: str, traffic: Traffic
    ) -> None:
        self.session = session
        self.base = base.rstrip("/")
        self.validator = RequestValidator(token)
        self.traffic = traffic

    async def post(self, url: str, params: dict[str, str]) -> ET.Element | None:
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        signature = self.validator.compute_signature(self.base + path, params)
        started = time.perf_counter()
        try:
            async with self.session.post(
                self.base + path, data=params, headers={"X-Twilio-Signature": signature}
            ) as response:
                body = await response.read()
                status = response.status
        except (TimeoutError, aiohttp.ClientError) as exc:
            self.traffic.add(parts.path, time.perf_counter() - started, False, repr(exc))
            return None
        ok = status in (200, 204)
        self.traffic.add(parts.path, time.perf_counter() - started, ok, f"HTTP {status}")
        if not ok:
            return None
        if not body.strip():
            return ET.Element("Response")
        try:
            return ET.fromstring(body)
        except ET.ParseError:
            self.traffic.add(parts.path, 0.0, False, "not TwiML")
            return None


# --- Who is on a leg ---------------------------------------------------------------------------


class Party:
    """Whoever is on a call leg: what they key, how long they talk, when they hang up. By
    default a party skips a <Record>, answers at once, says nothing once bridged and does
    nothing when queued or when the leg ends."""

    def key(self, leg: Leg, gather: ET.Element) -> tuple[str | None, float]:
        """The key(s) pressed at this <Gather> (None: nothing) and the seconds before."""
        raise NotImplementedError

    def record(self, leg: Leg) -> float | None:
        """Seconds spoken into a <Record> (None: skipped with #)."""
        return None

    def answers(self, leg: Leg) -> tuple[str, float]:
        """Being dialed: ``answer``, ``no-answer``, ``busy`` or ``failed``, after ring seconds."""
        return "answer", 0.0

    async def talk(self, voice: Voice, caller: Leg, callee: Leg) -> float:
        """The conversation, once bridged (``callee`` is this party's leg); returns its seconds.
        Runs on the caller's leg: ``voice.pause(caller, ...)``."""
        return 0.0

    def queued(self, voice: Voice, leg: Leg) -> None:
        """The leg entered Twilio's queue (a caller: patience starts)."""

    def ended(self, voice: Voice, leg: Leg) -> None:
        """The leg is over."""


class Interrupted(Exception):
    """A leg's TwiML is cut short: a REST redirect or dequeue, or a hang-up."""


@dataclass
class Leg:
    sid: str
    party: Party
    from_number: str
    to_number: str
    direction: str = "inbound"
    parent: str | None = None
    status_callback: str | None = None
    extra: dict[str, str] = field(default_factory=dict)  # fields every request carries
    started: float = field(default_factory=time.monotonic)
    pending: tuple[str, str] | None = None  # ("redirect", url) or ("hangup", "")
    closing: bool = False
    in_queue: bool = False
    enqueue_action: str = ""
    queued_at: float = 0.0
    dialing: str | None = None  # the Dial action while a <Dial> runs
    bridged: bool = False
    callee: Leg | None = None
    room: Room | None = None
    waiter: asyncio.Future[None] | None = None
    up: bool = True
    hangup_at: float = 0.0  # wall time of the status callback

    def params(self, **extra: str) -> dict[str, str]:
        fields = call_fields(
            self.sid, self.from_number, To=self.to_number, Direction=self.direction, **self.extra
        )
        if self.parent:
            fields["ParentCallSid"] = self.parent
        return fields | extra

    def interrupt(self, kind: str, url: str = "") -> bool:
        if self.closing or not self.up:
            return False
        self.pending = (kind, url)
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)
        return True


@dataclass
class Room:
    """A <Conference>: who is in it; over when a participant who ends it leaves."""

    name: str
    legs: set[str] = field(default_factory=set)
    over: asyncio.Event = field(default_factory=asyncio.Event)


Step = tuple[str, dict[str, str]] | None
CONTINUE: Step = ("", {})  # a verb is over, the document goes on
LEAVE: Step = ("<leave>", {})


class Voice:
    """Twilio running the TwiML of every call leg (see the module's docstring)."""

    def __init__(
        self,
        hooks: Webhooks,
        time_factor: float,
        hold_seconds: float,
        callee_for: Callable[[Leg, str], Party],
        party_for_rest_call: Callable[[str], Party | None],
        on_dequeue: Callable[[str, str], None],
    ) -> None:
        self.hooks = hooks
        self.f = time_factor
        self.hold_seconds = hold_seconds
        self.callee_for = callee_for  # the party a <Dial> noun's address reaches
        self.party_for_rest_call = party_for_rest_call  # who a REST-placed call reaches
        self.on_dequeue = on_dequeue  # (call, url): the engine took a caller out of the queue
        self.legs: dict[str, Leg] = {}
        self.rooms: dict[str, Room] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.rest_legs = itertools.count(1)

    # --- the REST side -----------------------------------------------------------------------

    def rest_would_fail(self, method: str, parts: list[str], form: dict[str, str]) -> str | None:
        """The operation that answers 404 for this request: a Members update for a call that
        is not in the queue, a Calls update for a call that is not up."""
        if method != "POST" or len(parts) < 6:
            return None
        if parts[-2] == "Members":
            leg = self.legs.get(parts[-1])
            return None if leg is not None and leg.in_queue and not leg.pending else "member_update"
        if parts[-2] == "Calls":
            leg = self.legs.get(parts[-1])
            return None if leg is not None and leg.up and not leg.closing else "call_update"
        return None

    def rest_done(self, operation: str, parts: list[str], form: dict[str, str], sid: str) -> None:
        if operation in ("member_update", "call_update"):
            leg = self.legs.get(parts[-1])
            url = form.get("Url", "")
            redirected = leg is not None and bool(url) and leg.interrupt("redirect", url)
            if redirected and leg is not None and operation == "member_update":
                self.on_dequeue(leg.sid, url)
        elif operation == "call_create":
            party = self.party_for_rest_call(form.get("To", ""))
            if party is None or not sid:
                return
            leg = Leg(
                sid=sid,
                party=party,
                from_number=form.get("From", ""),
                to_number=form.get("To", ""),
                direction="outbound-api",
                status_callback=form.get("StatusCallback"),
            )
            self.spawn(self._placed(leg, form.get("Url", "")))

    async def _placed(self, leg: Leg, url: str) -> None:
        outcome, ring = leg.party.answers(leg)
        await asyncio.sleep(ring * self.f)
        if outcome != "answer":
            leg.up = False
            if leg.status_callback:
                await self.hooks.post(leg.status_callback, leg.params(CallStatus=outcome))
            return
        await self.run(leg, url, leg.params())

    def spawn(self, coro: Any) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    # --- time ----------------------------------------------------------------------------------

    async def pause(self, leg: Leg, seconds: float) -> None:
        """``seconds`` of the call's time (times the factor); raises Interrupted when the leg is
        redirected or hangs up meanwhile."""
        if leg.pending:
            raise Interrupted
        if seconds <= 0:
            return
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        leg.waiter = waiter
        handle = loop.call_later(seconds * self.f, _settle, waiter)
        try:
            await waiter
        finally:
            handle.cancel()
            leg.waiter = None
        if leg.pending:
            raise Interrupted

    async def until(self, leg: Leg, event: asyncio.Event) -> None:
        """Until ``event`` (a conference ending) or the leg is interrupted."""
        if leg.pending:
            raise Interrupted
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        leg.waiter = waiter
        watch = loop.create_task(event.wait())
        watch.add_done_callback(lambda _t: _settle(waiter))
        try:
            await waiter
        finally:
            watch.cancel()
            leg.waiter = None
        if leg.pending:
            raise Interrupted

    # --- running a leg -------------------------------------------------------------------------

    async def run(self, leg: Leg, url: str, params: dict[str, str]) -> None:
        """Run the leg from ``url`` until it ends, then its status callback."""
        self.legs[leg.sid] = leg
        step: Step = (url, params)
        try:
            while True:
                try:
                    while step is not None:
                        root = await self.hooks.post(*step)
                        if root is None:  # an error answer: Twilio would play its error
                            step = None
                            break
                        step = await self.execute(leg, root, step[0])
                    break
                except Interrupted:
                    step = await self.interrupted(leg)
                    if step is None:
                        break
        finally:
            leg.closing = True
            leg.up = False
            self.legs.pop(leg.sid, None)
        duration = str(round(time.monotonic() - leg.started))
        leg.hangup_at = time.time()
        if leg.direction == "inbound":
            await self.hooks.post(
                STATUS_PATH, leg.params(CallStatus="completed", CallDuration=duration)
            )
        elif leg.status_callback:
            await self.hooks.post(
                leg.status_callback, leg.params(CallStatus="completed", CallDuration=duration)
            )
        leg.party.ended(self, leg)

    async def interrupted(self, leg: Leg) -> Step:
        assert leg.pending is not None
        kind, url = leg.pending
        leg.pending = None
        if kind == "redirect":
            leg.closing = False
            if leg.in_queue:
                leg.in_queue = False
                leg.closing = True  # Twilio requests the Enqueue action; nothing interrupts it
                await self.hooks.post(leg.enqueue_action, self._left(leg, "redirected"))
                leg.closing = False
            self._drop_callee(leg)
            leg.dialing = None
            self._leave_room(leg)
            return (url, leg.params())
        # the caller hangs up
        leg.closing = True
        if leg.in_queue:
            leg.in_queue = False
            await self.hooks.post(leg.enqueue_action, self._left(leg, "hangup"))
        elif leg.dialing:
            status = "completed" if leg.bridged else "no-answer"
            action, leg.dialing = leg.dialing, None
            await self.hooks.post(
                action,
                leg.params(CallStatus="completed", DialCallStatus=status, DialCallDuration="0"),
            )
        self._drop_callee(leg)
        self._leave_room(leg)
        return None

    def _left(self, leg: Leg, result: str) -> dict[str, str]:
        waited = str(round(time.monotonic() - leg.queued_at))
        return leg.params(QueueResult=result, QueueSid=QUEUE_SID, QueueTime=waited)

    def _drop_callee(self, leg: Leg) -> None:
        if leg.callee is not None:
            leg.callee.up = False
            leg.callee.party.ended(self, leg.callee)
            leg.callee = None
        leg.bridged = False

    def _leave_room(self, leg: Leg) -> None:
        if leg.room is not None:
            leg.room.legs.discard(leg.sid)
            leg.room = None

    async def execute(self, leg: Leg, root: ET.Element, url: str) -> Step:
        """Run one TwiML document; the next request, None when the call is over, LEAVE."""
        debt = 0.0  # speech not yet waited for
        for verb in root:
            tag = verb.tag
            if tag == "Say":
                debt += len(verb.text or "") / SPEECH_CHARS_PER_SECOND
            elif tag == "Play":
                debt += self.hold_seconds if leg.in_queue else PROMPT_RECORDING_SECONDS
            elif tag == "Pause":
                debt += float(verb.get("length", "1"))
            elif tag == "Gather":
                for inner in verb:
                    if inner.tag == "Say":
                        debt += len(inner.text or "") / SPEECH_CHARS_PER_SECOND
                    elif inner.tag == "Play":
                        debt += self.hold_seconds if leg.in_queue else PROMPT_RECORDING_SECONDS
                key, think = leg.party.key(leg, verb)
                if key is None:
                    await self.pause(leg, debt + float(verb.get("timeout", "5")))
                    debt = 0.0
                    if verb.get("actionOnEmptyResult") != "true":
                        continue
                    digits = ""
                else:
                    await self.pause(leg, min(debt, 2.0) + think)  # keys cut the prompt short
                    finish = verb.get("finishOnKey", "#")
                    digits = key[:-1] if finish and key.endswith(finish) else key
                return urljoin(url, verb.get("action") or url), leg.params(Digits=digits)
            elif tag == "Record":
                seconds = leg.party.record(leg)
                if seconds is None:
                    continue
                await self.pause(leg, debt + seconds)
                debt = 0.0
                sid = f"RE{leg.sid[2:]}"
                recording = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Recordings/{sid}"
                fields = {"RecordingUrl": recording, "RecordingDuration": str(round(seconds))}
                if callback := verb.get("recordingStatusCallback"):
                    await self.hooks.post(
                        urljoin(url, callback),
                        leg.params(RecordingSid=sid, RecordingStatus="completed", **fields),
                    )
                return urljoin(url, verb.get("action") or url), leg.params(Digits="#", **fields)
            elif tag == "Redirect":
                await self.pause(leg, debt)
                return urljoin(url, (verb.text or "").strip()), leg.params()
            elif tag == "Enqueue":
                await self.pause(leg, debt)
                return await self.enqueue(leg, verb, url)
            elif tag == "Dial":
                await self.pause(leg, debt)
                debt = 0.0
                step = await self.dial(leg, verb, url)
                if step is not CONTINUE:
                    return step
            elif tag == "Leave":
                await self.pause(leg, debt)
                return LEAVE
            elif tag == "Hangup":
                await self.pause(leg, debt)
                return None
        await self.pause(leg, debt)
        return None

    async def enqueue(self, leg: Leg, verb: ET.Element, url: str) -> Step:
        """In Twilio's queue: the wait URL, again and again, until <Leave> or the engine takes
        the caller out (a REST dequeue: Interrupted)."""
        leg.enqueue_action = urljoin(url, verb.get("action") or url)
        wait_url = urljoin(url, verb.get("waitUrl") or "")
        leg.in_queue = True
        leg.queued_at = time.monotonic()
        leg.party.queued(self, leg)
        step: Step = None
        while True:
            if step is None or step is CONTINUE:
                waited = str(round(time.monotonic() - leg.queued_at))
                step = (wait_url, leg.params(QueueSid=QUEUE_SID, QueueTime=waited))
            root = await self.hooks.post(*step)
            if root is None:  # the wait URL failed: Twilio plays nothing and asks again
                await self.pause(leg, 5)
                step = None
                continue
            step = await self.execute(leg, root, step[0])
            if step is LEAVE:
                break
        leg.in_queue = False
        leg.closing = True  # the Enqueue action is requested whatever happens meanwhile
        try:
            return leg.enqueue_action, self._left(leg, "leave")
        finally:
            leg.closing = False

    async def dial(self, leg: Leg, verb: ET.Element, url: str) -> Step:
        action = urljoin(url, verb.get("action") or "") if verb.get("action") else None
        nouns = list(verb)
        if not nouns and verb.text:  # <Dial>+51...</Dial>
            noun = ET.Element("Number")
            noun.text = verb.text
            nouns = [noun]
        conference = next((n for n in nouns if n.tag == "Conference"), None)
        if conference is not None:
            return await self.conference(leg, conference, action)
        noun = nouns[0]
        address = (noun.text or "").strip()
        callee_party = self.callee_for(leg, address)
        child = Leg(
            sid=f"CA{next(self.rest_legs):08d}{leg.sid[10:]}",
            party=callee_party,
            from_number=leg.from_number,
            to_number=address,
            direction="outbound-dial",
            parent=leg.sid,
        )
        leg.dialing = action
        outcome, ring = callee_party.answers(child)
        timeout = float(verb.get("timeout", "30"))
        talk = 0.0
        if outcome == "answer" and ring < timeout:
            await self.pause(leg, ring)
            leg.callee = child
            whisper = noun.get("url")
            bridged = True if not whisper else await self.whisper(leg, child, urljoin(url, whisper))
            if bridged:
                leg.bridged = True
                talk = await callee_party.talk(self, leg, child)
            status = "completed"
            if leg.callee is child:
                leg.callee = None
                child.up = False
                callee_party.ended(self, child)
            leg.bridged = False
        else:
            await self.pause(leg, min(ring, timeout))
            status = "no-answer" if outcome == "answer" else outcome
        leg.dialing = None
        if action is None:
            return CONTINUE
        return action, leg.params(
            DialCallStatus=status, DialCallSid=child.sid, DialCallDuration=str(round(talk))
        )

    async def whisper(self, leg: Leg, child: Leg, url: str) -> bool:
        """The callee's leg runs the whisper TwiML (on the caller's time); True when bridged."""
        root = await self.hooks.post(url, child.params())
        while root is not None:
            debt = 0.0
            next_url = None
            for verb in root:
                if verb.tag == "Say":
                    debt += len(verb.text or "") / SPEECH_CHARS_PER_SECOND
                elif verb.tag == "Gather":
                    for inner in verb:
                        if inner.tag == "Say":
                            debt += len(inner.text or "") / SPEECH_CHARS_PER_SECOND
                    key, think = child.party.key(child, verb)
                    await self.pause(leg, min(debt, 3.0) + think)
                    debt = 0.0
                    if key is None and verb.get("actionOnEmptyResult") != "true":
                        continue
                    next_url = (urljoin(url, verb.get("action") or url), key or "")
                    break
                elif verb.tag == "Hangup":
                    return False
            if next_url is None:
                await self.pause(leg, debt)
                return True
            root = await self.hooks.post(next_url[0], child.params(Digits=next_url[1]))
        return False

    async def conference(self, leg: Leg, noun: ET.Element, action: str | None) -> Step:
        name = (noun.text or "").strip()
        room = self.rooms.setdefault(name, Room(name))
        room.legs.add(leg.sid)
        leg.room = room
        ends_it = noun.get("endConferenceOnExit") == "true"
        started = time.monotonic()
        talk = leg.party.talk if leg.direction == "outbound-api" else None
        if talk is not None and not room.over.is_set():
            await talk(self, leg, leg)  # this party talks, then leaves
        else:
            await self.until(leg, room.over)
        self._leave_room(leg)
        if ends_it or not room.legs:
            room.over.set()
            self.rooms.pop(name, None)
        if action is None:
            return CONTINUE
        seconds = str(round(time.monotonic() - started))
        return action, leg.params(DialCallStatus="completed", DialCallDuration=seconds)


def _settle(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
