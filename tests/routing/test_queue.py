"""The waiting line's order: classes, arrival, aging, keeping one's place; position and wait."""

from __future__ import annotations

import redis

from register.events import Journal
from routing import agents
from routing import queue as line
from routing.dispatch import match
from routing.queue import CallerStatus, WaitingCaller
from routing.settings import RoutingSettings
from tests.routing.conftest import BASE, sid

S = RoutingSettings(aging_seconds=300, language_wait_seconds=120, wrap_up_seconds=0)


def served_order(r: redis.Redis, n: int, now: int) -> list[str]:
    """Serve n callers with one agent that is freed after each."""
    out = []
    for i in range(n):
        agents.set_state(r, 1, "available", languages=[], now=now + i, settings=S)
        [m] = match(r, now=now + i, settings=S)
        out.append(m.call_sid)
        agents.answered(r, m.call_sid, 1, now=now + i)
        agents.conversation_ended(r, m.call_sid, 1, now=now + i, handle_seconds=60, settings=S)
    return out


def test_preferential_then_authority_then_normal_then_arrival(redis_client: redis.Redis) -> None:
    arrivals = [
        ("normal", 1),
        ("authority", 2),
        ("normal", 3),
        ("preferential", 4),
        ("authority", 5),
    ]
    for priority, n in arrivals:
        line.enqueue(
            redis_client, sid(n), language="es", priority=priority, now=BASE + n, settings=S
        )
    order = served_order(redis_client, 5, BASE + 10)
    assert order == [sid(4), sid(2), sid(5), sid(1), sid(3)]


def test_a_normal_caller_who_waited_past_the_aging_time_goes_ahead_of_an_authority(
    redis_client: redis.Redis,
) -> None:
    line.enqueue(redis_client, sid(1), language="es", priority="normal", now=BASE, settings=S)
    later = BASE + 301_000  # more than aging_seconds later
    line.enqueue(redis_client, sid(2), language="es", priority="authority", now=later, settings=S)
    assert served_order(redis_client, 2, later + 1) == [sid(1), sid(2)]


def test_within_the_aging_time_the_authority_goes_first(redis_client: redis.Redis) -> None:
    line.enqueue(redis_client, sid(1), language="es", priority="normal", now=BASE, settings=S)
    line.enqueue(
        redis_client, sid(2), language="es", priority="authority", now=BASE + 299_000, settings=S
    )
    assert served_order(redis_client, 2, BASE + 300_000) == [sid(2), sid(1)]


def test_enqueue_twice_keeps_the_first_arrival(redis_client: redis.Redis) -> None:
    first = line.enqueue(
        redis_client, sid(1), language="es", priority="normal", now=BASE, settings=S
    )
    again = line.enqueue(
        redis_client, sid(1), language="es", priority="normal", now=BASE + 50, settings=S
    )
    assert first.is_new and not again.is_new
    assert again.arrival_ms == BASE
    assert line.waiting_count(redis_client) == 1


def test_a_caller_whose_agent_did_not_answer_keeps_their_place(redis_client: redis.Redis) -> None:
    for n in (1, 2, 3):
        line.enqueue(
            redis_client, sid(n), language="es", priority="normal", now=BASE + n, settings=S
        )
    agents.set_state(redis_client, 7, "available", languages=[], now=BASE, settings=S)
    [m] = match(redis_client, now=BASE + 10, settings=S)
    assert m.call_sid == sid(1)
    assert line.position(redis_client, sid(2)) == 1
    requeued, state = agents.missed(redis_client, sid(1), 7, now=BASE + 20, settings=S)
    assert requeued and state == "available"
    assert line.position(redis_client, sid(1)) == 1
    assert line.position(redis_client, sid(2)) == 2


def test_position_counts_every_caller_ahead_in_our_order(redis_client: redis.Redis) -> None:
    line.enqueue(redis_client, sid(1), language="es", priority="normal", now=BASE, settings=S)
    line.enqueue(redis_client, sid(2), language="qu", priority="normal", now=BASE + 1, settings=S)
    line.enqueue(
        redis_client, sid(3), language="es", priority="preferential", now=BASE + 2, settings=S
    )
    assert line.position(redis_client, sid(3)) == 1
    assert line.position(redis_client, sid(1)) == 2
    assert line.position(redis_client, sid(2)) == 3
    assert line.position(redis_client, "CAunknown") is None


def test_the_wait_estimate_comes_from_the_place_recent_handle_times_and_staffed_agents(
    redis_client: redis.Redis,
) -> None:
    for n in (1, 2, 3):
        line.enqueue(
            redis_client, sid(n), language="es", priority="normal", now=BASE + n, settings=S
        )
    first, third = line.caller(redis_client, sid(1)), line.caller(redis_client, sid(3))
    assert first and third
    # No agent staffing the line: the place still counts, the wait assumes one agent.
    assert line.wait_estimate(redis_client, third, S) == line.WaitEstimate(3, 0, 9)  # 180 s
    redis_client.lpush("rt:ht", 120, 120)
    for a in (1, 2):
        agents.set_state(redis_client, a, "available", languages=[], now=BASE, settings=S)
    assert line.wait_estimate(redis_client, third, S) == line.WaitEstimate(3, 2, 4)  # 2 rounds
    assert line.wait_estimate(redis_client, first, S) == line.WaitEstimate(1, 2, 2)


def test_a_caller_offered_since_they_were_read_gets_no_estimate(
    redis_client: redis.Redis,
) -> None:
    line.enqueue(redis_client, sid(1), language="es", priority="normal", now=BASE, settings=S)
    read = line.caller(redis_client, sid(1))
    assert read and read.status is CallerStatus.WAITING
    agents.set_state(redis_client, 7, "available", languages=[], now=BASE, settings=S)
    [m] = match(redis_client, now=BASE + 10, settings=S)
    assert m.call_sid == sid(1)
    assert line.wait_estimate(redis_client, read, S) is None


def test_a_caller_who_hangs_up_leaves_at_once_and_is_registered_abandoned(
    redis_client: redis.Redis,
) -> None:
    line.enqueue(redis_client, sid(1), language="es", priority="normal", now=BASE, settings=S)
    journal = Journal()
    assert line.caller_hung_up(redis_client, journal, sid(1), now=BASE + 42_000)
    assert not line.caller_hung_up(redis_client, journal, sid(1), now=BASE + 43_000)  # idempotent
    assert line.waiting_count(redis_client) == 0
    assert [(e["step"], e["choice"]) for e in journal.events] == [("queue_left", "hangup")]
    assert journal.events[0]["data"] == {"wait_seconds": 42}


def test_a_caller_who_hangs_up_while_offered_frees_the_agent(redis_client: redis.Redis) -> None:
    line.enqueue(redis_client, sid(1), language="es", priority="normal", now=BASE, settings=S)
    agents.set_state(redis_client, 3, "available", languages=[], now=BASE, settings=S)
    match(redis_client, now=BASE + 1, settings=S)
    assert agents.presence(redis_client, 3).state == "ringing"
    line.caller_hung_up(redis_client, Journal(), sid(1), now=BASE + 2)
    assert agents.presence(redis_client, 3).state == "available"


def test_callers_at_the_wait_limit_leave_the_line(redis_client: redis.Redis) -> None:
    settings = RoutingSettings(wait_limit_seconds=60)
    line.enqueue(
        redis_client, sid(1), language="es", priority="normal", now=BASE, settings=settings
    )
    line.enqueue(
        redis_client, sid(2), language="es", priority="normal", now=BASE + 30_000, settings=settings
    )
    assert line.timed_out(redis_client, now=BASE + 60_000, settings=settings) == [sid(1)]
    caller = line.caller(redis_client, sid(1))
    assert caller is not None and caller.status is CallerStatus.TIMEOUT
    assert line.position(redis_client, sid(2)) == 1


def test_the_line_returns_a_typed_record_of_each_caller(redis_client: redis.Redis) -> None:
    assert line.caller(redis_client, sid(1)) is None
    line.enqueue(redis_client, sid(1), language="qu", priority="authority", now=BASE, settings=S)
    waiting = line.caller(redis_client, sid(1))
    assert waiting == WaitingCaller(
        call_sid=sid(1),
        status=CallerStatus.WAITING,
        language="qu",
        priority="authority",
        score=BASE - S.class_offset_ms("authority"),
        arrival_ms=BASE,
        line="qu",
        agent_id=None,
        interpreter=False,
        bridge_served=False,
        timeout_logged=False,
        handoff=None,
    )
    agents.set_state(redis_client, 4, "available", languages=[], now=BASE, settings=S)
    match(redis_client, now=BASE + S.language_wait_seconds * 1000, settings=S)  # overflowed
    offered = line.caller(redis_client, sid(1))
    assert offered is not None and offered.is_offered_to(4) and not offered.is_offered_to(5)
    assert (offered.line, offered.interpreter, offered.connected_agent) == ("x", True, None)
    agents.answered(redis_client, sid(1), 4, now=BASE + 1)
    line.mark_bridge_served(redis_client, sid(1))
    bridged = line.caller(redis_client, sid(1))
    assert bridged is not None and bridged.connected_agent == 4 and bridged.bridge_served
    assert line.claim_handoff(redis_client, sid(1), "red")
    assert not line.claim_handoff(redis_client, sid(1), "presencial")
    handed = line.caller(redis_client, sid(1))
    assert handed is not None and handed.handoff == "red"
