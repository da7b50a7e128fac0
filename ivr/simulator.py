"""A call simulator: walks a call through the flow the way Twilio would, with signed requests,
following <Gather>, <Record>, <Redirect>, <Dial> (with the whisper on the callee's leg), and
stopping at <Enqueue> or <Hangup>. Keys and dial outcomes come from a ``Scenario``. It runs
in-process on the app's test client (no server needed) or against a running server over HTTP.
Used by ``flask simulate`` and by the tests for whole-call paths."""

from __future__ import annotations

import json
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urljoin, urlsplit

from twilio.request_validator import RequestValidator

from clock import LIMA
from ivr.flow import SIMULATION_FIELD

# Dial outcomes a scenario may give: the callee accepts (presses 1 in the whisper), answers
# but does not accept, or Twilio's DialCallStatus values; "answer" is a plain number answering.
DIAL_OUTCOMES = ("accept", "reject", "answer", "no-answer", "busy", "failed", "canceled")
SILENCE = ("", "-", "silence", "silencio")
IN_QUEUE = "en cola de la Plataforma"


class Transport(Protocol):
    def post(self, url: str, params: dict[str, str]) -> str:
        """POST a signed form to ``url`` (absolute, or a path) and return the body."""
        ...


class ClientTransport:
    """In-process: the app's test client, signed like Twilio with the app's auth token."""

    def __init__(self, app: Any) -> None:
        self.client = app.test_client()
        self.base = app.config["PUBLIC_BASE_URL"]
        self.validator = RequestValidator(app.config["TWILIO_AUTH_TOKEN"])

    def post(self, url: str, params: dict[str, str]) -> str:
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        signature = self.validator.compute_signature(self.base + path, params)
        response = self.client.post(path, data=params, headers={"X-Twilio-Signature": signature})
        if response.status_code != 200:
            raise SimulationError(f"POST {path} answered {response.status_code}")
        return response.get_data(as_text=True)


class HttpTransport:
    """A running server: requests signed over ``public_base_url`` (the server's PUBLIC_BASE_URL)."""

    def __init__(self, url: str, auth_token: str, public_base_url: str | None = None) -> None:
        self.url = url.rstrip("/")
        self.base = (public_base_url or url).rstrip("/")
        self.validator = RequestValidator(auth_token)

    def post(self, url: str, params: dict[str, str]) -> str:
        import requests

        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        signature = self.validator.compute_signature(self.base + path, params)
        response = requests.post(
            self.url + path, data=params, headers={"X-Twilio-Signature": signature}, timeout=10
        )
        if response.status_code != 200:
            raise SimulationError(f"POST {path} answered {response.status_code}")
        return response.text


class SimulationError(RuntimeError):
    pass


@dataclass
class Scenario:
    """One simulated call: who calls, when (Lima time), the keys pressed, the dial outcomes."""

    from_number: str = "+51987654321"
    to_number: str = "+5113115930"
    at: datetime | None = None
    keys: list[str] = field(default_factory=list)
    dial: list[str] = field(default_factory=list)
    call_sid: str = field(default_factory=lambda: "CA" + uuid.uuid4().hex)
    max_requests: int = 60

    def __post_init__(self) -> None:
        for outcome in self.dial:
            if outcome not in DIAL_OUTCOMES:
                raise ValueError(
                    f"Resultado de marcación desconocido {outcome!r}; use {', '.join(DIAL_OUTCOMES)}."
                )


def parse_at(text: str) -> datetime:
    """ "2026-11-26 10:00" (Lima time) or any ISO 8601 moment."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=LIMA)


def parse_keys(text: str) -> list[str]:
    return [k.strip() for k in text.split(",")] if text else []


def load_scenario(path: Path) -> Scenario:
    """A scenario file, YAML or JSON: from, to, at, keys (list or "1,3,#"), dial (list)."""
    raw = path.read_text(encoding="utf-8")
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        data = yaml.safe_load(raw) or {}
    else:
        data = json.loads(raw)
    keys = data.get("keys", [])
    dial = data.get("dial", [])
    at = data.get("at")
    return Scenario(
        from_number=str(data.get("from", Scenario.from_number)),
        to_number=str(data.get("to", Scenario.to_number)),
        at=parse_at(str(at)) if at else None,
        keys=parse_keys(keys) if isinstance(keys, str) else [str(k) for k in keys],
        dial=parse_keys(dial) if isinstance(dial, str) else [str(d) for d in dial],
    )


@dataclass
class Result:
    """What happened: every line printed, what the caller heard, and where the call went."""

    lines: list[str] = field(default_factory=list)
    heard: list[str] = field(default_factory=list)
    ended: str = ""  # "plataforma", "hangup" or "end"
    queue: str | None = None
    requests: list[str] = field(default_factory=list)


class Simulator:
    def __init__(
        self, transport: Transport, scenario: Scenario, echo: Callable[[str], None] | None = None
    ) -> None:
        self.transport = transport
        self.scenario = scenario
        self.echo = echo or (lambda _line: None)
        self.keys = list(scenario.keys)
        self.dials = list(scenario.dial)
        self.result = Result()

    # --- output ----------------------------------------------------------------------

    def _line(self, text: str) -> None:
        self.result.lines.append(text)
        self.echo(text)

    def _hear(self, element: ET.Element, who: str = "Usuario") -> None:
        if element.tag == "Say":
            text = (element.text or "").strip()
            if who == "Usuario":
                self.result.heard.append(text)
            self._line(f"  [{who} oye] {text}")
        elif element.tag == "Play":
            if who == "Usuario":
                self.result.heard.append(f"<grabación {element.text}>")
            self._line(f"  [{who} oye una grabación] {(element.text or '').strip()}")

    # --- the walk --------------------------------------------------------------------

    def params(self, **extra: str) -> dict[str, str]:
        return {
            "CallSid": self.scenario.call_sid,
            "AccountSid": "AC" + "0" * 32,
            "From": self.scenario.from_number,
            "To": self.scenario.to_number,
            "CallStatus": "in-progress",
            "Direction": "inbound",
            "ApiVersion": "2010-04-01",
            SIMULATION_FIELD: self.moment(),
            **extra,
        }

    def moment(self) -> str:
        """The simulated moment of the next request (the scenario's, then 5 s per request, as
        a caller thinks between keys), or empty: the real time."""
        if self.scenario.at is None:
            return ""
        return (self.scenario.at + timedelta(seconds=5 * len(self.result.requests))).isoformat()

    def _post(self, url: str, params: dict[str, str]) -> ET.Element:
        if len(self.result.requests) >= self.scenario.max_requests:
            raise SimulationError("too many requests: the flow seems to loop")
        self.result.requests.append(urlsplit(url).path)
        return ET.fromstring(self.transport.post(url, params))

    def run(self) -> Result:
        self._line(f"Llamada {self.scenario.call_sid} de {self.scenario.from_number}")
        url = "/voice/incoming"
        root = self._post(url, self.params(CallStatus="ringing"))
        while True:
            step = self._execute(root, url)
            if step is None:
                break
            url, params = step
            root = self._post(url, params)
        # The simulated caller hangs up when the simulation ends, as a real one would: a caller
        # left in the Plataforma's line leaves it (no ghost offered to agents).
        self.transport.post("/voice/status", self.params(CallStatus="completed", CallDuration="60"))
        return self.result

    def _next_key(self) -> str | None:
        return self.keys.pop(0) if self.keys else None

    def _execute(self, root: ET.Element, url: str) -> tuple[str, dict[str, str]] | None:
        """Run one TwiML document; return the next request, or None when the call stops."""
        for verb in root:
            if verb.tag in ("Say", "Play"):
                self._hear(verb)
            elif verb.tag == "Gather":
                for inner in verb:
                    self._hear(inner)
                key = self._next_key()
                if key is None or key in SILENCE:
                    self._line("  [Usuario no marca nada]")
                    if verb.get("actionOnEmptyResult") != "true":
                        continue
                    digits = ""
                else:
                    self._line(f"  [Usuario marca] {key}")
                    finish = verb.get("finishOnKey", "#")
                    digits = key[:-1] if finish and key.endswith(finish) else key
                return urljoin(url, verb.get("action") or url), self.params(Digits=digits)
            elif verb.tag == "Record":
                step = self._record(verb, url)
                if step is not None:
                    return step
            elif verb.tag == "Redirect":
                return urljoin(url, (verb.text or "").strip()), self.params()
            elif verb.tag == "Dial":
                step = self._dial(verb, url)
                if step is not None:
                    return step
            elif verb.tag == "Enqueue":
                self.result.ended = "plataforma"
                self.result.queue = (verb.text or "").strip()
                self._line(f"  → {IN_QUEUE} ({self.result.queue})")
                return None
            elif verb.tag == "Hangup":
                self.result.ended = "hangup"
                self._line("  → la llamada termina")
                return None
        self.result.ended = "end"
        self._line("  → la llamada termina")
        return None

    def _record(self, verb: ET.Element, url: str) -> tuple[str, dict[str, str]] | None:
        key = self._next_key()
        if key is None or key in SILENCE or key == verb.get("finishOnKey", "1234567890*#"):
            self._line("  [Usuario no graba nada]")
            return None  # Twilio goes on with the next verb
        seconds = key.split(":", 1)[1] if ":" in key else "10"
        sid = "RE" + uuid.uuid4().hex
        recording = f"https://api.twilio.com/2010-04-01/Accounts/AC{'0' * 32}/Recordings/{sid}"
        self._line(f"  [Usuario graba {seconds} s]")
        callback = verb.get("recordingStatusCallback")
        if callback:
            self.transport.post(
                urljoin(url, callback),
                self.params(
                    RecordingSid=sid,
                    RecordingUrl=recording,
                    RecordingDuration=seconds,
                    RecordingStatus="completed",
                ),
            )
        params = self.params(RecordingUrl=recording, RecordingDuration=seconds, Digits="#")
        return urljoin(url, verb.get("action") or url), params

    def _dial(self, verb: ET.Element, url: str) -> tuple[str, dict[str, str]] | None:
        outcome = self.dials.pop(0) if self.dials else "no-answer"
        status = "completed" if outcome in ("accept", "reject", "answer") else outcome
        child_sid = "CA" + uuid.uuid4().hex
        for noun in verb:
            target = (noun.text or "").strip()
            digits = noun.get("sendDigits")
            where = f"{target} (anexo {digits.lstrip('w')})" if digits else target
            self._line(f"  [Marcando] {where}")
            whisper = noun.get("url")
            if whisper and status == "completed":
                accepted = self._whisper(urljoin(url, whisper), child_sid, outcome == "accept")
                self._line(
                    "  [Miembro de la Red acepta; conversan]"
                    if accepted
                    else "  [Miembro de la Red no acepta]"
                )
            elif status == "completed":
                self._line("  [Contestan; conversan]")
        labels = {"no-answer": "no contesta", "busy": "ocupado", "failed": "falla"}
        if status != "completed":
            self._line(f"  [Resultado] {labels.get(status, status)}")
        action = verb.get("action")
        if not action:
            return None
        params = self.params(
            DialCallStatus=status,
            DialCallSid=child_sid,
            DialCallDuration="120" if outcome in ("accept", "answer") else "0",
        )
        return urljoin(url, action), params

    def _whisper(self, url: str, child_sid: str, press_one: bool) -> bool:
        """The callee's leg: hear the whisper, press 1 (or nothing); True when bridged."""
        leg = {
            "CallSid": child_sid,
            "ParentCallSid": self.scenario.call_sid,
            "AccountSid": "AC" + "0" * 32,
            "From": self.scenario.from_number,
            "To": self.scenario.to_number,
            "CallStatus": "in-progress",
            "Direction": "outbound-dial",
        }
        root = ET.fromstring(self.transport.post(url, leg))
        for verb in root:
            if verb.tag in ("Say", "Play"):
                self._hear(verb, "Red")
            elif verb.tag == "Gather":
                for inner in verb:
                    self._hear(inner, "Red")
                digits = "1" if press_one else ""
                self._line(f"  [Red marca] {digits or 'nada'}")
                if not digits and verb.get("actionOnEmptyResult") != "true":
                    continue
                answer = ET.fromstring(
                    self.transport.post(
                        urljoin(url, verb.get("action") or url), leg | {"Digits": digits}
                    )
                )
                return not any(v.tag == "Hangup" for v in answer)
            elif verb.tag == "Hangup":
                return False
        return True


def simulate_in_process(
    app: Any, scenario: Scenario, echo: Callable[[str], None] | None = None
) -> Result:
    """Run the scenario on the app itself, at the scenario's moment (which its requests carry,
    as they do to a server with ``--url``)."""
    return Simulator(ClientTransport(app), scenario, echo).run()
