"""Matching waiting callers to free agents.

``match`` is one atomic Lua script (routing/scripts.py MATCH): it ends wrap-ups that are over,
overflows language callers who waited too long for a speaker, then repeatedly pairs a caller
with an agent: while a quechua or aymara caller waits in their language's line and a speaker of
it is free, the lowest-scored such caller goes to the longest-idle speaker (before any caller
the rest of the staff could serve); otherwise the Spanish or overflowed caller with the lowest
score goes to the longest-idle agent (one who speaks no language, while language callers wait
for a speaker). ``dispatch`` then hands each pair to an rq job on the "default" queue, which makes the
REST call to Twilio (nothing slow runs in a webhook); the agent's new state (ringing) is
published on the live channel.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import redis
from rq import Queue, Retry

from routing import agents
from routing.queue import announce
from routing.scripts import scripts, text
from routing.settings import RoutingSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Match:
    call_sid: str
    agent_id: int
    interpreter: bool


def match(
    r: redis.Redis, *, now: int, settings: RoutingSettings, max_pairs: int = 50
) -> list[Match]:
    reply = scripts(r).match(args=[now, settings.language_wait_seconds * 1000, max_pairs])
    if reply:
        announce(r)
    return [
        Match(text(reply[i]), int(text(reply[i + 1])), text(reply[i + 2]) == "1")
        for i in range(0, len(reply), 3)
    ]


def dispatch(r: redis.Redis, jobs: Queue, *, now: int, settings: RoutingSettings) -> list[Match]:
    """Match what can be matched now and queue the Twilio side of each match (the job
    routing.jobs.connect_caller, enqueued by its dotted path)."""
    matches = match(r, now=now, settings=settings)
    for m in matches:
        log.info("caller %s offered to agent %s", m.call_sid, m.agent_id)
        agents.publish_state(r, m.agent_id)  # ringing, on the console and the board
        jobs.enqueue(
            "routing.jobs.connect_caller",
            m.call_sid,
            m.agent_id,
            job_timeout=30,
            retry=Retry(max=3, interval=[1, 3, 10]),
            meta={"call_sid": m.call_sid},
        )
    return matches


def try_dispatch(r: redis.Redis, jobs: Queue, *, now: int, settings: RoutingSettings) -> None:
    """dispatch() for webhooks: a Redis failure is logged, never raised (the sweep retries)."""
    try:
        dispatch(r, jobs, now=now, settings=settings)
    except redis.RedisError:
        log.exception("dispatch failed; the sweep will retry")
