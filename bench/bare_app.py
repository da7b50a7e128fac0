"""The baseline of bench.webhooks: a bare Flask handler that returns one <Say>."""

from __future__ import annotations

from flask import Flask, Response
from twilio.twiml.voice_response import VoiceResponse

app = Flask(__name__)


@app.post("/voice/bare")
def bare() -> Response:
    response = VoiceResponse()
    response.say("Hola.", voice="Polly.Mia", language="es-MX")
    return Response(str(response), mimetype="text/xml")


@app.get("/bare")
def bare_page() -> Response:
    """bench.console's baseline for a page: a bare GET."""
    return Response("<!doctype html><title>bare</title><p>bare</p>", mimetype="text/html")
