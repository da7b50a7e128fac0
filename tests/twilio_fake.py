"""A fake of Twilio's REST API at the network edge.

``FakeTwilio`` is a ``TwilioHttpClient`` whose requests session has a transport adapter in place
of the network: every request the twilio library prepares (method, URL, form body, Basic auth)
is recorded and validated against Twilio's own OpenAPI description (tests/twilio_oai, MIT
licensed, loaded once per test session) with openapi-core, and answered with a canned JSON body
that is itself valid for that operation. A request the spec rejects fails the test.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import requests
from openapi_core import OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse
from requests.adapters import BaseAdapter
from twilio.http.http_client import TwilioHttpClient

SPEC_PATH = Path(__file__).parent / "twilio_oai" / "twilio_api_v2010.json"


@lru_cache(maxsize=1)
def twilio_spec() -> dict[str, Any]:
    return dict(json.loads(SPEC_PATH.read_text()))


@lru_cache(maxsize=1)
def twilio_openapi() -> OpenAPI:
    """Twilio's API v2010 description, parsed once per session (it is large)."""
    return OpenAPI.from_dict(twilio_spec())


def required_form_fields(method: str, template: str) -> list[str]:
    """Fields the operation's form body requires (openapi-core skips an empty optional body)."""
    operation = twilio_spec()["paths"][template][method.lower()]
    content = operation.get("requestBody", {}).get("content", {})
    schema = content.get("application/x-www-form-urlencoded", {}).get("schema", {})
    return list(schema.get("required", []))


class SpecViolation(AssertionError):
    """A request that Twilio's OpenAPI description does not allow."""


@dataclass
class Sent:
    method: str
    path: str
    form: dict[str, list[str]]
    operation: str

    def one(self, name: str) -> str:
        return self.form[name][0]


_sids = itertools.count(1)


def new_sid(prefix: str) -> str:
    return f"{prefix}{next(_sids):032x}"


# Path patterns of the operations we use, and how to answer them.
_ACCOUNT = r"/2010-04-01/Accounts/(?P<account>AC[0-9a-f]{32})"
OPERATIONS: list[tuple[str, str, str]] = [
    ("POST", _ACCOUNT + r"/Queues/(?P<queue>[^/]+)/Members/(?P<call>[^/]+)\.json", "member_update"),
    ("POST", _ACCOUNT + r"/Calls/(?P<call>[^/]+)\.json", "call_update"),
    (
        "POST",
        _ACCOUNT + r"/Conferences/(?P<conf>[^/]+)/Participants/(?P<call>[^/]+)\.json",
        "participant_update",
    ),
    (
        "DELETE",
        _ACCOUNT + r"/Conferences/(?P<conf>[^/]+)/Participants/(?P<call>[^/]+)\.json",
        "participant_delete",
    ),
    (
        "POST",
        _ACCOUNT + r"/Conferences/(?P<conf>[^/]+)/Participants\.json",
        "participant_create",
    ),
    ("POST", _ACCOUNT + r"/Conferences/(?P<conf>[^/]+)\.json", "conference_update"),
    ("GET", _ACCOUNT + r"/Conferences\.json", "conference_list"),
    ("POST", _ACCOUNT + r"/Calls\.json", "call_create"),
    ("POST", _ACCOUNT + r"/Messages\.json", "message_create"),
    ("DELETE", _ACCOUNT + r"/Recordings/(?P<rec>[^/]+)\.json", "recording_delete"),
    ("GET", _ACCOUNT + r"/Queues\.json", "queue_list"),
    ("POST", _ACCOUNT + r"/Queues\.json", "queue_create"),
]


TEMPLATES = {
    "member_update": "/2010-04-01/Accounts/{AccountSid}/Queues/{QueueSid}/Members/{CallSid}.json",
    "call_update": "/2010-04-01/Accounts/{AccountSid}/Calls/{Sid}.json",
    "call_create": "/2010-04-01/Accounts/{AccountSid}/Calls.json",
    "participant_update": "/2010-04-01/Accounts/{AccountSid}/Conferences/{ConferenceSid}/"
    "Participants/{CallSid}.json",
    "participant_delete": "/2010-04-01/Accounts/{AccountSid}/Conferences/{ConferenceSid}/"
    "Participants/{CallSid}.json",
    "participant_create": "/2010-04-01/Accounts/{AccountSid}/Conferences/{ConferenceSid}/"
    "Participants.json",
    "conference_update": "/2010-04-01/Accounts/{AccountSid}/Conferences/{Sid}.json",
    "conference_list": "/2010-04-01/Accounts/{AccountSid}/Conferences.json",
    "message_create": "/2010-04-01/Accounts/{AccountSid}/Messages.json",
    "recording_delete": "/2010-04-01/Accounts/{AccountSid}/Recordings/{Sid}.json",
    "queue_list": "/2010-04-01/Accounts/{AccountSid}/Queues.json",
    "queue_create": "/2010-04-01/Accounts/{AccountSid}/Queues.json",
}


def _call_body(account: str, sid: str, form: dict[str, list[str]]) -> dict[str, Any]:
    return {
        "sid": sid,
        "account_sid": account,
        "to": form.get("To", ["+51987654321"])[0],
        "from": form.get("From", ["+5113115930"])[0],
        "status": "queued",
        "direction": "outbound-api",
        "api_version": "2010-04-01",
        "uri": f"/2010-04-01/Accounts/{account}/Calls/{sid}.json",
    }


@dataclass
class FakeTwilio(TwilioHttpClient):
    account_sid: str = ""
    auth_token: str = ""
    sent: list[Sent] = field(default_factory=list)
    # operation -> list of HTTP statuses to answer before answering normally
    failures: dict[str, list[int]] = field(default_factory=dict)
    queues: dict[str, str] = field(default_factory=dict)
    # (queue sid, call sid) pairs that are members; None = every call is a member
    members: set[tuple[str, str]] | None = None
    # conferences in progress, friendly name -> ConferenceSid (what conference_list finds)
    conferences: dict[str, str] = field(default_factory=dict)
    _query_name: str | None = None  # the FriendlyName filter of the request being answered
    # conferences a participant's creation named that were not in progress: name -> new SID
    _created: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(pool_connections=True)
        assert self.session is not None
        self.session.mount("https://", _Edge(self))

    def fail_next(self, operation: str, status: int = 404) -> None:
        self.failures.setdefault(operation, []).append(status)

    def of(self, operation: str) -> list[Sent]:
        return [s for s in self.sent if s.operation == operation]

    # The network edge ---------------------------------------------------------------------

    def answer(self, prepared: requests.PreparedRequest) -> requests.Response:
        url = urlparse(prepared.url or "")
        if url.scheme != "https" or url.netloc != "api.twilio.com":
            raise SpecViolation(f"request to {prepared.url}, not https://api.twilio.com")
        self._check_auth(prepared)
        operation, groups, template = self._operation(prepared.method or "", url.path)
        api = twilio_openapi()
        openapi_request = RequestsOpenAPIRequest(prepared)
        try:
            api.validate_request(openapi_request)
        except Exception as exc:  # every kind of spec error is a violation
            raise SpecViolation(f"{prepared.method} {url.path}: {exc!r}") from exc
        raw = prepared.body or ""
        body = raw.decode() if isinstance(raw, bytes) else str(raw)
        form = parse_qs(body, keep_blank_values=True)
        missing = [
            f for f in required_form_fields(prepared.method or "", template) if f not in form
        ]
        if missing:
            raise SpecViolation(f"{prepared.method} {url.path}: missing {', '.join(missing)}")
        if url.query:  # a list's filters (conference_list: FriendlyName)
            form = {**parse_qs(url.query), **form}
        self._query_name = form.get("FriendlyName", [None])[0]
        self.sent.append(Sent(prepared.method or "", url.path, form, operation))
        status, payload = self._respond(operation, groups, form)
        response = requests.Response()
        response.status_code = status
        response.url = prepared.url or ""
        response.request = prepared
        response.headers["Content-Type"] = "application/json"
        response._content = b"" if payload is None else json.dumps(payload).encode()
        if status < 400:
            try:
                api.validate_response(openapi_request, RequestsOpenAPIResponse(response))
            except Exception as exc:
                raise SpecViolation(f"the fake's own answer is off-spec: {exc!r}") from exc
        return response

    def _check_auth(self, prepared: requests.PreparedRequest) -> None:
        header = prepared.headers.get("Authorization", "")
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if header != f"Basic {expected}":
            raise SpecViolation("missing or wrong Basic auth (accountSid_authToken)")

    def _operation(self, method: str, path: str) -> tuple[str, dict[str, str], str]:
        for op_method, pattern, name in OPERATIONS:
            match = re.fullmatch(pattern, path)
            if match and op_method == method.upper():
                if match["account"] != self.account_sid:
                    raise SpecViolation(f"account {match['account']} is not ours")
                return name, match.groupdict(), TEMPLATES[name]
        raise SpecViolation(f"{method} {path}: not an operation the fake knows")

    def _respond(
        self, operation: str, groups: dict[str, str], form: dict[str, list[str]]
    ) -> tuple[int, dict[str, Any] | None]:
        account = groups["account"]
        pending = self.failures.get(operation)
        if pending:
            status = pending.pop(0)
            return status, {
                "code": 20404,
                "message": "The requested resource was not found",
                "more_info": "https://www.twilio.com/docs/errors/20404",
                "status": status,
            }
        if operation == "member_update":
            if self.members is not None and (groups["queue"], groups["call"]) not in self.members:
                return 404, {"code": 20404, "message": "Not found", "status": 404}
            return 200, {
                "call_sid": groups["call"],
                "queue_sid": groups["queue"],
                "position": 1,
                "wait_time": 10,
                "uri": f"/2010-04-01/Accounts/{account}/Queues/{groups['queue']}/Members/"
                f"{groups['call']}.json",
            }
        if operation == "call_update":
            return 200, _call_body(account, groups["call"], form) | {"status": "in-progress"}
        if operation == "participant_update":
            return 200, self._participant(account, groups["conf"], groups["call"], form)
        if operation == "participant_create":
            # ConferenceSid may be the conference's friendly name (Twilio creates it if needed)
            conference = self.conferences.get(groups["conf"], groups["conf"])
            if not conference.startswith("CF"):
                conference = self._created.setdefault(conference, new_sid("CF"))
            participant = self._participant(account, conference, new_sid("CA"), form)
            participant["status"] = "queued"
            participant["start_conference_on_enter"] = (
                form.get("StartConferenceOnEnter", ["true"])[0] == "true"
            )
            if "Label" in form:
                participant["label"] = form["Label"][0]
            return 201, participant
        if operation in ("participant_delete",):
            return 204, None
        if operation == "conference_update":
            name = next((n for n, c in self.conferences.items() if c == groups["conf"]), "")
            return 200, self._conference(account, groups["conf"], name, "completed")
        if operation == "conference_list":
            wanted = self._query_name
            found = [
                self._conference(account, sid, name, "in-progress")
                for name, sid in self.conferences.items()
                if wanted in (None, name)
            ]
            return 200, {
                "conferences": found,
                "page": 0,
                "page_size": 50,
                "start": 0,
                "end": len(found),
                "first_page_uri": f"/2010-04-01/Accounts/{account}/Conferences.json",
                "next_page_uri": None,
                "previous_page_uri": None,
                "uri": f"/2010-04-01/Accounts/{account}/Conferences.json",
            }
        if operation == "call_create":
            return 201, _call_body(account, new_sid("CA"), form)
        if operation == "message_create":
            sid = new_sid("SM")
            return 201, {
                "sid": sid,
                "account_sid": account,
                "to": form["To"][0],
                "from": form.get("From", [""])[0],
                "body": form.get("Body", [""])[0],
                "status": "queued",
                "direction": "outbound-api",
                "api_version": "2010-04-01",
                "uri": f"/2010-04-01/Accounts/{account}/Messages/{sid}.json",
            }
        if operation == "recording_delete":
            return 204, None
        if operation == "queue_create":
            name = form["FriendlyName"][0]
            self.queues.setdefault(name, new_sid("QU"))
            return 201, self._queue(account, name)
        if operation == "queue_list":
            queues = [self._queue(account, name) for name in self.queues]
            return 200, {
                "queues": queues,
                "page": 0,
                "page_size": 50,
                "start": 0,
                "end": len(queues),
                "first_page_uri": f"/2010-04-01/Accounts/{account}/Queues.json?PageSize=50&Page=0",
                "next_page_uri": None,
                "previous_page_uri": None,
                "uri": f"/2010-04-01/Accounts/{account}/Queues.json?PageSize=50&Page=0",
            }
        raise SpecViolation(f"no answer for {operation}")

    @staticmethod
    def _participant(
        account: str, conference: str, call: str, form: dict[str, list[str]]
    ) -> dict[str, Any]:
        return {
            "account_sid": account,
            "call_sid": call,
            "conference_sid": conference,
            "hold": form.get("Hold", ["false"])[0] == "true",
            "muted": False,
            "end_conference_on_exit": form.get("EndConferenceOnExit", ["false"])[0] == "true",
            "status": "connected",
            "uri": f"/2010-04-01/Accounts/{account}/Conferences/{conference}/Participants/"
            f"{call}.json",
        }

    @staticmethod
    def _conference(account: str, sid: str, name: str, status: str) -> dict[str, Any]:
        return {
            "account_sid": account,
            "sid": sid,
            "friendly_name": name,
            "status": status,
            "api_version": "2010-04-01",
            "uri": f"/2010-04-01/Accounts/{account}/Conferences/{sid}.json",
        }

    def _queue(self, account: str, name: str) -> dict[str, Any]:
        sid = self.queues[name]
        return {
            "sid": sid,
            "account_sid": account,
            "friendly_name": name,
            "current_size": 0,
            "max_size": 100,
            "average_wait_time": 0,
            "uri": f"/2010-04-01/Accounts/{account}/Queues/{sid}.json",
        }


class _Edge(BaseAdapter):
    """The requests transport: instead of a socket, the fake."""

    def __init__(self, fake: FakeTwilio) -> None:
        super().__init__()
        self.fake = fake

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, **_kwargs: Any
    ) -> requests.Response:
        return self.fake.answer(request)

    def close(self) -> None:
        return None
