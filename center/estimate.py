"""Estimated wait: replay the current queue through the counters that are open, with measured times.

A counter serves its services in order of preference (it takes its second service only when its first
has nobody waiting), and the priority policy decides between classes, so "people ahead ÷ counters"
is wrong whenever counters are shared: the counter that lists a service first gives it all of its
time while that queue is long. So the estimate dispatches the waiting tickets, in the engine's own
order, to the counters as each becomes free, using each service's recent handling time (call to end
of service, which includes walking up and no-shows), and reads off when a new ticket would be called.
Future arrivals are ignored. The day simulation (`make bench`) measures the error.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

MAX_REPLAY = 300  # beyond this many waiting tickets, fall back to the simple formula (bounded work)
MAX_NEWCOMERS = 100
DEFAULT_CV = 0.6  # spread of handling times until a service has enough measured ones


@dataclass
class CounterLoad:
    services: tuple[str, ...]  # in order of preference
    status: str  # open, paused, closed
    busy_remaining_s: float  # expected seconds until its current citizen is done; 0 when free
    streak: int = 0  # normal calls since the last priority call (interleaved policy)


@dataclass(frozen=True)
class Waiting:
    id: int
    service: str
    priority: bool
    target_counter: int | None  # index into the counters list, for tickets transferred to a counter
    waited_s: float = 0.0  # already waited now (aging makes long waiters go first)


def estimate_wait(*, queue: Sequence[Waiting], ticket_id: int, counters: Sequence[CounterLoad],
                  handling_s: dict[str, float], strict: bool, interleave_every: int, aging_s: float = 1e12,
                  arrivals_per_s: dict[str, float] | None = None) -> int | None:
    """Seconds until `ticket_id` (one of `queue`, which is in first-come order) is called, or None
    when no counter serves its service.

    `arrivals_per_s`: the recent arrival rate per service; newcomers of a counter's preferred services
    (and long waiters, through aging) are called before a ticket of a service the counter lists later.
    """
    mine = next((w for w in queue if w.id == ticket_id), None)
    if mine is None:
        return None
    pool = [c for c in counters if c.status == "open"] or [c for c in counters if c.status != "paused"]
    serving = [c for c in pool if mine.service in c.services or (mine.target_counter is not None)]
    if not serving:
        return None
    if len(queue) > MAX_REPLAY:
        return _rough(queue, mine, serving, handling_s)
    index = {id(c): i for i, c in enumerate(counters)}
    lines = _Lines(queue)
    # Every working counter takes part, not only those serving our service: a counter that serves our
    # service second is free for us only when the other counters sharing its first service keep up.
    # Newcomers of every service those counters serve take their time too (a few dozen suffice).
    served = {s for c in pool for s in c.services}
    future = _arrivals(arrivals_per_s or {}, served, cap=min(len(queue) + 40, MAX_NEWCOMERS))
    streak = {id(c): c.streak for c in pool}
    heap = [(c.busy_remaining_s, index[id(c)], c) for c in pool]
    heapq.heapify(heap)
    idle: dict[int, CounterLoad] = {}  # counters with nothing to take, woken by a newcomer they serve
    for _ in range(20 * MAX_REPLAY):
        if future and (not heap or future[0][0] <= heap[0][0]):
            t, n, service = heapq.heappop(future)
            lines.add(Waiting(-1000 - n, service, False, None, waited_s=-t))
            for i, counter in list(idle.items()):
                if service in counter.services:
                    del idle[i]
                    heapq.heappush(heap, (t, i, counter))
            continue
        if not heap:
            break
        at, i, counter = heapq.heappop(heap)
        pick = lines.next_for(counter, i, strict or streak[id(counter)] >= interleave_every, at, aging_s)
        if pick is None:
            idle[i] = counter
            continue
        if pick.id == ticket_id:
            return int(round(at))
        streak[id(counter)] = 0 if pick.priority else streak[id(counter)] + 1
        heapq.heappush(heap, (at + handling_s.get(pick.service, 300.0), i, counter))
    return None


class _Lines:
    """The waiting tickets as first-come lines per (service or target counter, class): the best ticket
    for a counter is always at the head of one of its lines, so a pick costs a few comparisons."""

    def __init__(self, queue: Sequence[Waiting]):
        self.lines: dict[tuple[object, bool], deque[tuple[int, Waiting]]] = {}
        self.n = 0
        for w in queue:
            self.add(w)

    def add(self, w: Waiting) -> None:
        key = (("counter", w.target_counter) if w.target_counter is not None else w.service, w.priority)
        self.lines.setdefault(key, deque()).append((self.n, w))
        self.n += 1

    def next_for(self, counter: CounterLoad, index: int, priority_due: bool, at: float,
                 aging_s: float) -> Waiting | None:
        """The engine's order for one counter: long waiters first (aging), then its transferred tickets,
        then class, preference and arrival."""
        best_key, best_line = None, None
        sources = [(("counter", index), -1)] + [(s, rank) for rank, s in enumerate(counter.services)]
        for source, rank in sources:
            for prio in (False, True):
                line = self.lines.get((source, prio))
                if not line:
                    continue
                pos, w = line[0]
                waited = w.waited_s + at
                if waited >= aging_s:
                    key = (0, -waited, 0, 0, pos)
                else:
                    klass = (0 if prio else 1) if priority_due else (1 if prio else 0)
                    key = (1, 0, klass, rank, pos)
                if best_key is None or key < best_key:
                    best_key, best_line = key, line
        return best_line.popleft()[1] if best_line is not None else None


def _arrivals(rates: dict[str, float], services: set[str], horizon_s: float = 4 * 3600, cap: int = 100) -> list:
    """Evenly spaced newcomers at each service's recent rate, as a heap of (time, n, service): the first
    `cap` of them in time order."""
    out: list[tuple[float, int, str]] = []
    for service, rate in rates.items():
        if service not in services or rate <= 0:
            continue
        gap = 1 / rate
        count = min(cap, int(horizon_s / gap))
        out.extend((gap * (k + 1), 0, service) for k in range(count))
    out.sort()
    return [(t, n, service) for n, (t, _, service) in enumerate(out[:cap])]


def remaining_s(mean_s: float, cv: float, elapsed_s: float) -> float:
    """Expected time left for a citizen at a counter since `elapsed_s`, when handling times follow a
    lognormal law with this mean and coefficient of variation: E[T − e | T > e]. A citizen who has
    already taken longer than usual is likely a long case, so the rest does not shrink to nothing."""
    if mean_s <= 0:
        return 0.0
    if cv <= 0.01:
        return max(mean_s - elapsed_s, 0.0)
    sigma = math.sqrt(math.log(1 + cv * cv))
    mu = math.log(mean_s) - sigma * sigma / 2
    if elapsed_s <= 0:
        return mean_s
    z = (math.log(elapsed_s) - mu) / sigma
    survive = 0.5 * math.erfc(z / math.sqrt(2))
    if survive < 1e-9:  # far beyond any usual case: fall back on the remaining-life tail shape
        return mean_s * 0.5
    partial = mean_s * 0.5 * math.erfc((z - sigma) / math.sqrt(2))  # E[T; T > e]
    return max(partial / survive - elapsed_s, 0.0)


def _rough(queue: Sequence[Waiting], mine: Waiting, pool: Sequence[CounterLoad], handling_s: dict[str, float]) -> int:
    """For very long queues: same-service tickets ahead × handling time ÷ counters (one pass)."""
    ahead = 0
    for w in queue:
        if w.id == mine.id:
            break
        ahead += w.service == mine.service
    handling = handling_s.get(mine.service, 300.0)
    return int(round(ahead * handling / max(1, len(pool))))
