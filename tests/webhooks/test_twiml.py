"""webhooks.twilio_auth.twiml: the document twilio's ``str(response)`` gives, written without
building ElementTree elements."""

from __future__ import annotations

from twilio.twiml import GenericNode
from twilio.twiml.voice_response import VoiceResponse

from webhooks.twilio_auth import twiml


def _every_shape() -> VoiceResponse:
    response = VoiceResponse()
    gather = response.gather(
        input="dtmf",
        action="/voice/menu?try=2&x=<a>",
        num_digits=1,
        timeout=6,
        finish_on_key="",
        action_on_empty_result=True,
    )
    gather.say('Marque "uno" & <espere>\tfin\r\n', voice="Polly.Mia", language="es-MX")
    gather.play("https://example.org/a.mp3", loop=0)
    gather.pause(length=1)
    response.say("")  # an empty verb is written short
    response.hangup()
    dial = response.dial(timeout=20, action="/voice/dial?leg=titular", caller_id="+5113115930")
    dial.sip("sip:1011@pbx.mef.gob.pe", url='/w?c=CA1&l="t"\t\r\n<>')
    dial.number("+51987654321", send_digits="ww1")
    response.enqueue("plataforma", wait_url="/voice/queue/wait", workflow_sid=None)
    response.record(max_length=30, play_beep=False, recording_status_callback_event="completed")
    response.append("text & <between> verbs")
    response.redirect("/voice/menu")
    response.append("tail > of the redirect")
    response.nest(GenericNode("Custom", {"a": 1, "b": ["x"]}, flag=True))
    return response


def test_the_document_is_twilios_own_text() -> None:
    response = _every_shape()
    assert twiml(response).get_data(as_text=True) == str(response)


def test_text_before_any_verb_is_the_element_text() -> None:
    response = VoiceResponse()
    response.append("hola ")
    response.append("mundo")  # the last text wins, as in twilio's element
    response.say("x")
    assert twiml(response).get_data(as_text=True) == str(response)
    assert twiml(VoiceResponse()).get_data(as_text=True) == str(VoiceResponse())
