"""THE one module through which every REST call to Twilio goes (the ``twilio`` library's Client).

``configure`` is called by routing.init_app with the account's credentials and where requests
go: api.twilio.com; ``TWILIO_API_BASE``, a Twilio-compatible endpoint (a simulator, or a
compatible provider: ``ApiBaseHttpClient``); or, in development, nowhere (``DryRunHttpClient``
logs what it would have sent and answers as Twilio would). Tests inject a fake ``HttpClient``
at the network edge with ``use_http_client``. Functions take plain values and return plain
values; a ``TwilioRestException`` propagates to the caller (an rq job, which retries).
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from prometheus_client import Counter
from twilio.base.exceptions import TwilioRestException
from twilio.http import HttpClient
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])
REST_ERRORS = Counter(
    "red_twilio_rest_errors", "Twilio REST calls that failed, by operation", ["operation"]
)


@dataclass
class _Config:
    account_sid: str = ""
    auth_token: str = ""
    caller_id: str = ""
    http_client: HttpClient | None = None


_config = _Config()
_client: Client | None = None
_queue_sids: dict[str, str] = {}


TWILIO_API = "https://api.twilio.com"


class ApiBaseHttpClient(TwilioHttpClient):
    """Twilio's own HTTP client, sending to another Twilio-compatible endpoint."""

    def __init__(self, api_base: str) -> None:
        super().__init__()
        self.api_base = api_base.rstrip("/")

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        if url.startswith(TWILIO_API):
            url = self.api_base + url[len(TWILIO_API) :]
        return super().request(method, url, *args, **kwargs)


# What the dry run answers: a resource of the kind the URL names (its SID prefix), or a page.
_PREFIXES = {
    "Calls": "CA",
    "Messages": "SM",
    "Queues": "QU",
    "Recordings": "RE",
    "Members": "CA",
    "Conferences": "CF",
    "Participants": "CA",
}
_dry_sids = itertools.count(1)


class DryRunHttpClient(HttpClient):
    """Development: every request is logged (what would have been sent) and answered as Twilio
    would, without leaving the machine. ``sent`` keeps them (method, url, params, data)."""

    def __init__(self) -> None:
        super().__init__(log, is_async=False)
        self.sent: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = []

    def request(
        self,
        method: str,
        uri: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> Response:
        self.sent.append((method, uri, dict(params or {}), dict(data or {})))
        log.info("Twilio (simulacro, no se envía): %s %s %s", method, uri, data or params or "")
        if method == "DELETE":
            return Response(204, "")
        # /2010-04-01/Accounts/{AccountSid}/{Kind}[/{Sid}[/{Kind}[/{Sid}]]].json
        segments = uri.removeprefix(TWILIO_API).split("?")[0].removesuffix(".json").split("/")
        instance = len(segments) % 2 == 0
        kind, sid = (segments[-2], segments[-1]) if instance else (segments[-1], None)
        if method == "GET" and sid is None:  # a list: an empty page
            return Response(200, json.dumps({kind.lower(): [], "next_page_uri": None}))
        body = {k.lower(): v for k, v in (data or {}).items() if isinstance(v, str)}
        body["friendly_name"] = str((data or {}).get("FriendlyName", ""))
        body["sid"] = sid or f"{_PREFIXES.get(kind, 'XX')}{next(_dry_sids):032x}"
        if kind == "Participants":  # a participant is known by its call's SID
            body["call_sid"] = sid or body["sid"]
        body["status"] = "queued"
        return Response(201 if sid is None else 200, json.dumps(body))


def configure(
    account_sid: str,
    auth_token: str,
    caller_id: str = "",
    *,
    api_base: str | None = None,
    dry_run: bool = False,
) -> None:
    """The account's credentials, the number calls and SMS come from by default, and where
    requests go (``api_base``; ``dry_run``: nowhere)."""
    global _client
    _config.account_sid = account_sid
    _config.auth_token = auth_token
    _config.caller_id = caller_id
    if dry_run:
        _config.http_client = DryRunHttpClient()
    elif api_base:
        _config.http_client = ApiBaseHttpClient(api_base)
    else:
        _config.http_client = None
    _client = None


def use_http_client(http_client: HttpClient | None) -> None:
    """Route every request through ``http_client`` (the tests' fake of Twilio)."""
    global _client
    _config.http_client = http_client
    _client = None
    _queue_sids.clear()


def counted(operation: str) -> Callable[[F], F]:
    """Count the failures of an operation (REST_ERRORS) as they go on to the caller."""

    def decorate(function: F) -> F:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return function(*args, **kwargs)
            except Exception:
                REST_ERRORS.labels(operation=operation).inc()
                raise

        return wrapper  # type: ignore[return-value]

    return decorate


def _unless_gone(request: Callable[[], object], *, gone: bool = False) -> bool:
    """Send a request about a call, participant or recording: True when done, ``gone`` when
    Twilio answers 404 (the resource is not there any more)."""
    try:
        request()
    except TwilioRestException as exc:
        if exc.status == 404:
            return gone
        raise
    return True


def client() -> Client:
    global _client
    if _client is None:
        _client = Client(_config.account_sid, _config.auth_token, http_client=_config.http_client)
    return _client


def queue_sid(queue: str) -> str:
    """A queue's SID from its SID or its friendly name (looked up once, then cached)."""
    if queue.startswith("QU"):
        return queue
    if queue not in _queue_sids:
        for found in client().queues.list(limit=1000):
            if found.friendly_name and found.sid:
                _queue_sids[found.friendly_name] = found.sid
    if queue not in _queue_sids:
        created = client().queues.create(friendly_name=queue)
        assert created.sid is not None
        _queue_sids[queue] = created.sid
    return _queue_sids[queue]


@counted("dequeue_to_url")
def dequeue_to_url(queue: str, call_sid: str, url: str) -> bool:
    """Take ``call_sid`` out of the queue (SID or name) to the TwiML at ``url``.

    Returns False when the call is not in that queue (404): it left, or has not arrived yet.
    """
    return _unless_gone(
        lambda: client().queues(queue_sid(queue)).members(call_sid).update(url=url, method="POST")
    )


@counted("redirect_call")
def redirect_call(call_sid: str, url: str) -> bool:
    """Send a live call to the TwiML at ``url``. False when the call is gone (404)."""
    return _unless_gone(lambda: client().calls(call_sid).update(url=url, method="POST"))


@counted("create_call")
def create_call(
    to: str,
    from_: str,
    url: str,
    *,
    send_digits: str | None = None,
    status_callback: str | None = None,
    timeout: int | None = None,
    events: Sequence[str] = ("completed",),
) -> str:
    """Place an outbound call that runs the TwiML at ``url``. Returns its CallSid.
    ``events``: the call progress events ``status_callback`` hears (initiated, ringing,
    answered, completed)."""
    kwargs: dict[str, object] = {"to": to, "from_": from_, "url": url, "method": "POST"}
    if send_digits:
        kwargs["send_digits"] = send_digits
    if status_callback:
        kwargs["status_callback"] = status_callback
        kwargs["status_callback_method"] = "POST"
        kwargs["status_callback_event"] = list(events)
    if timeout:
        kwargs["timeout"] = timeout
    call = client().calls.create(**kwargs)
    return str(call.sid)


@counted("hangup_call")
def hangup_call(call_sid: str, *, ringing: bool = False) -> bool:
    """End a call: ``canceled`` while it is queued or ringing, else ``completed``. False when
    it is already over (404)."""
    return _unless_gone(
        lambda: client().calls(call_sid).update(status="canceled" if ringing else "completed")
    )


# --- Conferences (the Plataforma's calls are conferences: routing/legs.py) -----------------


@counted("find_conference")
def find_conference(friendly_name: str) -> str | None:
    """The ConferenceSid of the conference in progress with that name, if any."""
    for found in client().conferences.list(
        friendly_name=friendly_name, status="in-progress", limit=1
    ):
        if found.sid:
            return str(found.sid)
    return None


@counted("create_participant")
def create_participant(
    conference: str,
    from_: str,
    to: str,
    *,
    label: str,
    status_callback: str,
    status_callback_event: Sequence[str] = ("initiated", "ringing", "answered", "completed"),
    timeout: int | None = None,
    start_conference_on_enter: bool = True,
    end_conference_on_exit: bool = False,
    early_media: bool = False,
    conference_status_callback: str | None = None,
    conference_status_callback_event: Sequence[str] = ("start", "end", "join", "leave"),
) -> str:
    """Call ``to`` straight into the conference ``conference`` (its ConferenceSid or its
    friendly name: Twilio creates the conference when it is not going on yet) through the
    Conference Participants API. No TwiML of ours runs on that leg (no whisper, no key, no
    SendDigits): only a softphone agent, whose answer in the console is the acceptance, is
    called this way. Returns the participant's CallSid."""
    kwargs: dict[str, object] = {
        "from_": from_,
        "to": to,
        "label": label,
        "status_callback": status_callback,
        "status_callback_method": "POST",
        "status_callback_event": list(status_callback_event),
        "start_conference_on_enter": start_conference_on_enter,
        "end_conference_on_exit": end_conference_on_exit,
        "early_media": early_media,
        "beep": "false",
    }
    if timeout:
        kwargs["timeout"] = timeout
    if conference_status_callback:
        kwargs["conference_status_callback"] = conference_status_callback
        kwargs["conference_status_callback_method"] = "POST"
        kwargs["conference_status_callback_event"] = list(conference_status_callback_event)
    participant = client().conferences(conference).participants.create(**kwargs)
    return str(participant.call_sid)


@counted("update_participant")
def update_participant(
    conference_sid: str,
    call_sid: str,
    *,
    hold: bool | None = None,
    hold_url: str | None = None,
    end_conference_on_exit: bool | None = None,
    announce_url: str | None = None,
) -> bool:
    """Hold or unhold a participant (with the music at ``hold_url``), change whether their
    leaving ends the conference, or play them an announcement. False when the participant
    (or the conference) is gone (404)."""
    kwargs: dict[str, object] = {}
    if hold is not None:
        kwargs["hold"] = hold
        if hold and hold_url:
            kwargs["hold_url"] = hold_url
            kwargs["hold_method"] = "GET"
    if end_conference_on_exit is not None:
        kwargs["end_conference_on_exit"] = end_conference_on_exit
    if announce_url:
        kwargs["announce_url"] = announce_url
        kwargs["announce_method"] = "POST"
    return _unless_gone(
        lambda: client().conferences(conference_sid).participants(call_sid).update(**kwargs)
    )


@counted("remove_participant")
def remove_participant(conference_sid: str, call_sid: str) -> bool:
    """Take a participant out of the conference (their call goes on to its next TwiML). True
    when removed or already gone."""
    return _unless_gone(
        lambda: client().conferences(conference_sid).participants(call_sid).delete(), gone=True
    )


@counted("end_conference")
def end_conference(conference_sid: str) -> bool:
    """End the conference: every participant's <Dial> ends (its action URL is called)."""
    return _unless_gone(lambda: client().conferences(conference_sid).update(status="completed"))


@counted("send_sms")
def send_sms(to: str, body: str, from_: str | None = None) -> str:
    """Send an SMS (from ROUTING_CALLER_ID unless ``from_`` says). Returns its MessageSid."""
    message = client().messages.create(to=to, from_=from_ or _config.caller_id, body=body)
    return str(message.sid)


@counted("delete_recording")
def delete_recording(recording_sid: str) -> bool:
    """Delete a recording (retention purge). True when deleted or already gone."""
    return _unless_gone(lambda: client().recordings(recording_sid).delete(), gone=True)
