"""A morning at the Plataforma: three agents, twenty callers of mixed classes and languages,
some hanging up, one asking for a callback, one agent not answering; driven through the
webhooks the way Twilio would, with the clock in the test's hands. Every caller ends served,
called back or registered abandoned, and every offer honours priority, aging and skills."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from twilio.twiml.voice_response import VoiceResponse

from register.models import CallbackRequest
from routing import agents, legs
from routing.context import from_app
from routing.jobs import sweep
from routing.settings import RoutingSettings
from tests.conftest import TwilioSigner, call_params
from tests.routing.conftest import (
    add_agent,
    add_speaker,
    caller_state,
    send_to_plataforma,
    sid,
    steps,
)
from tests.twilio_fake import FakeTwilio

T0 = 1_800_000_000_000
BASE_URL = "https://ivr.example.test"
HANDLE_SECONDS = 60

# (arrival second, class, language); index + 1 is the caller number
CALLERS = [
    (0, "normal", "es"),
    (1, "normal", "es"),
    (2, "authority", "es"),
    (3, "preferential", "qu"),
    (4, "preferential", "es"),
    (5, "normal", "es"),
    (6, "authority", "es"),
    (7, "normal", "es"),
    (8, "preferential", "es"),
    (9, "normal", "ay"),
    (10, "normal", "es"),
    (11, "authority", "es"),
    (12, "normal", "es"),
    (13, "normal", "qu"),
    (14, "preferential", "es"),
    (15, "normal", "es"),
    (16, "normal", "es"),
    (17, "authority", "es"),
    (18, "normal", "es"),
    (19, "normal", "es"),
]
HANGUPS = {6: 40, 13: 45}  # caller -> second they hang up while waiting
CALLBACK_KEY = {16: 50}  # caller -> second they press 1
FIELDS = {
    "preferential": {"preferencial": "adulto_mayor"},
    "authority": {"tipo_usuario": "autoridad", "region": "Junín"},
    "normal": {},
}


class Clock:
    def __init__(self) -> None:
        self.ms = T0

    def __call__(self) -> int:
        return self.ms


@dataclass
class World:
    settings: RoutingSettings
    speaks: dict[int, tuple[str, ...]]
    score: dict[str, int] = field(default_factory=dict)
    arrival: dict[str, int] = field(default_factory=dict)
    lang: dict[str, str] = field(default_factory=dict)
    waiting: set[str] = field(default_factory=set)
    talking: dict[str, tuple[int, int]] = field(default_factory=dict)  # sid -> (agent, end ms)
    outcome: dict[str, str] = field(default_factory=dict)
    offers: list[tuple[str, int, int]] = field(default_factory=list)  # call, agent, ms

    def eligible(self, call: str, agent: int, now: int) -> bool:
        lang = self.lang[call]
        return (
            lang == "es"
            or lang in self.speaks[agent]
            or now - self.arrival[call] >= self.settings.language_wait_seconds * 1000
        )

    def check_offer(self, call: str, agent: int, now: int) -> None:
        """The offered caller is eligible and first in our order among those the agent may take;
        a speaker takes the callers waiting for their language first (issue 11.4)."""
        assert call in self.waiting, f"{call} offered while not waiting"
        assert self.eligible(call, agent, now)
        own = [
            self.score[c]
            for c in self.waiting
            if self.lang[c] in self.speaks[agent]
            and now - self.arrival[c] < self.settings.language_wait_seconds * 1000
        ]
        best = (
            min(own)
            if own
            else min(self.score[c] for c in self.waiting if self.eligible(c, agent, now))
        )
        assert self.score[call] == best, f"{call} offered out of order"


def test_three_agents_twenty_callers(
    app: Flask,
    client: FlaskClient,
    twilio: TwilioSigner,
    session: Session,
    redis_client: redis.Redis,
    fake_twilio: FakeTwilio,
    journey: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app.config.update(
        ROUTING_AGING_SECONDS=10,  # short, so aging shows among twenty seconds of arrivals
        ROUTING_LANGUAGE_WAIT_SECONDS=120,
        ROUTING_WRAP_UP_SECONDS=15,
        ROUTING_WAIT_LIMIT_SECONDS=450,  # the aymara caller reaches an interpreter before it
    )
    settings = RoutingSettings.from_config(app.config)
    clock = Clock()
    monkeypatch.setattr("routing.queue.now_ms", clock)
    monkeypatch.setattr("webhooks.queue.now_ms", clock)

    ana = add_agent(session, "Ana")
    beto = add_agent(session, "Beto", languages=("qu",))
    carla = add_agent(session, "Carla")
    add_speaker(session, "ay", "+51951000222")
    world = World(settings, {ana.id: (), beto.id: ("qu",), carla.id: ()})
    misses_left = {carla.id: 2}  # Carla does not answer her first two offers
    supervisor = {"Authorization": "Bearer supervisor-token"}
    seen = 0

    def post(url: str, params: dict[str, str]) -> Any:
        reply = twilio.post(url.removeprefix(BASE_URL), params)
        assert reply.status_code in (200, 204), reply.data
        return reply

    def set_state(agent_id: int, state: str) -> None:
        reply = client.post(
            f"/api/agents/{agent_id}/state", json={"state": state}, headers=supervisor
        )
        assert reply.status_code == 200, reply.json

    def handle_new_requests() -> None:
        """Play Twilio's part for every REST request the service made since last time."""
        nonlocal seen
        while seen < len(fake_twilio.sent):
            sent = fake_twilio.sent[seen]
            seen += 1
            if sent.operation == "member_update":
                url = sent.one("Url")
                call = sent.path.rsplit("/", 1)[-1].removesuffix(".json")
                if "/timeout" in url:
                    world.waiting.discard(call)
                    post(url, call_params(call))
                    world.outcome[call] = "callback"
                    continue
                agent_id = int(url.rsplit("agent=", 1)[1])
                world.check_offer(call, agent_id, clock.ms)
                world.waiting.discard(call)
                world.offers.append((call, agent_id, clock.ms))
                post(url, call_params(call))  # the bridge TwiML: the caller's conference
            elif sent.operation == "participant_create":
                # the agent's softphone, a participant of the caller's conference
                url = sent.one("StatusCallback")
                assert "/voice/queue/agent-participant-status?" in url
                call = url.split("call=", 1)[1].split("&", 1)[0]
                agent_id = int(url.split("agent=", 1)[1].split("&", 1)[0])
                assert sent.path.endswith(f"/Conferences/plataforma-{call}/Participants.json")
                leg = legs.conference(redis_client, call).agent_leg
                assert leg is not None
                if misses_left.get(agent_id, 0) > 0:
                    misses_left[agent_id] -= 1
                    post(url, call_params(leg, CallStatus="no-answer"))
                    world.waiting.add(call)  # back in place (the redirect below)
                    continue
                post(url, call_params(leg, CallStatus="in-progress"))  # answered
                world.talking[call] = (agent_id, clock.ms + HANDLE_SECONDS * 1000)
            elif sent.operation == "call_update" and "/voice/queue/requeue" in sent.one("Url"):
                call = sent.path.rsplit("/", 1)[-1].removesuffix(".json")
                post(sent.one("Url"), call_params(call))  # back in Twilio's queue

    for n, (second, priority, lang) in enumerate(CALLERS, start=1):
        world.arrival[sid(n)] = T0 + second * 1000
        world.score[sid(n)] = T0 + second * 1000 - settings.class_offset_ms(priority)
        world.lang[sid(n)] = lang

    for second in range(0, 1500):
        clock.ms = T0 + second * 1000
        for n, (arrival, priority, lang) in enumerate(CALLERS, start=1):
            if arrival == second:
                state = caller_state(sid(n), language=lang, **FIELDS[priority])
                world.waiting.add(sid(n))
                with app.test_request_context():
                    send_to_plataforma(VoiceResponse(), state, "menu")
        if second == 30:
            for agent in (ana, beto, carla):
                set_state(agent.id, "available")
        if second == 300:
            assert agents.presence(redis_client, carla.id).state == "paused"
            set_state(carla.id, "available")  # back from her break
        for n, at in HANGUPS.items():
            if at == second and sid(n) in world.waiting:
                world.waiting.discard(sid(n))
                post("/voice/queue/left", call_params(sid(n), QueueResult="hangup"))
                world.outcome[sid(n)] = "abandoned"
        for n, at in CALLBACK_KEY.items():
            if at == second and sid(n) in world.waiting:
                root = post("/voice/queue/wait-key", call_params(sid(n), Digits="1"))
                assert b"<Leave" in root.data
                world.waiting.discard(sid(n))
                post("/voice/queue/left", call_params(sid(n), QueueResult="leave"))
                world.outcome[sid(n)] = "callback"
        if second % 20 == 0:
            for call in sorted(world.waiting):
                reply = post("/voice/queue/wait", call_params(call, QueueSid="QU" + "1" * 32))
                if b"<Leave" in reply.data:  # the wait limit: Twilio calls the action
                    world.waiting.discard(call)
                    post("/voice/queue/left", call_params(call, QueueResult="leave"))
                    world.outcome[call] = "callback"
        for call, (agent_id, end) in sorted(world.talking.items()):
            if end <= clock.ms:
                del world.talking[call]
                post(
                    f"/voice/queue/dial-done?call={call}&agent={agent_id}",
                    call_params(call, DialCallStatus="completed", DialCallDuration=HANDLE_SECONDS),
                )
                world.outcome[call] = "served"
        if second % 10 == 0:
            sweep(from_app(), now=clock.ms)
        handle_new_requests()
        if len(world.outcome) == len(CALLERS) and not world.talking:
            break

    # Every caller is served, called back or registered abandoned.
    assert len(world.outcome) == len(CALLERS), sorted(
        set(map(sid, range(1, 21))) - set(world.outcome)
    )
    outcomes = sorted(world.outcome.values())
    assert {"served", "callback", "abandoned"} == set(outcomes)
    for call, outcome in world.outcome.items():
        events = steps(journey, call)
        if outcome == "served":
            assert ("agent_answered", None) in events and ("queue_left", "bridged") in events
        elif outcome == "abandoned":
            assert ("queue_left", "hangup") in events
        else:
            assert ("callback_requested", None) in events
    requests = {r.call_sid: r.source for r in session.scalars(select(CallbackRequest))}
    assert requests == {c: requests[c] for c, o in world.outcome.items() if o == "callback"}
    assert requests[sid(16)] == "cola"
    assert "limite_espera" in requests.values()  # the wait limit ended someone's wait
    # Skills: a quechua or aymara caller offered to an agent who does not speak the language
    # had waited the language wait, and was bridged in a conference with an interpreter dialed
    # in when the registry has one (aymara here; no quechua speaker is registered).
    for call, agent_id, at in world.offers:
        lang = world.lang[call]
        if lang != "es" and lang not in world.speaks[agent_id]:
            assert at - world.arrival[call] >= settings.language_wait_seconds * 1000
            offered = [s.one("StatusCallback") for s in fake_twilio.of("participant_create")]
            assert any(f"call={call}&agent={agent_id}" in url for url in offered)
    assert any(world.lang[c] == "qu" and a == beto.id for c, a, _ in world.offers)
    interpreter_calls = [s for s in fake_twilio.of("call_create") if s.one("To") == "+51951000222"]
    assert len(interpreter_calls) == 1 and f"call={sid(10)}" in interpreter_calls[0].one("Url")
    # Carla missed twice: paused, and the callers she missed kept their places (checked by
    # check_offer at every later offer).
    assert agents.presence(redis_client, carla.id).misses == 0  # reset when she came back
    # Priority with aging (10 s steps): the preferential caller who arrived at 4 s was offered
    # before the normal caller who arrived at 0 s; the authority of 17 s after the normal of 1 s.
    first_offer = [c for c, _, _ in world.offers]
    assert first_offer.index(sid(5)) < first_offer.index(sid(1))
    assert first_offer.index(sid(2)) < first_offer.index(sid(18))
