"""Estimated wait for a newly issued ticket: people ahead, the counters serving its queue, service times.

A counter that serves several services gives each a share of its time, more to the services it
prefers: rank 0 counts 1, rank 1 counts 1/2, rank 2 counts 1/3, normalised over the counter's list.
The measured mean service time of the last tickets replaces the configured default once there are
enough of them. The day simulation (`make bench`) measures how far printed estimates fall from the
waits that followed.
"""

from __future__ import annotations

from collections.abc import Sequence


def counter_share(rank: int, n_services: int) -> float:
    """The share of a counter's time that goes to its `rank`-th service (0 = first preference)."""
    weights = [1 / (i + 1) for i in range(n_services)]
    return weights[rank] / sum(weights)


def estimate_wait(*, ahead: int, counters: Sequence[tuple[int, int, str, bool]],
                  recent_mean_s: float | None, default_s: float) -> int:
    """Seconds until a ticket with `ahead` people before it is called.

    `counters`: (rank of the service at the counter, number of services it serves, status, busy) for
    every counter that serves the service. Closed counters count only when none is open (the
    center has not opened yet: assume it will staff as configured).
    """
    handling = recent_mean_s if recent_mean_s and recent_mean_s > 0 else default_s
    open_counters = [c for c in counters if c[2] == "open"]
    pool = open_counters or [c for c in counters if c[2] != "paused"] or list(counters)
    if not pool:
        return int(round((ahead + 1) * handling))
    free = sum(1 for c in open_counters if not c[3])
    if ahead < free:
        return 0
    capacity = sum(counter_share(rank, n) for rank, n, _, _ in pool)
    # On average the counters in use are half-way through their current citizen.
    busy_remaining = handling / 2
    return int(round(busy_remaining + (ahead - free) * handling / capacity))
