"""Matching callers to agents: longest idle first, language skills (speakers take their
language's callers first), overflow with an
interpreter, wrap-up; invariants under random operations (hypothesis) and under concurrent
dispatchers."""

from __future__ import annotations

import contextlib
import threading

import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from register.events import Journal
from routing import agents
from routing import queue as line
from routing.dispatch import match
from routing.settings import RoutingSettings
from tests.routing.conftest import BASE, sid

S = RoutingSettings(aging_seconds=300, language_wait_seconds=120, wrap_up_seconds=30)


def test_the_longest_idle_agent_gets_the_next_caller(redis_client: redis.Redis) -> None:
    agents.set_state(redis_client, 1, "available", languages=[], now=BASE + 5, settings=S)
    agents.set_state(redis_client, 2, "available", languages=[], now=BASE + 1, settings=S)
    line.enqueue(redis_client, sid(1), language="es", priority="normal", now=BASE + 9, settings=S)
    [m] = match(redis_client, now=BASE + 10, settings=S)
    assert m.agent_id == 2 and not m.interpreter
    assert agents.presence(redis_client, 2).state == "ringing"
    assert agents.presence(redis_client, 1).state == "available"


def test_a_quechua_caller_is_offered_only_to_a_quechua_speaker(redis_client: redis.Redis) -> None:
    agents.set_state(redis_client, 1, "available", languages=["es"], now=BASE, settings=S)
    line.enqueue(redis_client, sid(1), language="qu", priority="normal", now=BASE, settings=S)
    assert match(redis_client, now=BASE + 1000, settings=S) == []
    agents.set_state(redis_client, 2, "available", languages=["es", "qu"], now=BASE, settings=S)
    [m] = match(redis_client, now=BASE + 2000, settings=S)
    assert (m.call_sid, m.agent_id, m.interpreter) == (sid(1), 2, False)


def test_a_spanish_caller_behind_a_waiting_quechua_caller_is_served(
    redis_client: redis.Redis,
) -> None:
    line.enqueue(redis_client, sid(1), language="qu", priority="normal", now=BASE, settings=S)
    line.enqueue(redis_client, sid(2), language="es", priority="normal", now=BASE + 1, settings=S)
    agents.set_state(redis_client, 1, "available", languages=[], now=BASE, settings=S)
    [m] = match(redis_client, now=BASE + 2, settings=S)
    assert m.call_sid == sid(2)


def test_a_free_quechua_speaker_takes_the_quechua_caller_before_an_earlier_spanish_one(
    redis_client: redis.Redis,
) -> None:
    # issue 11.4: the Spanish caller came first (even preferential), but anyone may serve them
    line.enqueue(redis_client, sid(1), language="es", priority="preferential", now=BASE, settings=S)
    line.enqueue(redis_client, sid(2), language="qu", priority="normal", now=BASE + 1, settings=S)
    agents.set_state(redis_client, 1, "available", languages=["es", "qu"], now=BASE, settings=S)
    [m] = match(redis_client, now=BASE + 2, settings=S)
    assert (m.call_sid, m.agent_id, m.interpreter) == (sid(2), 1, False)
    agents.set_state(redis_client, 2, "available", languages=["es"], now=BASE + 3, settings=S)
    [m2] = match(redis_client, now=BASE + 4, settings=S)
    assert (m2.call_sid, m2.agent_id) == (sid(1), 2)


def test_among_language_callers_priority_and_aging_still_order(redis_client: redis.Redis) -> None:
    line.enqueue(redis_client, sid(1), language="ay", priority="normal", now=BASE, settings=S)
    line.enqueue(
        redis_client, sid(2), language="ay", priority="authority", now=BASE + 1, settings=S
    )
    line.enqueue(redis_client, sid(3), language="es", priority="normal", now=BASE, settings=S)
    agents.set_state(redis_client, 1, "available", languages=["ay"], now=BASE, settings=S)
    [m] = match(redis_client, now=BASE + 2, settings=S)
    assert (m.call_sid, m.agent_id) == (sid(2), 1)


def test_after_the_language_wait_any_agent_takes_the_caller_with_an_interpreter(
    redis_client: redis.Redis,
) -> None:
    agents.set_state(redis_client, 1, "available", languages=[], now=BASE, settings=S)
    line.enqueue(redis_client, sid(1), language="ay", priority="normal", now=BASE, settings=S)
    assert match(redis_client, now=BASE + 119_999, settings=S) == []
    [m] = match(redis_client, now=BASE + 120_000, settings=S)
    assert (m.call_sid, m.agent_id, m.interpreter) == (sid(1), 1, True)


def test_an_agent_in_wrap_up_becomes_available_when_it_ends(redis_client: redis.Redis) -> None:
    agents.set_state(redis_client, 1, "available", languages=[], now=BASE, settings=S)
    line.enqueue(redis_client, sid(1), language="es", priority="normal", now=BASE, settings=S)
    match(redis_client, now=BASE, settings=S)
    agents.answered(redis_client, sid(1), 1, now=BASE + 1)
    agents.conversation_ended(
        redis_client, sid(1), 1, now=BASE + 60_000, handle_seconds=59, settings=S
    )
    line.enqueue(redis_client, sid(2), language="es", priority="normal", now=BASE + 1, settings=S)
    assert match(redis_client, now=BASE + 89_999, settings=S) == []
    assert agents.presence(redis_client, 1).state == "wrap_up"
    [m] = match(redis_client, now=BASE + 90_000, settings=S)
    assert m.agent_id == 1


def test_two_misses_in_a_row_pause_the_agent(redis_client: redis.Redis) -> None:
    for n in (1, 2):
        line.enqueue(
            redis_client, sid(n), language="es", priority="normal", now=BASE + n, settings=S
        )
    agents.set_state(redis_client, 1, "available", languages=[], now=BASE, settings=S)
    [m] = match(redis_client, now=BASE + 10, settings=S)
    assert agents.missed(redis_client, m.call_sid, 1, now=BASE + 20, settings=S) == (
        True,
        "available",
    )
    [m2] = match(redis_client, now=BASE + 30, settings=S)
    assert m2.call_sid == sid(1)  # kept their place
    assert agents.missed(redis_client, m2.call_sid, 1, now=BASE + 40, settings=S) == (
        True,
        "paused",
    )
    assert match(redis_client, now=BASE + 50, settings=S) == []
    assert agents.presence(redis_client, 1).misses == 2


def test_a_repeated_no_answer_report_counts_once(redis_client: redis.Redis) -> None:
    line.enqueue(redis_client, sid(1), language="es", priority="normal", now=BASE, settings=S)
    agents.set_state(redis_client, 1, "available", languages=[], now=BASE, settings=S)
    match(redis_client, now=BASE + 1, settings=S)
    agents.missed(redis_client, sid(1), 1, now=BASE + 2, settings=S)
    assert agents.missed(redis_client, sid(1), 1, now=BASE + 3, settings=S) == (False, "available")
    assert agents.presence(redis_client, 1).misses == 1


def test_an_agent_on_a_call_cannot_pause_until_it_ends(redis_client: redis.Redis) -> None:
    agents.set_state(redis_client, 1, "available", languages=[], now=BASE, settings=S)
    line.enqueue(redis_client, sid(1), language="es", priority="normal", now=BASE, settings=S)
    match(redis_client, now=BASE, settings=S)
    try:
        agents.set_state(redis_client, 1, "paused", languages=[], now=BASE, settings=S)
    except agents.StateRefused as exc:
        assert exc.current == "ringing"
    else:  # pragma: no cover
        raise AssertionError("pausing a ringing agent was accepted")


# --- Invariants under random operations ------------------------------------------------------

CLASSES = st.sampled_from(["normal", "authority", "preferential"])
LANGS = st.sampled_from(["es", "es", "qu", "ay"])
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("enqueue"), CLASSES, LANGS),
        st.tuples(st.just("available"), st.integers(1, 4), st.sampled_from([(), ("qu",), ("ay",)])),
        st.tuples(st.just("match"), st.just(None), st.just(None)),
        st.tuples(st.just("match"), st.just(None), st.just(None)),
        st.tuples(st.just("answer"), st.booleans(), st.just(None)),
        st.tuples(st.just("hangup"), st.integers(0, 30), st.just(None)),
        st.tuples(st.just("tick"), st.integers(1, 200), st.just(None)),
    ),
    max_size=40,
)


@settings(
    max_examples=60,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(ops=OPS)
def test_matching_honours_order_skills_and_never_double_books(
    redis_client: redis.Redis, ops: list
) -> None:
    redis_client.flushdb()
    now = BASE
    waiting: dict[str, tuple[float, str, int]] = {}  # sid -> (score, lang, arrival)
    free: dict[int, tuple[int, tuple[str, ...]]] = {}  # agent -> (idle since, langs)
    offered: dict[str, int] = {}  # sid -> agent (ringing)
    busy: dict[int, str] = {}  # agent -> sid
    offered_from: dict[str, tuple[float, str, int]] = {}
    agent_langs: dict[int, tuple[str, ...]] = {}
    wrapping: dict[int, tuple[int, tuple[str, ...]]] = {}  # agent -> (wrap-up end, langs)
    n = 0
    for kind, a, b in ops:
        now += 1000
        if kind == "enqueue":
            n += 1
            entry = line.enqueue(redis_client, sid(n), language=b, priority=a, now=now, settings=S)
            waiting[sid(n)] = (entry.score, b, now)
            assert entry.score == now - S.class_offset_ms(a)
        elif kind == "available" and a not in busy:
            agents.set_state(redis_client, a, "available", languages=list(b), now=now, settings=S)
            wrapping.pop(a, None)
            if a not in free:
                free[a] = (now, b)
        elif kind == "tick":
            now += a * 1000
        elif kind == "hangup" and waiting:
            victim = sorted(waiting)[a % len(waiting)]
            line.caller_hung_up(redis_client, Journal(), victim, now=now)
            del waiting[victim]
        elif kind == "answer" and offered:
            call, agent = next(iter(offered.items()))
            del offered[call]
            if a:
                assert agents.answered(redis_client, call, agent, now=now) is not None
                agents.conversation_ended(
                    redis_client, call, agent, now=now, handle_seconds=1, settings=S
                )
                del busy[agent]
                wrapping[agent] = (now + S.wrap_up_seconds * 1000, agent_langs[agent])
            else:
                requeued, state = agents.missed(redis_client, call, agent, now=now, settings=S)
                assert requeued
                waiting[call] = offered_from[call]
                del busy[agent]
                if state == "available":
                    free[agent] = (now, agent_langs[agent])
        elif kind == "match":
            for agent, (until, langs) in list(wrapping.items()):
                if until <= now:  # wrap-up over: available since its end
                    del wrapping[agent]
                    free[agent] = (until, langs)
            for m in match(redis_client, now=now, settings=S):
                score, lang, arrival = waiting[m.call_sid]

                def eligible(
                    call_lang: str, call_arrival: int, langs: tuple[str, ...], now: int = now
                ) -> bool:
                    return (
                        call_lang == "es"
                        or call_lang in langs
                        or now - call_arrival >= S.language_wait_seconds * 1000
                    )

                # no double booking
                assert m.call_sid not in offered and m.agent_id not in busy
                assert m.agent_id in free
                # skills
                assert eligible(lang, arrival, free[m.agent_id][1])
                assert m.interpreter == (lang != "es" and lang not in free[m.agent_id][1])
                # a free speaker takes the callers waiting for their language first (the
                # lowest score among them); else the lowest score among callers some free
                # agent may take
                claimed = [
                    s
                    for c, (s, lg, ar) in waiting.items()
                    if lg != "es"
                    and now - ar < S.language_wait_seconds * 1000
                    and any(lg in fl for _, fl in free.values())
                ]
                best = (
                    min(claimed)
                    if claimed
                    else min(
                        s
                        for c, (s, lg, ar) in waiting.items()
                        if any(eligible(lg, ar, fl) for _, fl in free.values())
                    )
                )
                assert score == best
                # the longest idle among agents who may take this caller, keeping speakers
                # free for the language callers waiting for them
                candidates = [
                    (since, fl) for since, fl in free.values() if eligible(lang, arrival, fl)
                ]
                if lang == "es" or now - arrival >= S.language_wait_seconds * 1000:
                    needed = {
                        lg
                        for c, (s, lg, ar) in waiting.items()
                        if lg != "es" and now - ar < S.language_wait_seconds * 1000
                    }
                    if needed:
                        plain = [(t, fl) for t, fl in candidates if not fl]
                        candidates = plain or candidates
                assert free[m.agent_id][0] == min(since for since, _ in candidates)
                offered_from[m.call_sid] = waiting.pop(m.call_sid)
                agent_langs[m.agent_id] = free.pop(m.agent_id)[1]
                offered[m.call_sid] = m.agent_id
                busy[m.agent_id] = m.call_sid
    # every waiting caller is in exactly one line
    assert line.waiting_count(redis_client) == len(waiting)


def test_concurrent_dispatchers_never_give_one_caller_or_one_agent_twice(
    redis_client: redis.Redis, redis_url: str
) -> None:
    callers, agent_count, threads = 300, 40, 6
    for n in range(callers):
        line.enqueue(
            redis_client, sid(n), language="es", priority="normal", now=BASE + n, settings=S
        )
    lock = threading.Lock()
    served: list[tuple[str, int]] = []
    on_call: set[int] = set()
    errors: list[BaseException] = []

    def worker(k: int) -> None:
        r = redis.Redis.from_url(redis_url)
        try:
            for round_ in range(200):
                # free an agent (refused while it is busy), then race to match and to finish
                with contextlib.suppress(agents.StateRefused):
                    agents.set_state(
                        r,
                        (k * 7 + round_) % agent_count,
                        "available",
                        languages=[],
                        now=BASE,
                        settings=S,
                    )
                for m in match(r, now=BASE + 1000, settings=S, max_pairs=3):
                    with lock:
                        assert m.agent_id not in on_call, "one agent given two callers"
                        on_call.add(m.agent_id)
                        served.append((m.call_sid, m.agent_id))
                    assert agents.answered(r, m.call_sid, m.agent_id, now=BASE + 1001) is not None
                    with lock:
                        on_call.discard(m.agent_id)
                    assert agents.conversation_ended(
                        r,
                        m.call_sid,
                        m.agent_id,
                        now=BASE + 1002,
                        handle_seconds=1,
                        settings=RoutingSettings(wrap_up_seconds=0),
                    )
        except BaseException as exc:  # noqa: BLE001 - reported to the main thread
            errors.append(exc)

    pool = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert not errors, errors
    sids = [s for s, _ in served]
    assert len(sids) == len(set(sids))  # no caller given twice
    assert len(served) + line.waiting_count(redis_client) == callers
    assert len(served) > callers // 2
