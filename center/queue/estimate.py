"""Estimated wait: replay the current queue through the counters that are open, with measured times.

A counter serves its services in order of preference (it takes its second service only when its first
has nobody waiting), and the priority policy decides between classes, so "people ahead ÷ counters"
is wrong whenever counters are shared: the counter that lists a service first gives it all of its
time while that queue is long. So the estimate dispatches the waiting tickets, in the engine's own
order, to every open counter as each becomes free (a counter that helps with our service second is
only free for us when the counters of its first service keep up), using each service's recent handling
time (call to end of service, which includes walking up and no-shows), with newcomers at the recent
arrival rate until the site stops issuing, and reads off when a new ticket would be called.

A citizen already at a counter is expected to take the lognormal mean residual time given how long they
have been there (a long case stays long), and with a short queue the replay is run a few times with
those remaining times at spread quantiles, the median being the estimate (several busy counters: the
first to be free comes sooner than the shortest expected remaining time). The day simulation
(`make bench`) measures the error; `python -m benchmarks.estimate_lab` replays the same day in seconds.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import NormalDist
from zoneinfo import ZoneInfo

from ..config.model import WEEKDAYS, Site
from .policy import RECENT_CALLS, CallingOrder, Seat

MAX_REPLAY = 300  # beyond this many waiting tickets, fall back to the simple formula (bounded work)
MAX_NEWCOMERS = 100
DEFAULT_CV = 0.6  # spread of handling times until a service has enough measured ones
DRAWS = 7  # replays with the busy counters' remaining times at spread quantiles (a prime)
MAX_DRAWN_QUEUE = 40  # longer queues: one replay with the expected remaining times (bounded work)
_NORMAL = NormalDist()

# The printed wait is a range, not a point: the point estimate's median error is ~30 % and no estimate can
# do much better on a ward day (benchmarks/estimate_lab.py --oracle: 25.8–26.4 %), so a single figure
# promises what nobody can keep. WAIT_RANGE_LEVEL of citizens should wait a time inside their range:
# 70 %, because a citizen uses the range to decide whether to step out, and the range must be short
# enough to plan by (an 80–90 % range on this workload spans half an hour for a 20-minute estimate,
# a 50 % range is wrong as often as right). Bounds are multiples of 5 minutes (read at a glance; the
# rounding counts in the measured coverage). For an estimate from `from_min` minutes up, the range is
# [low × estimate, high × estimate], each rounded to 5 minutes: per estimate band, the narrowest such
# range that held at least 70 % of the actual waits over 150 simulated days (seeds 20270001–150, not the
# 24 evaluation days), derived and printed by
#     python -m benchmarks.estimate_lab --calibrate 150
# and measured by `python -m benchmarks.estimate_lab --seeds 24` (BENCHMARKS.md, Day simulation).
WAIT_RANGE_LEVEL = 0.70
WAIT_RANGE_STEP_S = 300
WAIT_RANGE: tuple[tuple[float, float, float], ...] = (  # (from_min, low, high), by rising from_min
    (0, 0.0, 0.5), (3, 0.0, 2.1), (4, 0.0, 1.8), (5, 0.0, 1.5), (7, 0.3, 1.8), (10, 0.25, 1.85),
    (13, 0.2, 1.7), (16, 0.4, 1.55), (20, 0.55, 1.55), (25, 0.65, 1.45), (30, 0.6, 1.35), (40, 0.7, 1.4),
    (50, 0.65, 1.35), (60, 0.7, 1.3), (75, 0.65, 1.25), (90, 0.7, 1.3), (120, 0.7, 1.25),
)


class Arrivals(dict):
    """Recent arrival rate per service (per second), and for how long newcomers keep coming (until the
    site stops issuing)."""

    def __init__(self, rates: dict[str, float], until_s: float = 4 * 3600.0):
        super().__init__(rates)
        self.until_s = until_s


def session_start(moment: datetime, site: Site, tz: ZoneInfo) -> datetime | None:
    """Start of the opening interval `moment` falls in (e.g. 13:30 after lunch), or None when closed."""
    local = moment.astimezone(tz).replace(tzinfo=None)
    for start, end in site.hours[WEEKDAYS[local.weekday()]]:
        s = datetime.combine(local.date(), start)
        e = datetime.combine(local.date(), end) if end is not None else s.replace(hour=0) + timedelta(days=1)
        if s <= local < e:
            return s.replace(tzinfo=tz)
    return None


@dataclass
class CounterLoad:
    services: tuple[str, ...]  # in order of preference
    status: str  # open, paused, closed
    busy_remaining_s: float  # expected seconds until its current citizen is done; 0 when free
    streak: int = 0  # normal calls since the last priority call (interleaved policy)
    # The current citizen's handling time law (mean, coefficient of variation) and time spent so far, when
    # busy: the replays draw the remaining time from it. busy_mean_s = 0: busy_remaining_s is certain.
    busy_mean_s: float = 0.0
    busy_cv: float = 0.0
    busy_elapsed_s: float = 0.0
    recent: tuple[bool, ...] = ()  # whether each of its last calls was a booking, newest last (the fair merge)


@dataclass(frozen=True)
class Waiting:
    id: int
    service: str
    priority: bool
    target_counter: int | None  # index into the counters list, for tickets transferred to a counter
    waited_s: float = 0.0  # already waited now (aging makes long waiters go first); < 0: a booked slot to come
    booked: bool = False  # checked in with a booking (queue_at is its slot time)


def estimate_wait(*, queue: Sequence[Waiting], ticket_id: int, counters: Sequence[CounterLoad],
                  handling_s: dict[str, float], strict: bool, interleave_every: int, aging_s: float = 1e12,
                  arrivals_per_s: dict[str, float] | None = None, draws: int = DRAWS,
                  order: CallingOrder | None = None) -> int | None:
    """Seconds until `ticket_id` (one of `queue`, which is in first-come order) is called, or None
    when no counter serves its service.

    `arrivals_per_s`: the recent arrival rate per service; newcomers of a counter's preferred services
    (and long waiters, through aging) are called before a ticket of a service the counter lists later.

    When counters are busy with a citizen whose handling time is uncertain (`CounterLoad.busy_mean_s`)
    and the queue is short, the replay runs `draws` times with those remaining times at evenly spread
    quantiles of their distribution, and the median is the estimate: with several busy counters the
    first one to be free comes sooner than the shortest of their expected remaining times.

    `order`: the calling order with the fair merge of bookings (the rules' order without it when None).
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
    # Every working counter takes part, not only those serving our service: a counter that serves our
    # service second is free for us only when the other counters sharing its first service keep up.
    # Newcomers of every service those counters serve take their time too (a few dozen suffice).
    served = {s for c in pool for s in c.services}
    rates = arrivals_per_s or {}
    future = _arrivals(rates, served, horizon_s=getattr(rates, "until_s", 4 * 3600.0),
                       cap=min(len(queue) + 40, MAX_NEWCOMERS))
    workers = [(index[id(c)], c) for c in pool]
    uncertain = [k for k, (_, c) in enumerate(workers) if c.busy_mean_s > 0]
    if draws <= 1 or not uncertain or len(queue) > MAX_DRAWN_QUEUE:
        at = _replay(queue, ticket_id, workers, [c.busy_remaining_s for _, c in workers], future, handling_s,
                     strict, interleave_every, aging_s, order=order)
        return None if at is None else int(round(at))
    results = []
    for j in range(draws):
        busy = [c.busy_remaining_s for _, c in workers]
        for n, k in enumerate(uncertain):
            c = workers[k][1]
            # Counter n takes quantile ((1 + n mod (draws − 1)) · j + n) mod draws: every quantile once per
            # counter, in a different order for each (draws is prime), so the draws are spread jointly.
            q = (((1 + n % (draws - 1)) * j + n) % draws + 0.5) / draws
            busy[k] = remaining_quantile(c.busy_mean_s, c.busy_cv, c.busy_elapsed_s, q)
        at = _replay(queue, ticket_id, workers, busy, future, handling_s, strict, interleave_every, aging_s,
                     order=order)
        if at is not None:
            results.append(at)
    if not results:
        return None
    results.sort()
    return int(round(results[len(results) // 2]))


def _replay(queue: Sequence[Waiting], ticket_id: int, workers: list[tuple[int, CounterLoad]], busy: list[float],
            future: list, handling_s: dict[str, float], strict: bool, interleave_every: int,
            aging_s: float, calls: list[tuple[float, int, int]] | None = None,
            order: CallingOrder | None = None) -> float | None:
    """One replay: when `ticket_id` is called, the counters being free after `busy` seconds. `calls`, when
    given, receives every call (seconds from now, counter index, ticket id) in order. `order` (with the fair
    merge of bookings) replaces the one made of strict, interleave_every and aging_s."""
    lines = _Lines(queue)
    future = list(future)
    order = order or CallingOrder(strict, interleave_every, aging_s)
    streak = {i: c.streak for i, c in workers}
    recent = {i: c.recent for i, c in workers}
    seats = {(i, due, w): Seat(i, c.services, due, w) for i, c in workers for due in (False, True)
             for w in (False, True)}
    heap = [(b, i, c) for (i, c), b in zip(workers, busy, strict=True)]
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
        walkin = order.fair and order.walkin_due(recent[i], lines.longest_walkin(seats[(i, False, False)], at))
        pick = lines.next_for(order, seats[(i, order.priority_due(streak[i]), walkin)], at)
        if pick is None:
            idle[i] = counter
            continue
        if calls is not None:
            calls.append((at, i, pick.id))
        if pick.id == ticket_id:
            return at
        streak[i] = order.after_call(streak[i], pick.priority)
        recent[i] = (*recent[i], pick.booked)[-(RECENT_CALLS - 1):]
        heapq.heappush(heap, (at + handling_s.get(pick.service, 300.0), i, counter))
    return None


class _Lines:
    """The waiting tickets as first-come lines per (service or target counter, class, booked): the best ticket
    for a counter is always at the head of one of its lines, so a pick costs a few comparisons."""

    def __init__(self, queue: Sequence[Waiting]):
        self.lines: dict[tuple[object, bool, bool], deque[tuple[tuple[float, int], Waiting]]] = {}
        self.n = 0
        for w in queue:
            self.add(w)

    def add(self, w: Waiting) -> None:
        key = (("counter", w.target_counter) if w.target_counter is not None else w.service, w.priority, w.booked)
        # Arrival: queue_at (as seconds from now), then order of joining: a booking's slot may lie ahead.
        self.lines.setdefault(key, deque()).append(((-w.waited_s, self.n), w))
        self.n += 1

    def longest_walkin(self, seat: Seat, at: float) -> float | None:
        """How long the longest-waiting walk-in the seat may call has waited at `at`, or None."""
        waits = [line[0][1].waited_s + at for source in [("counter", seat.ident), *seat.services]
                 for prio in (False, True) if (line := self.lines.get((source, prio, False)))]
        return max(waits, default=None)

    def next_for(self, order: CallingOrder, seat: Seat, at: float) -> Waiting | None:
        """The engine's order (center/queue/policy.py) for one counter at `at` seconds from now: the smallest key
        among the heads of the lines it may call (each line is in that order already)."""
        best_key, best_line = None, None
        sources = [("counter", seat.ident), *seat.services]
        for source in sources:
            for prio in (False, True):
                for booked in (False, True):
                    line = self.lines.get((source, prio, booked))
                    if not line:
                        continue
                    pos, w = line[0]
                    key = order.key(seat, w, w.waited_s + at, pos)
                    if best_key is None or key < best_key:
                        best_key, best_line = key, line
        return best_line.popleft()[1] if best_line is not None else None


def _arrivals(rates: dict[str, float], services: set[str], horizon_s: float = 4 * 3600, cap: int = 100) -> list:
    """Evenly spaced newcomers at each service's recent rate, as a heap of (time, n, service): the first
    `cap` of them in time order. The k-th newcomer comes at (k − ½) gaps, so that by any time the replay
    has had the expected number of newcomers rounded, not rounded down (one every 40 minutes counts
    within the next 20)."""
    out: list[tuple[float, str]] = []
    for service, rate in rates.items():
        if service not in services or rate <= 0:
            continue
        gap = 1 / rate
        count = min(cap, int(horizon_s / gap + 0.5))
        out.extend((gap * (k + 0.5), service) for k in range(count))
    out.sort()
    return [(t, n, service) for n, (t, service) in enumerate(out[:cap])]


def _lognormal(mean_s: float, cv: float) -> tuple[float, float]:
    """(mu, sigma) of the lognormal law with this mean and coefficient of variation."""
    sigma = math.sqrt(math.log(1 + cv * cv))
    return math.log(mean_s) - sigma * sigma / 2, sigma


def remaining_s(mean_s: float, cv: float, elapsed_s: float) -> float:
    """Expected time left for a citizen at a counter since `elapsed_s`, when handling times follow a
    lognormal law with this mean and coefficient of variation: E[T − e | T > e]. A citizen who has
    already taken longer than usual is likely a long case, so the rest does not shrink to nothing."""
    if mean_s <= 0:
        return 0.0
    if cv <= 0.01:
        return max(mean_s - elapsed_s, 0.0)
    mu, sigma = _lognormal(mean_s, cv)
    if elapsed_s <= 0:
        return mean_s
    z = (math.log(elapsed_s) - mu) / sigma
    survive = 0.5 * math.erfc(z / math.sqrt(2))
    if survive < 1e-9:  # far beyond any usual case: fall back on the remaining-life tail shape
        return mean_s * 0.5
    partial = mean_s * 0.5 * math.erfc((z - sigma) / math.sqrt(2))  # E[T; T > e]
    return max(partial / survive - elapsed_s, 0.0)


def remaining_quantile(mean_s: float, cv: float, elapsed_s: float, q: float) -> float:
    """The q-quantile of the time left (T − e given T > e) for lognormal handling times with this mean
    and coefficient of variation."""
    if mean_s <= 0:
        return 0.0
    if cv <= 0.01:
        return max(mean_s - elapsed_s, 0.0)
    mu, sigma = _lognormal(mean_s, cv)
    done = _NORMAL.cdf((math.log(elapsed_s) - mu) / sigma) if elapsed_s > 0 else 0.0
    u = min(max(done + (1 - done) * q, 1e-12), 1 - 1e-12)
    return max(math.exp(mu + sigma * _NORMAL.inv_cdf(u)) - elapsed_s, 0.0)


def _rough(queue: Sequence[Waiting], mine: Waiting, pool: Sequence[CounterLoad], handling_s: dict[str, float]) -> int:
    """For very long queues: same-service tickets ahead × handling time ÷ counters (one pass)."""
    ahead = 0
    for w in queue:
        if w.id == mine.id:
            break
        ahead += w.service == mine.service
    handling = handling_s.get(mine.service, 300.0)
    return int(round(ahead * handling / max(1, len(pool))))


def wait_range(estimate_s: float | None, table: Sequence[tuple[float, float, float]] = WAIT_RANGE,
               step_s: int = WAIT_RANGE_STEP_S) -> tuple[int, int] | None:
    """The printed range [low, high] in seconds (multiples of `step_s`, high > low, high ≥ one step) for a
    point estimate, from the calibrated factors of its band (see WAIT_RANGE)."""
    if estimate_s is None:
        return None
    est = max(0.0, float(estimate_s))
    low_f, high_f = table[0][1], table[0][2]
    for from_min, lo, hi in table:
        if est >= from_min * 60:
            low_f, high_f = lo, hi
    low = step_s * math.floor(low_f * est / step_s + 0.5)
    high = max(step_s, step_s * math.floor(high_f * est / step_s + 0.5))
    if high <= low:
        high = low + step_s
    return int(low), int(high)


def with_range(position: dict) -> dict:
    """A ticket's position (`ahead`, `estimated_wait_s`) with the printed range's bounds added as
    `estimated_wait_range_s` ([low, high] seconds, or None)."""
    return {**position, "estimated_wait_range_s": range_json(position.get("estimated_wait_s"))}


def range_json(estimate_s: float | None) -> list[int] | None:
    """`wait_range` as the API gives it: [low, high] seconds, or None."""
    bounds = wait_range(estimate_s)
    return list(bounds) if bounds else None


def wait_text(bounds: Sequence[int] | None, lang: str = "vi") -> str:
    """The one wording of a wait range, on tickets and every screen (center/static/js/live.js `waitRange`
    says the same): "dưới 5 phút" when it starts at 0, else "khoảng 10–20 phút"; "—" without a range."""
    if not bounds:
        return "—"
    low, high = round(bounds[0] / 60), round(bounds[1] / 60)
    if lang == "en":
        return f"under {high} min" if low <= 0 else f"about {low}–{high} min"
    return f"dưới {high} phút" if low <= 0 else f"khoảng {low}–{high} phút"
