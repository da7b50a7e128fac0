"""The live channel's bus: messages and tickets."""

from __future__ import annotations

import orjson
import pytest
import redis

import livebus


def test_a_ticket_grants_its_topics_only_with_the_right_secret() -> None:
    token = livebus.ticket("s3cret", 7, ["agent:3", "line", "agent:3"])
    assert livebus.topics_of("s3cret", token) == (7, ["agent:3", "line"])
    assert livebus.topics_of("other", token) is None
    assert livebus.topics_of("s3cret", token[:-2] + "xx") is None


def test_a_stale_ticket_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    token = livebus.ticket("s3cret", 7, ["line"])
    assert livebus.topics_of("s3cret", token, max_age=-1) is None


def test_publish_reaches_a_subscriber(redis_client: redis.Redis) -> None:
    pubsub = redis_client.pubsub()
    pubsub.subscribe(livebus.channel("agent:3"))
    pubsub.get_message(timeout=1)  # the subscription's confirmation
    livebus.publish(redis_client, "agent:3", "state", {"estado": "disponible"})
    got = pubsub.get_message(timeout=2)
    pubsub.close()
    assert got is not None
    body = orjson.loads(got["data"])
    assert body["event"] == "state" and body["data"] == {"estado": "disponible"}
    assert body["ts"] > 0
