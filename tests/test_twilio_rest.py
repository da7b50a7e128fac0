"""Every REST call to Twilio, as sent on the wire, matches Twilio's OpenAPI description."""

from __future__ import annotations

import pytest
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
