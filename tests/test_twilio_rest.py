"""Every REST call to Twilio, as sent on the wire, matches Twilio's OpenAPI description."""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs

import pytest
from flask import Flask
from twilio.base.exceptions import TwilioRestException

import twilio_rest
from tests.twilio_fake import FakeTwilio, SpecViolation

CALL = "CA" + "a" * 32


def test_dequeue_by_name_looks_the_queue_up_then_updates_the_member(
    fake_twilio: FakeTwilio,
) -> None:
    fake_twilio.queues["plataforma"] = "QU" + "b" * 32
    assert twilio_rest.dequeue_to_url("plataforma", CALL, "https://ivr.example.test/x")
    [update] = fake_twilio.of("member_update")
    assert update.path.endswith(f"/Queues/QU{'b' * 32}/Members/{CALL}.json")
    assert update.form == {"Url": ["https://ivr.example.test/x"], "Method": ["POST"]}
    twilio_rest.dequeue_to_url("plataforma", CALL, "https://ivr.example.test/x")
    assert len(fake_twilio.of("queue_list")) == 1  # looked up once


def test_dequeue_of_a_call_not_in_the_queue_returns_false(fake_twilio: FakeTwilio) -> None:
    fake_twilio.fail_next("member_update", 404)
    assert not twilio_rest.dequeue_to_url("QU" + "c" * 32, CALL, "https://ivr.example.test/x")


def test_redirect_call_updates_the_call_url(fake_twilio: FakeTwilio) -> None:
    assert twilio_rest.redirect_call(CALL, "https://ivr.example.test/y")
    [sent] = fake_twilio.of("call_update")
    assert sent.form == {"Url": ["https://ivr.example.test/y"], "Method": ["POST"]}


def test_create_call_sends_digits_and_a_status_callback(fake_twilio: FakeTwilio) -> None:
    new = twilio_rest.create_call(
        "+5113115930",
        "+5113115930",
        "https://ivr.example.test/z",
        send_digits="ww1234",
        status_callback="https://ivr.example.test/s",
        timeout=20,
    )
    assert new.startswith("CA")
    [sent] = fake_twilio.of("call_create")
    assert sent.one("SendDigits") == "ww1234"
    assert sent.one("StatusCallbackEvent") == "completed"


def test_create_participant_calls_into_the_conference_by_its_name(
    fake_twilio: FakeTwilio,
) -> None:
    """The Conference Participants API, by the conference's friendly name; the fake checks
    the request and its own answer against Twilio's OpenAPI description."""
    sid = twilio_rest.create_participant(
        f"plataforma-{CALL}",
        "+5113115930",
        "client:ana",
        label="agente",
        status_callback="https://ivr.example.test/p",
        status_callback_event=("initiated", "ringing", "answered", "completed"),
        timeout=25,
        start_conference_on_enter=True,
        end_conference_on_exit=True,
        conference_status_callback="https://ivr.example.test/c",
    )
    assert sid.startswith("CA") and sid != CALL
    [sent] = fake_twilio.of("participant_create")
    assert sent.path.endswith(f"/Conferences/plataforma-{CALL}/Participants.json")
    assert sent.form["StatusCallbackEvent"] == ["initiated", "ringing", "answered", "completed"]
    assert {k: sent.one(k) for k in ("From", "To", "Label", "Timeout", "Beep")} == {
        "From": "+5113115930",
        "To": "client:ana",
        "Label": "agente",
        "Timeout": "25",
        "Beep": "false",
    }
    assert (sent.one("StartConferenceOnEnter"), sent.one("EndConferenceOnExit")) == (
        "true",
        "true",
    )
    assert sent.one("EarlyMedia") == "false"
    assert sent.form["ConferenceStatusCallbackEvent"] == ["start", "end", "join", "leave"]
    fake_twilio.fail_next("participant_create", 404)
    with pytest.raises(TwilioRestException):
        twilio_rest.create_participant(
            "CF" + "0" * 32,
            "+5113115930",
            "client:ana",
            label="agente",
            status_callback="https://ivr.example.test/p",
        )


def test_send_sms_and_delete_recording(fake_twilio: FakeTwilio) -> None:
    assert twilio_rest.send_sms("+51999888777", "Hola").startswith("SM")
    assert fake_twilio.sent[0].one("From") == "+5113115930"  # ROUTING_CALLER_ID
    assert twilio_rest.delete_recording("RE" + "d" * 32)
    fake_twilio.fail_next("recording_delete", 404)
    assert twilio_rest.delete_recording("RE" + "e" * 32)  # already gone counts as deleted
    assert [s.operation for s in fake_twilio.sent] == [
        "message_create",
        "recording_delete",
        "recording_delete",
    ]


def test_a_server_error_propagates_for_the_job_to_retry(fake_twilio: FakeTwilio) -> None:
    fake_twilio.fail_next("call_update", 500)
    with pytest.raises(TwilioRestException):
        twilio_rest.redirect_call(CALL, "https://ivr.example.test/y")


def test_the_fake_rejects_a_request_the_spec_does_not_allow(fake_twilio: FakeTwilio) -> None:
    with pytest.raises(SpecViolation):
        # StatusCallbackMethod must be GET or POST
        twilio_rest.client().calls.create(
            to="+5113115930",
            from_="+5113115930",
            url="https://ivr.example.test/z",
            status_callback_method="PATCH",
        )
    with pytest.raises(SpecViolation):
        # Url is required to update a queue member
        twilio_rest.client().queues("QU" + "f" * 32).members(CALL).update(url=None)
    assert fake_twilio.sent == []


def test_the_fake_rejects_wrong_credentials(fake_twilio: FakeTwilio) -> None:
    fake_twilio.auth_token = "another-token"
    with pytest.raises(SpecViolation):
        twilio_rest.redirect_call(CALL, "https://ivr.example.test/y")


def _every_call() -> list[object]:
    """Each REST call the service makes, once."""
    return [
        twilio_rest.dequeue_to_url("plataforma", CALL, "https://ivr.example.test/x"),
        twilio_rest.redirect_call(CALL, "https://ivr.example.test/y"),
        twilio_rest.create_call(
            "sip:2301@pbx.mef.gob.pe",
            "+5113115930",
            "https://ivr.example.test/z",
            status_callback="https://ivr.example.test/s",
            timeout=20,
        ),
        twilio_rest.send_sms("+51999888777", "Aviso", "+5113115930"),
        twilio_rest.delete_recording("RE" + "d" * 32),
        twilio_rest.create_participant(
            f"plataforma-{CALL}",
            "+5113115930",
            "client:ana",
            label="agente",
            status_callback="https://ivr.example.test/p",
            timeout=20,
        ),
    ]


def test_the_dry_run_answers_as_twilio_would_and_sends_what_the_spec_allows(
    app: Flask, fake_twilio: FakeTwilio, caplog: pytest.LogCaptureFixture
) -> None:
    """Development's dry run (issue 11.12): nothing leaves the machine, every request is
    logged, and each one, sent to the fake of Twilio, passes the OpenAPI check."""
    sid, token = app.config["TWILIO_ACCOUNT_SID"], app.config["TWILIO_AUTH_TOKEN"]
    twilio_rest.configure(sid, token, "+5113115930", dry_run=True)
    dry = twilio_rest.client().http_client
    assert isinstance(dry, twilio_rest.DryRunHttpClient)
    with caplog.at_level("INFO", logger="twilio_rest"):
        results = _every_call()
    assert results[0] is True and results[1] is True and results[4] is True
    assert str(results[2]).startswith("CA") and str(results[3]).startswith("SM")
    assert str(results[5]).startswith("CA")  # the participant's CallSid
    assert caplog.text.count("Twilio (simulacro, no se envía)") == len(dry.sent)
    assert fake_twilio.sent == []  # nothing went out
    for method, url, params, data in dry.sent:
        fake_twilio.request(method, url, params=params, data=data, auth=(sid, token))
    assert len(fake_twilio.sent) == len(dry.sent) == 8  # queue list + create, then the six


class _TwilioCompatible(BaseHTTPRequestHandler):
    seen: list[tuple[str, str, str, dict[str, list[str]]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"] or 0)).decode()
        self.seen.append(("POST", self.path, self.headers["Authorization"], parse_qs(body)))
        payload = json.dumps({"sid": "CA" + "e" * 32, "status": "queued"}).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        return None


def test_twilio_api_base_sends_the_requests_to_that_endpoint(app: Flask) -> None:
    server = HTTPServer(("127.0.0.1", 0), _TwilioCompatible)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        sid, token = app.config["TWILIO_ACCOUNT_SID"], app.config["TWILIO_AUTH_TOKEN"]
        twilio_rest.configure(sid, token, api_base=f"http://127.0.0.1:{server.server_port}/")
        created = twilio_rest.create_call("+51987654321", "+5113115930", "https://x.test/t")
    finally:
        server.shutdown()
    assert created == "CA" + "e" * 32
    [(method, path, auth, form)] = _TwilioCompatible.seen
    assert (method, path) == ("POST", f"/2010-04-01/Accounts/{sid}/Calls.json")
    assert auth == "Basic " + base64.b64encode(f"{sid}:{token}".encode()).decode()
    assert form["To"] == ["+51987654321"] and form["Url"] == ["https://x.test/t"]


def test_development_dry_runs_unless_an_api_base_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    from config import DevelopmentConfig

    assert DevelopmentConfig().TWILIO_DRY_RUN is True
    monkeypatch.setenv("TWILIO_API_BASE", "http://127.0.0.1:9/")
    assert DevelopmentConfig().TWILIO_DRY_RUN is False


def test_the_conference_calls_find_hold_announce_remove_and_end(fake_twilio: FakeTwilio) -> None:
    """The caller's conference (routing.legs): found by name, a participant held with music,
    told whether leaving ends it, played an announcement, removed; the conference ended."""
    conference = "CF" + "e" * 32
    fake_twilio.conferences[f"plataforma-{CALL}"] = conference
    assert twilio_rest.find_conference(f"plataforma-{CALL}") == conference
    assert twilio_rest.find_conference("plataforma-otra") is None
    lookup = fake_twilio.of("conference_list")[0]
    assert lookup.form["FriendlyName"] == [f"plataforma-{CALL}"]
    assert lookup.form["Status"] == ["in-progress"]
    music = "https://ivr.example.test/static/espera.mp3"
    assert twilio_rest.update_participant(conference, CALL, hold=True, hold_url=music)
    assert twilio_rest.update_participant(conference, CALL, end_conference_on_exit=False)
    announce = "https://ivr.example.test/voice/conference/announce"
    assert twilio_rest.update_participant(conference, CALL, announce_url=announce)
    held, ends, told = (s.form for s in fake_twilio.of("participant_update"))
    assert held == {"Hold": ["true"], "HoldUrl": [music], "HoldMethod": ["GET"]}
    assert ends == {"EndConferenceOnExit": ["false"]}
    assert told == {"AnnounceUrl": [announce], "AnnounceMethod": ["POST"]}
    fake_twilio.fail_next("participant_update", 404)
    assert not twilio_rest.update_participant(conference, CALL, hold=False)  # gone
    assert twilio_rest.remove_participant(conference, CALL)
    fake_twilio.fail_next("participant_delete", 404)
    assert twilio_rest.remove_participant(conference, CALL)  # already gone is fine
    assert twilio_rest.end_conference(conference)
    assert fake_twilio.of("conference_update")[0].form == {"Status": ["completed"]}
    assert twilio_rest.hangup_call(CALL, ringing=True)
    assert twilio_rest.hangup_call(CALL)
    assert [s.one("Status") for s in fake_twilio.of("call_update")] == ["canceled", "completed"]
