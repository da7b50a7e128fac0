"""Erlang C: how many agents an hour needs so that a share of calls waits at most a target.

Traffic A = arrivals per hour × average handle time (s) / 3600, in Erlangs. With N agents
(N > A), the probability that a call waits is Erlang C; the share answered within t seconds
is 1 − C(N, A) · e^(−(N − A) · t / AHT). Computed through Erlang B's stable recurrence.
"""

from __future__ import annotations

import math


def erlang_b(agents: int, traffic: float) -> float:
    """Blocking probability of M/M/N/N (recurrence B(n) = A·B(n−1) / (n + A·B(n−1)))."""
    if agents < 0 or traffic < 0:
        raise ValueError("agents and traffic must not be negative")
    b = 1.0
    for n in range(1, agents + 1):
        b = traffic * b / (n + traffic * b)
    return b


def erlang_c(agents: int, traffic: float) -> float:
    """Probability that a call has to wait (M/M/N); 1.0 when the agents cannot keep up."""
    if traffic <= 0:
        return 0.0
    if agents <= traffic:
        return 1.0
    b = erlang_b(agents, traffic)
    return agents * b / (agents - traffic * (1 - b))


def service_level(agents: int, traffic: float, aht_seconds: float, target_seconds: float) -> float:
    """Share of calls answered within ``target_seconds``."""
    if traffic <= 0:
        return 1.0
    if agents <= traffic:
        return 0.0
    c = erlang_c(agents, traffic)
    return 1.0 - c * math.exp(-(agents - traffic) * target_seconds / aht_seconds)


def average_speed_of_answer(agents: int, traffic: float, aht_seconds: float) -> float:
    """Expected wait in seconds (infinite when the agents cannot keep up)."""
    if traffic <= 0:
        return 0.0
    if agents <= traffic:
        return math.inf
    return erlang_c(agents, traffic) * aht_seconds / (agents - traffic)


def agents_needed(
    calls_per_hour: float,
    aht_seconds: float,
    target_share: float = 0.8,
    target_seconds: float = 20.0,
) -> int:
    """The fewest agents that answer ``target_share`` of calls within ``target_seconds``."""
    if calls_per_hour <= 0 or aht_seconds <= 0:
        return 0
    traffic = calls_per_hour * aht_seconds / 3600.0
    agents = max(1, math.floor(traffic) + 1)
    while service_level(agents, traffic, aht_seconds, target_seconds) < target_share:
        agents += 1
    return agents
