"""Who is ahead of whom and how long they will wait: the people-ahead counts of center/queue/policy.py run on
the database, and the estimate's glue (what center/queue/estimate.py replays: the queue, each counter's load,
handling times, arrivals; the replays reused per site during a burst of kiosks and for screens).
A mixin of the engine: it reads, never writes."""

from __future__ import annotations

import collections
import json
import math
import sqlite3
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ..config.model import Site
from ..storage import settings
from .clock import from_iso, opening_state, to_iso
from .estimate import (
    DEFAULT_CV,
    MAX_REPLAY,
    Arrivals,
    CounterLoad,
    Waiting,
    estimate_wait,
    remaining_s,
    session_start,
)
from .policy import RECENT_CALLS, CallingOrder, Me, Seat
from .sites import Sites

ACTIVE = ("waiting", "called", "serving")
ESTIMATE_TTL_S = 10.0  # seconds the per-service estimates shown on screens are reused
NEWCOMER_TTL_S = 1.0  # seconds of the center's clock a new tickets' replay is reused during a burst of issuing


@dataclass
class _Snapshot:
    queue: list[Waiting]
    counters: list[CounterLoad]
    handling: dict[str, float]
    arrivals: dict[str, float]
    waiting: dict[str, int] | None  # set instead of `queue` when the queue is too long to replay


@dataclass
class _Newcomers:
    """Per site: the snapshot new tickets' estimates are replayed from, and the tickets issued since."""
    day: str
    at: datetime
    snap: _Snapshot
    estimates: dict[tuple[str, bool], int | None] = field(default_factory=dict)
    # Tickets issued since the snapshot, per (service, priority): counted, not listed, because a burst of
    # kiosks adds hundreds within NEWCOMER_TTL_S and each new ticket looks them up.
    joined: collections.Counter[tuple[str, bool]] = field(default_factory=collections.Counter)


def _per_ticket_s(snap: _Snapshot, service: str) -> float:
    """What one more ticket ahead adds to a wait: the service's handling time ÷ the counters serving it
    (the open ones, else any that list it)."""
    serving = [c for c in snap.counters if service in c.services and c.status == "open"] or \
        [c for c in snap.counters if service in c.services]
    return snap.handling.get(service, 300.0) / max(1, len(serving))


class Waits(Sites):
    # Set by Engine.__init__: site -> ((day, counters' statuses), monotonic time, estimate by service); the
    # replays reused while only tickets are issued; (site, service, priority, counters) -> people-ahead SQL.
    _estimates: dict[str, tuple[tuple[str, tuple[str, ...]], float, dict[str, int | None]]]
    _newcomers: dict[str, _Newcomers]
    _ahead_sql: dict[tuple, tuple]

    def _position(self, conn: sqlite3.Connection, row: sqlite3.Row) -> dict[str, Any]:
        """People ahead and the estimated wait, for a waiting ticket."""
        if row["status"] != "waiting":
            return {"ahead": 0, "estimated_wait_s": 0 if row["status"] in ACTIVE else None}
        site = self.config.sites.get(row["site"])
        service = self.config.services.get(row["service"])
        if site is None or service is None:
            return {"ahead": None, "estimated_wait_s": None}
        ahead = self._ahead(conn, row)
        snap = self._snapshot(conn, site, row["service_day"])
        if snap.waiting is not None:  # too long to replay: counted from the people ahead
            me = Waiting(row["id"], row["service"], row["priority"] is not None, None, booked=bool(row["booking"]))
            return {"ahead": ahead, "estimated_wait_s": self._estimate(snap, row["id"], me, ahead=ahead)}
        return {"ahead": ahead, "estimated_wait_s": self._estimate(snap, row["id"])}

    @property
    def order(self) -> CallingOrder:
        return CallingOrder.from_rules(self.config.rules, self.config.booking)

    def _recent_booked(self, conn: sqlite3.Connection, counter_id: str) -> tuple[bool, ...]:
        """Whether each of a counter's last calls (first calls of a waiting ticket) was a booking, newest last."""
        rows = conn.execute(
            "SELECT t.booking IS NOT NULL FROM ticket_events e INDEXED BY ticket_events_counter_calls "
            "JOIN tickets t ON t.id = e.ticket_id WHERE e.counter_id = ? AND e.kind = 'called' "
            "ORDER BY e.id DESC LIMIT ?", (counter_id, RECENT_CALLS - 1)).fetchall()
        return tuple(bool(r[0]) for r in reversed(rows))

    def _walkin_due(self, conn: sqlite3.Connection, site: Site, day: str, seat: Seat, now: datetime) -> bool:
        """The fair merge at a counter about to call (center/queue/policy.py): only read while a booked ticket
        waits at the site (the flag changes nothing otherwise)."""
        order = self.order
        if not order.fair or conn.execute(
                "SELECT 1 FROM tickets INDEXED BY tickets_booked_waiting WHERE site = ? AND service_day = ? "
                "AND booking IS NOT NULL AND status = 'waiting' LIMIT 1", (site.code, day)).fetchone() is None:
            return False
        where, params = order.callable_sql(seat)
        oldest = conn.execute(
            "SELECT min(queue_at) FROM tickets WHERE site = ? AND service_day = ? AND status = 'waiting' "
            f"AND booking IS NULL AND {where}", [site.code, day, *params]).fetchone()[0]
        waited = (now - from_iso(oldest)).total_seconds() if oldest else None
        return order.walkin_due(self._recent_booked(conn, seat.ident), waited)

    def _counter_rows(self, conn: sqlite3.Connection, site: Site) -> tuple[tuple[Any, ...], ...]:
        """Each counter's status and service override now: what decides who can call whom."""
        return tuple(tuple(r) for r in conn.execute(
            "SELECT s.counter_id, s.status, o.value FROM counter_state s LEFT JOIN settings o "
            "ON o.key = 'counter_services:' || s.counter_id WHERE s.site = ? ORDER BY s.counter_id", (site.code,)))

    def _seats(self, site: Site, me: Me, rows: tuple[tuple[Any, ...], ...]) -> list[Seat]:
        """The counters whose order decides who is ahead of `me` (center/queue/policy.py), from `_counter_rows`."""
        states = {r[0]: r[1:] for r in rows}
        counters = []
        for c in site.counters:
            status, value = states.get(c.id, ("closed", None))
            override = json.loads(value) if value else None
            services = (tuple(s for s in override if s in site.services)
                        if isinstance(override, list) and override else c.services)
            counters.append((c.id, services, status, 0))
        return self.order.able(me, counters)

    def _ahead(self, conn: sqlite3.Connection, row: sqlite3.Row) -> int:
        """People ahead of a waiting ticket, as center/queue/policy.py defines them."""
        site = self.config.sites[row["site"]]
        me = Me(row["id"], row["service"], row["priority"] is not None, row["target_counter"], row["queue_at"],
                bool(row["booking"]))
        aged_before = to_iso(self.clock() - timedelta(minutes=self.config.rules.aging_min))
        where, params = self.order.ahead_sql(me, self._seats(site, me, self._counter_rows(conn, site)), aged_before)
        return conn.execute(
            "SELECT count(*) FROM tickets WHERE site = ? AND service_day = ? AND status = 'waiting' AND " + where,
            [site.code, row["service_day"], *params]).fetchone()[0]

    def _ahead_of_newcomer(self, conn: sqlite3.Connection, site: Site, day: str, me: Me, now: datetime) -> int:
        """People ahead of a ticket joining now, last in every line: the `queue_counts` lines wholly ahead of it,
        plus the long waiters (aging) of the other lines it competes with, each line's read from the waiting
        index up to the aging limit. The cost does not grow with the queue (only with those long waiters)."""
        aged_before = to_iso(now - timedelta(minutes=self.config.rules.aging_min))
        rows = self._counter_rows(conn, site)
        key = (id(self.config), site.code, me.service, me.priority, rows)
        if key not in self._ahead_sql:  # the same few while no counter opens, closes or changes services
            if len(self._ahead_sql) > 256:
                self._ahead_sql.clear()
            self._ahead_sql[key] = self.order.ahead_of_newcomer_sql(me, self._seats(site, me, rows))
        (ahead, ap), (others, op), (tied, tp) = self._ahead_sql[key]
        # queue_counts does not tell booked tickets apart: those of the lines ahead by arrival only that are not
        # ahead of a walk-in joining now are taken off (with the fair merge every booking not aged, since a
        # walk-in call may be due at each counter; without it those whose slot, their queue_at, is to come).
        not_before = aged_before if self.order.fair else to_iso(now)
        return conn.execute(
            "SELECT (SELECT coalesce(sum(waiting), 0) FROM queue_counts q WHERE site = ? AND service_day = ? "
            f"AND {ahead}) + (SELECT count(*) FROM queue_counts q JOIN tickets t INDEXED BY tickets_waiting_now "
            "ON t.site = q.site AND t.service_day = q.service_day AND t.status = 'waiting' AND t.service = q.service "
            "AND t.queue_at <= ? AND t.target_counter IS nullif(q.target, '') AND (t.priority IS NOT NULL) = q.prio "
            f"WHERE q.site = ? AND q.service_day = ? AND q.waiting > 0 AND {others}) - (SELECT count(*) "
            "FROM queue_counts q JOIN tickets t INDEXED BY tickets_booked_waiting ON t.site = q.site "
            "AND t.service_day = q.service_day AND t.booking IS NOT NULL AND t.status = 'waiting' "
            "AND t.service = q.service AND t.queue_at > ? AND t.target_counter IS nullif(q.target, '') "
            "AND (t.priority IS NOT NULL) = q.prio WHERE q.site = ? AND q.service_day = ? AND q.waiting > 0 "
            f"AND {tied})",
            [site.code, day, *ap, aged_before, site.code, day, *op, not_before, site.code, day, *tp]).fetchone()[0]

    def _snapshot(self, conn: sqlite3.Connection, site: Site, day: str) -> _Snapshot:
        """What the wait estimate replays: the waiting queue, each counter's load and recent handling times."""
        now = self.clock()
        overrides = settings.all_counter_services(conn)
        states = {r["counter_id"]: r for r in conn.execute(
            "SELECT s.counter_id, s.status, s.ticket_id, s.normal_since_priority, t.service, t.last_called_at "
            "FROM counter_state s LEFT JOIN tickets t ON t.id = s.ticket_id WHERE s.site = ?", (site.code,))}
        since = to_iso(now - timedelta(days=14))
        handling, spread = {}, {}
        for code in site.services:
            row = conn.execute(
                "SELECT avg(h), count(*), avg(h * h) FROM (SELECT (julianday(ended_at) - julianday(last_called_at)) "
                "* 86400 AS h FROM tickets WHERE site = ? AND service = ? AND status IN ('served', 'no_show') "
                "AND ended_at > ? AND last_called_at IS NOT NULL ORDER BY ended_at DESC LIMIT 30)",
                (site.code, code, since)).fetchone()
            default = self.config.services[code].default_service_min * 60
            measured = row[1] >= 5 and row[0] and row[0] > 0
            handling[code] = row[0] if measured else default
            # Coefficient of variation of the handling time: how long a citizen already at a counter may
            # still take (see estimate.remaining_s).
            cv = math.sqrt(max(row[2] - row[0] * row[0], 0.0)) / row[0] if measured else DEFAULT_CV
            spread[code] = min(max(cv, 0.2), 1.2)
        counters = []
        index = {c.id: i for i, c in enumerate(site.counters)}
        for c in site.counters:
            override = overrides.get(c.id)
            services = (tuple(s for s in override if s in site.services)
                        if isinstance(override, list) and override else c.services)
            st = states.get(c.id)
            busy = mean = cv = elapsed = 0.0
            if st is not None and st["ticket_id"] and st["last_called_at"]:
                elapsed = (now - from_iso(st["last_called_at"])).total_seconds()
                mean, cv = handling.get(st["service"], 300.0), spread.get(st["service"], DEFAULT_CV)
                busy = remaining_s(mean, cv, elapsed)
            recent = self._recent_booked(conn, c.id) if self.order.fair else ()
            counters.append(CounterLoad(services=services, status=st["status"] if st else "closed",
                                        busy_remaining_s=busy, streak=st["normal_since_priority"] if st else 0,
                                        busy_mean_s=mean, busy_cv=cv, busy_elapsed_s=elapsed, recent=recent))
        # A longer queue than MAX_REPLAY is estimated from counts (bounded work per ticket): the line counts say
        # so without reading it (sorting it by arrival would cost in proportion to its length).
        waiting = {r[0]: r[1] for r in conn.execute(
            "SELECT service, sum(waiting) FROM queue_counts WHERE site = ? AND service_day = ? GROUP BY service",
            (site.code, day)) if r[1]}
        if sum(waiting.values()) > MAX_REPLAY:
            return _Snapshot([], counters, handling, {}, waiting)
        queue = [Waiting(r["id"], r["service"], r["priority"] is not None,
                         index.get(r["target_counter"]) if r["target_counter"] else None,
                         waited_s=(now - from_iso(r["queue_at"])).total_seconds(), booked=bool(r["booking"]))
                 for r in conn.execute(
                     "SELECT id, service, priority, target_counter, queue_at, booking FROM tickets WHERE site = ? "
                     "AND service_day = ? AND status = 'waiting' ORDER BY queue_at, id", (site.code, day))]
        return _Snapshot(queue, counters, handling, self._recent_arrivals(conn, site, day, now), None)

    def _recent_arrivals(self, conn: sqlite3.Connection, site: Site, day: str, now: datetime) -> Arrivals:
        """Newcomers the counters will also take: each service's arrival rate over the last hour of opening
        time (not counting a lunch break), until the site stops issuing."""
        first = conn.execute("SELECT min(issued_at) FROM tickets WHERE site = ? AND service_day = ?",
                             (site.code, day)).fetchone()[0]
        since = now - timedelta(seconds=3600)
        if first:
            since = max(since, from_iso(first))
        opening = opening_state(now, site, self.config.tz)
        started = session_start(now, site, self.config.tz)
        if started is not None:
            since = max(since, started)
        window = max(600.0, (now - since).total_seconds())
        until = 4 * 3600.0
        if opening.closes_at is not None:
            stop = opening.closes_at - timedelta(minutes=site.stop_issuing_before_close_min)
            until = min(until, max(0.0, (stop - now).total_seconds()))
        rates = {r[0]: r[1] / window for r in conn.execute(
            "SELECT service, count(*) FROM tickets WHERE site = ? AND service_day = ? AND issued_at > ? "
            "AND transferred_from IS NULL GROUP BY service", (site.code, day, to_iso(now - timedelta(seconds=window))))}
        return Arrivals(rates, until_s=until)

    def _estimate(self, snap: _Snapshot, ticket_id: int, extra: Waiting | None = None,
                  ahead: int | None = None) -> int | None:
        if snap.waiting is not None:  # very long queue: people ahead × handling time ÷ counters serving it
            if extra is None:
                return None
            service = extra.service
            n_ahead = snap.waiting.get(service, 0) if ahead is None else ahead
            return int(round(n_ahead * _per_ticket_s(snap, service)))
        queue = snap.queue + [extra] if extra is not None else snap.queue
        rules = self.config.rules
        return estimate_wait(queue=queue, ticket_id=ticket_id, counters=snap.counters, handling_s=snap.handling,
                             strict=rules.priority_policy == "strict", interleave_every=rules.interleave_every,
                             aging_s=rules.aging_min * 60, arrivals_per_s=snap.arrivals, order=self.order)

    def _newcomer_estimate(self, site: Site, day: str, service: str, priority: bool, now: datetime) -> int | None:
        """The wait printed on a new ticket. The replay costs milliseconds with a few hundred waiting and,
        during a burst of kiosks, would be repeated for every ticket with almost the same result. So one
        replay per (service, priority) is reused for NEWCOMER_TTL_S of the center's clock while only tickets
        are issued (any call, finish or transfer here drops it), and every ticket issued since that is ahead
        of this one adds its service's handling time ÷ the counters serving it."""
        cache = self._newcomers.get(site.code)
        if cache is None or cache.day != day or not 0 <= (now - cache.at).total_seconds() <= NEWCOMER_TTL_S:
            with self.store.read() as conn:
                cache = _Newcomers(day, now, self._snapshot(conn, site, day))
            self._newcomers[site.code] = cache
        key = (service, priority)
        if key not in cache.estimates:
            cache.estimates[key] = self._estimate_new(cache.snap, service, priority)
        base = cache.estimates[key]
        if base is None:
            return None
        # Joined since: same service; a priority newcomer is behind earlier priority tickets only.
        ahead = cache.joined[(service, True)] + (0 if priority else cache.joined[(service, False)])
        if not ahead:
            return base
        return int(round(base + ahead * _per_ticket_s(cache.snap, service)))

    def _joined(self, site: Site, day: str, service: str, priority: bool) -> None:
        cache = self._newcomers.get(site.code)
        if cache is not None and cache.day == day:
            cache.joined[(service, priority)] += 1

    def _estimate_new(self, snap: _Snapshot, service: str, priority: bool = False) -> int | None:
        """The estimated wait of a ticket that would join the queue now."""
        return self._estimate(snap, -1, Waiting(-1, service, priority, None))

    def _service_estimates(self, conn: sqlite3.Connection, site: Site, day: str) -> dict[str, int | None]:
        """The wait a newcomer of each service would have, recomputed at most every ESTIMATE_TTL_S per site:
        screens show it in minutes, and one replay per service (several with drawn remaining times) costs
        5–15 ms for a site of 8 services, during which the worker serves nobody else."""
        now = time.monotonic()
        # Reused only while no counter opened, closed or paused (in any process): those change who serves what,
        # and a screen must not show for seconds a wait worked out for counters that have since closed.
        counters = tuple(r[0] for r in conn.execute(
            "SELECT status FROM counter_state WHERE site = ? ORDER BY counter_id", (site.code,)))
        cached = self._estimates.get(site.code)
        if cached and cached[0] == (day, counters) and now - cached[1] < ESTIMATE_TTL_S:
            return cached[2]
        snap = self._snapshot(conn, site, day)
        estimates = {code: self._estimate_new(snap, code) for code in site.services}
        self._estimates[site.code] = ((day, counters), now, estimates)
        return estimates
