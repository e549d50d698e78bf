"""Erlang C: how many counters a queue needs for a target service level.

Load A = λ·AHT (in Erlangs). With N counters (N > A) the probability that a citizen has to wait is
Erlang C; the share called within T is 1 − P(wait)·exp(−(N−A)·T/AHT); the mean wait is
P(wait)·AHT/(N−A). Computed through the Erlang B recursion, which stays stable for large N.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MAX_COUNTERS = 500


def erlang_b(n: int, load: float) -> float:
    """Blocking probability with n servers and `load` Erlangs (B(0) = 1, B(k) = A·B/(k + A·B))."""
    b = 1.0
    for k in range(1, n + 1):
        b = load * b / (k + load * b)
    return b


def p_wait(n: int, load: float) -> float:
    """Erlang C: probability that an arrival waits. 1 when the counters cannot keep up (n ≤ A)."""
    if load <= 0:
        return 0.0
    if n <= load:
        return 1.0
    b = erlang_b(n, load)
    return n * b / (n - load * (1 - b))


def service_level(n: int, load: float, aht_s: float, target_s: float) -> float:
    """Share of arrivals called within `target_s` seconds."""
    if load <= 0:
        return 1.0
    if n <= load:
        return 0.0
    return 1.0 - p_wait(n, load) * math.exp(-(n - load) * target_s / aht_s)


def mean_wait(n: int, load: float, aht_s: float) -> float:
    """Mean waiting time in seconds (infinite when n ≤ A)."""
    if load <= 0:
        return 0.0
    if n <= load:
        return math.inf
    return p_wait(n, load) * aht_s / (n - load)


@dataclass(frozen=True)
class Staffing:
    counters: int
    load: float
    p_wait: float
    service_level: float
    mean_wait_s: float


def evaluate(n: int, arrivals_per_hour: float, aht_s: float, target_s: float) -> Staffing:
    load = arrivals_per_hour * aht_s / 3600.0
    return Staffing(n, load, p_wait(n, load), service_level(n, load, aht_s, target_s), mean_wait(n, load, aht_s))


def counters_needed(arrivals_per_hour: float, aht_s: float, target_s: float, target_sl: float) -> Staffing:
    """The fewest counters whose service level reaches `target_sl` (0 when nobody arrives)."""
    if arrivals_per_hour <= 0 or aht_s <= 0:
        return Staffing(0, 0.0, 0.0, 1.0, 0.0)
    load = arrivals_per_hour * aht_s / 3600.0
    n = max(1, math.floor(load) + 1)
    while n < MAX_COUNTERS:
        if service_level(n, load, aht_s, target_s) >= target_sl:
            break
        n += 1
    return evaluate(n, arrivals_per_hour, aht_s, target_s)
