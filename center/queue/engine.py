"""The queue engine: every ticket and counter operation as one short SQLite write transaction.

It knows nothing of Flask or Socket.IO. Each operation runs inside `Store.write()` (BEGIN IMMEDIATE),
so numbering and calling are atomic across threads and processes; the events it produces are handed
to `publish` only after the commit, so no screen ever shows something the database does not hold.
"""

from __future__ import annotations

import collections
import functools
import json
import math
import secrets
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ..config.read import Config, Counter, Service, Site
from ..errors import Conflict, Invalid, NotFound, QueueError, clean_text
from ..storage import settings
from ..storage.store import Store
from .actors import PAUSE_REASONS, SYSTEM, Actor
from .availability import availability
from .clock import Clock, from_iso, opening_state, service_day, system_clock, to_iso
from .estimate import (
    DEFAULT_CV,
    MAX_REPLAY,
    Arrivals,
    CounterLoad,
    Waiting,
    estimate_wait,
    range_json,
    remaining_s,
    session_start,
    with_range,
)
from .events import Event, Publisher
from .policy import CallingOrder, Me, Seat

ACTIVE = ("waiting", "called", "serving")
ESTIMATE_TTL_S = 10.0  # seconds the per-service estimates shown on screens are reused
NEWCOMER_TTL_S = 1.0  # seconds of the center's clock a new tickets' replay is reused during a burst of issuing
RELEASE_OUTCOMES = ("requeue", "no_show")  # what a forced release does with the citizen at the counter
KIOSK_BURST = 5  # a kiosk device may issue 5 tickets at once, then one every KIOSK_REFILL_S of the center's clock
KIOSK_REFILL_S = 2.0
REQUEST_TTL_S = 600  # a retried request id returns the ticket it made for this long


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


class Engine:
    def __init__(self, store: Store, config: Config, *, clock: Clock = system_clock,
                 publish: Publisher | None = None):
        self.store = store
        self.config = config
        self.clock = clock
        self.publish: Publisher = publish or (lambda events: None)
        # site -> ((day, counters' statuses), monotonic time, estimate by service)
        self._estimates: dict[str, tuple[tuple[str, tuple[str, ...]], float, dict[str, int | None]]] = {}
        self._newcomers: dict[str, _Newcomers] = {}  # site -> replays reused while only tickets are issued
        self._ahead_sql: dict[tuple, tuple] = {}  # (site, service, priority, counters) -> people-ahead SQL
        self.sync_config()

    # ------------------------------------------------------------------ configuration

    def sync_config(self) -> None:
        """Bring sites, services, procedures and counters in the database in line with config.toml.

        Rows that left the file are marked inactive, never deleted: history keeps its names.
        """
        now = to_iso(self.clock())
        cfg = self.config
        with self.store.write() as conn:
            conn.execute("UPDATE sites SET active = 0")
            conn.execute("UPDATE services SET active = 0")
            conn.execute("UPDATE procedures SET active = 0")
            conn.execute("UPDATE counters SET active = 0")
            for s in cfg.sites.values():
                conn.execute(
                    "INSERT INTO sites (code, name, name_en, active, updated_at) VALUES (?,?,?,1,?) "
                    "ON CONFLICT(code) DO UPDATE SET name=excluded.name, name_en=excluded.name_en, "
                    "active=1, updated_at=excluded.updated_at", (s.code, s.name, s.name_en, now))
                for c in s.counters:
                    conn.execute(
                        "INSERT INTO counters (id, site, number, name, services, active, updated_at) "
                        "VALUES (?,?,?,?,?,1,?) ON CONFLICT(id) DO UPDATE SET site=excluded.site, "
                        "number=excluded.number, name=excluded.name, services=excluded.services, active=1, "
                        "updated_at=excluded.updated_at",
                        (c.id, c.site, c.number, c.name, json.dumps(list(c.services)), now))
                    conn.execute(
                        "INSERT OR IGNORE INTO counter_state (counter_id, site, status, since, updated_at) "
                        "VALUES (?,?,'closed',?,?)", (c.id, c.site, now, now))
            for sv in cfg.services.values():
                conn.execute(
                    "INSERT INTO services (code, name, name_en, target_wait_min, active, updated_at) "
                    "VALUES (?,?,?,?,1,?) ON CONFLICT(code) DO UPDATE SET name=excluded.name, "
                    "name_en=excluded.name_en, target_wait_min=excluded.target_wait_min, active=1, "
                    "updated_at=excluded.updated_at", (sv.code, sv.name, sv.name_en, sv.target_wait_min, now))
                for p in sv.procedures:
                    conn.execute(
                        "INSERT INTO procedures (service, code, name, name_en, field, active) "
                        "VALUES (?,?,?,?,?,1) ON CONFLICT(service, code) DO UPDATE SET name=excluded.name, "
                        "name_en=excluded.name_en, field=excluded.field, active=1",
                        (sv.code, p.code, p.name, p.name_en, p.field))

    # ------------------------------------------------------------------ lookups

    def site(self, code: str) -> Site:
        site = self.config.sites.get(code) if isinstance(code, str) else None
        if site is None:
            raise NotFound(f"Không có điểm tiếp nhận '{code}'", f"Unknown site '{code}'", code="unknown_site")
        return site

    def counter(self, counter_id: str) -> Counter:
        counter = self.config.counter(counter_id) if isinstance(counter_id, str) else None
        if counter is None:
            raise NotFound(f"Không có quầy '{counter_id}'", f"Unknown counter '{counter_id}'",
                           code="unknown_counter")
        return counter

    def service(self, site: Site, code: str) -> Service:
        if not isinstance(code, str) or code not in site.services:
            raise Invalid(f"Dịch vụ '{code}' không có tại {site.name}",
                          f"Service '{code}' is not offered at {site.name_en}", code="unknown_service")
        return self.config.services[code]

    def counter_services(self, counter: Counter, conn: sqlite3.Connection | None = None) -> tuple[str, ...]:
        """The services a counter serves today: the web override if a manager set one, else config.

        Pass `conn` when already holding a connection: a nested checkout could wait on the pool while
        holding the write lock.
        """
        if conn is None:
            with self.store.connection() as own:
                override = settings.counter_services(own, counter.id)
        else:
            override = settings.counter_services(conn, counter.id)
        if override:
            return tuple(s for s in override if s in self.config.sites[counter.site].services)
        return counter.services

    def today(self, site: Site, now: datetime | None = None) -> str:
        return service_day(now or self.clock(), site, self.config.tz)

    def record_print(self, ticket: dict[str, Any], ok: bool, by: str, data: dict[str, Any]) -> str:
        """A print attempt's outcome on the ticket's history (`printed` / `print_failed`), in one short write
        transaction; returns when (ISO). No event: center/output/printing.py tells staff when a printer changes."""
        now = to_iso(self.clock())
        with self.store.write() as conn:
            _log(conn, ticket["id"], now, "printed" if ok else "print_failed", ticket["site"], None, by, data)
        return now

    # ------------------------------------------------------------------ views

    def ticket_view(self, row: sqlite3.Row | dict[str, Any], *, private: bool = False) -> dict[str, Any]:
        """A ticket as the API and events show it. `private` adds the phone-page link id."""
        r = dict(row)
        service = self.config.services.get(r["service"])
        counter = self.config.counter(r["counter_id"]) if r.get("counter_id") else None
        target = self.config.counter(r["target_counter"]) if r.get("target_counter") else None
        group = self.config.priority_group(r["priority"]) if r.get("priority") else None
        view: dict[str, Any] = {
            "id": r["id"],
            "number": r["number"],
            "site": r["site"],
            "service": r["service"],
            "service_name": service.name if service else r["service"],
            "service_name_en": service.name_en if service else r["service"],
            "priority": r.get("priority"),
            "priority_name": group.name if group else None,
            "status": r["status"],
            "service_day": r["service_day"],
            "issued_at": r["issued_at"],
            "called_at": r.get("called_at"),
            "last_called_at": r.get("last_called_at"),
            "call_count": r.get("call_count", 0),
            "started_at": r.get("started_at"),
            "ended_at": r.get("ended_at"),
            "wait_s": r.get("wait_s"),
            "service_s": r.get("service_s"),
            "counter": _counter_brief(counter),
            "target_counter": _counter_brief(target),
            "transferred_from": r.get("transferred_from"),
            "transferred_to": r.get("transferred_to"),
        }
        if private:
            view["public_id"] = r["public_id"]
            view["source"] = r.get("source")
            view["staff"] = r.get("staff")
            view["note"] = r.get("note")
        return view

    def get_ticket(self, ticket_id: int, *, private: bool = False) -> dict[str, Any]:
        with self.store.read() as conn:
            row = conn.execute("SELECT * FROM tickets WHERE id = ?", (ticket_id,)).fetchone()
            if row is None:
                raise NotFound(f"Không có số thứ tự mã {ticket_id}", f"No ticket with id {ticket_id}",
                               code="unknown_ticket")
            view = self.ticket_view(row, private=private)
            view.update(with_range(self._position(conn, row)))
            if private:
                view["procedures"] = [dict(p) for p in conn.execute(
                    "SELECT procedure AS code, service, counter_id, staff, started_at, ended_at, seconds "
                    "FROM ticket_procedures WHERE ticket_id = ? ORDER BY id", (ticket_id,))]
                view["events"] = [
                    {**dict(e), "data": json.loads(e["data"]) if e["data"] else None} for e in conn.execute(
                        "SELECT kind, at, counter_id, staff, data FROM ticket_events WHERE ticket_id = ? "
                        "ORDER BY id", (ticket_id,))]
        return view

    def get_ticket_by_public_id(self, public_id: str) -> dict[str, Any]:
        with self.store.read() as conn:
            row = conn.execute("SELECT * FROM tickets WHERE public_id = ?", (public_id,)).fetchone()
            if row is None:
                raise NotFound("Không tìm thấy số thứ tự", "Ticket not found", code="unknown_ticket")
            view = self.ticket_view(row)
            view.update(with_range(self._position(conn, row)))
        return view

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
            me = Waiting(row["id"], row["service"], row["priority"] is not None, None)
            return {"ahead": ahead, "estimated_wait_s": self._estimate(snap, row["id"], me, ahead=ahead)}
        return {"ahead": ahead, "estimated_wait_s": self._estimate(snap, row["id"])}

    @property
    def order(self) -> CallingOrder:
        return CallingOrder.from_rules(self.config.rules)

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
        me = Me(row["id"], row["service"], row["priority"] is not None, row["target_counter"], row["queue_at"])
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
        (ahead, ap), (others, op) = self._ahead_sql[key]
        return conn.execute(
            "SELECT (SELECT coalesce(sum(waiting), 0) FROM queue_counts q WHERE site = ? AND service_day = ? "
            f"AND {ahead}) + (SELECT count(*) FROM queue_counts q JOIN tickets t INDEXED BY tickets_waiting_now "
            "ON t.site = q.site AND t.service_day = q.service_day AND t.status = 'waiting' AND t.service = q.service "
            "AND t.queue_at <= ? AND t.target_counter IS nullif(q.target, '') AND (t.priority IS NOT NULL) = q.prio "
            f"WHERE q.site = ? AND q.service_day = ? AND q.waiting > 0 AND {others})",
            [site.code, day, *ap, aged_before, site.code, day, *op]).fetchone()[0]

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
            counters.append(CounterLoad(services=services, status=st["status"] if st else "closed",
                                        busy_remaining_s=busy, streak=st["normal_since_priority"] if st else 0,
                                        busy_mean_s=mean, busy_cv=cv, busy_elapsed_s=elapsed))
        # A longer queue than MAX_REPLAY is estimated from counts (bounded work per ticket): the line counts say
        # so without reading it (sorting it by arrival would cost in proportion to its length).
        waiting = {r[0]: r[1] for r in conn.execute(
            "SELECT service, sum(waiting) FROM queue_counts WHERE site = ? AND service_day = ? GROUP BY service",
            (site.code, day)) if r[1]}
        if sum(waiting.values()) > MAX_REPLAY:
            return _Snapshot([], counters, handling, {}, waiting)
        queue = [Waiting(r["id"], r["service"], r["priority"] is not None,
                         index.get(r["target_counter"]) if r["target_counter"] else None,
                         waited_s=(now - from_iso(r["queue_at"])).total_seconds())
                 for r in conn.execute(
                     "SELECT id, service, priority, target_counter, queue_at FROM tickets WHERE site = ? "
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
                             aging_s=rules.aging_min * 60, arrivals_per_s=snap.arrivals)

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

    def counter_view(self, conn: sqlite3.Connection, counter: Counter, *, private: bool = False) -> dict[str, Any]:
        state = conn.execute("SELECT * FROM counter_state WHERE counter_id = ?", (counter.id,)).fetchone()
        ticket = None
        if state and state["ticket_id"]:
            t = conn.execute("SELECT * FROM tickets WHERE id = ?", (state["ticket_id"],)).fetchone()
            ticket = self.ticket_view(t) if t else None
        view: dict[str, Any] = {
            "id": counter.id,
            "number": counter.number,
            "name": counter.name,
            "site": counter.site,
            "services": list(self.counter_services(counter, conn)),
            "status": state["status"] if state else "closed",
            "since": state["since"] if state else None,
            "ticket": ticket,
        }
        if private:
            view["staff"] = state["staff"] if state else None
            view["pause_reason"] = state["pause_reason"] if state else None
        return view

    def services_state(self, conn: sqlite3.Connection, site: Site, now: datetime) -> list[dict[str, Any]]:
        """Waiting, priority waiting, longest wait and estimated wait for each service of a site."""
        day = self.today(site, now)
        rows = {r["service"]: r for r in conn.execute(
            "SELECT service, count(*) AS waiting, sum(priority IS NOT NULL) AS priority_waiting, "
            "min(queue_at) AS oldest FROM tickets WHERE site = ? AND service_day = ? AND status = 'waiting' "
            "GROUP BY service", (site.code, day))}
        estimates = self._service_estimates(conn, site, day)
        counters = availability(conn, self.config, site, now,
                                {c.id: self.counter_services(c, conn) for c in site.counters})
        services = []
        for code in site.services:
            sv = self.config.services[code]
            r = rows.get(code)
            waiting = r["waiting"] if r else 0
            services.append({
                "code": code,
                "name": sv.name,
                "name_en": sv.name_en,
                "waiting": waiting,
                "priority_waiting": (r["priority_waiting"] or 0) if r else 0,
                "longest_wait_s": round((now - from_iso(r["oldest"])).total_seconds()) if r else 0,
                "estimated_wait_s": estimates.get(code),
                "estimated_wait_range_s": range_json(estimates.get(code)),
                "target_wait_min": sv.target_wait_min,
                **counters[code],
            })
        return services

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

    def queue_state(self, site_code: str, *, private: bool = False) -> dict[str, Any]:
        """Everything a screen needs to be right: waiting per service and what each counter does."""
        site = self.site(site_code)
        now = self.clock()
        day = self.today(site, now)
        with self.store.read() as conn:
            services = self.services_state(conn, site, now)
            counters = [self.counter_view(conn, c, private=private) for c in site.counters]
            recent = [self.ticket_view(r) for r in conn.execute(
                "SELECT * FROM tickets WHERE site = ? AND service_day = ? AND called_at IS NOT NULL "
                "ORDER BY last_called_at DESC LIMIT 10", (site.code, day))]
        opening = opening_state(now, site, self.config.tz)
        return {
            "site": site.code,
            "service_day": day,
            "at": to_iso(now),
            "opening": {"open": opening.open, "issuing": opening.issuing, "reason": opening.reason,
                        "closes_at": opening.closes_at.isoformat() if opening.closes_at else None,
                        "next_open": opening.next_open.isoformat() if opening.next_open else None},
            "services": services,
            "counters": counters,
            "recent_calls": recent,
        }

    # ------------------------------------------------------------------ issuing

    def issue(self, site_code: str, service_code: str, *, priority: str | None = None,
              source: str = "api", actor: Actor = SYSTEM, kiosk: str | None = None,
              request_id: str | None = None) -> dict[str, Any]:
        """Issue the next number of a service; returns the ticket with people ahead and estimated wait.

        A kiosk device is limited (KIOSK_BURST, then one per KIOSK_REFILL_S) whatever route it calls, and a
        `request_id` the caller sent before returns the ticket it made (marked `repeated`) instead of a
        second one. Both live in the database, inside the issue's own transaction, so every server process
        sees them and a refused issue costs nothing.
        """
        site = self.site(site_code)
        service = self.service(site, service_code)
        if priority is not None:
            if not isinstance(priority, str) or self.config.priority_group(priority) is None:
                raise Invalid(f"Nhóm ưu tiên '{priority}' không có trong danh sách",
                              f"Unknown priority group '{priority}'", code="unknown_priority")
            if not service.allow_priority:
                raise Invalid(f"Dịch vụ {service.name} không áp dụng ưu tiên",
                              f"Service {service.name_en} takes no priority tickets", code="priority_not_allowed")
        if source not in ("kiosk", "desk", "api"):
            raise Invalid("Nguồn cấp số không hợp lệ", "source must be kiosk, desk or api", code="bad_source")
        now = self.clock()
        state = opening_state(now, site, self.config.tz)
        if not state.issuing:
            raise _closed_error(site, state)
        day = self.today(site, now)
        fmt = self.config.number_format(site.code, service.code)
        iso = to_iso(now)
        # The estimate replays the queue as it is just before this ticket joins; done before taking the
        # write lock so that other counters and kiosks never wait for it.
        estimate = self._newcomer_estimate(site, day, service.code, priority is not None, now)
        with self.store.write() as conn:
            if request_id is not None:
                prior = _prior_request(conn, actor.name, request_id, now)
                if prior is not None:
                    view = self.ticket_view(prior, private=True)
                    view.update({"ahead": prior["ahead_at_issue"], "estimated_wait_s": prior["estimated_wait_s"],
                                 "repeated": True})
                    return view
            if actor.role == "kiosk":
                _take_issue_token(conn, actor.name, now)
            seq = conn.execute(
                "INSERT INTO day_sequences (site, service, service_day, last_seq) VALUES (?,?,?,1) "
                "ON CONFLICT(site, service, service_day) DO UPDATE SET last_seq = last_seq + 1 "
                "RETURNING last_seq", (site.code, service.code, day)).fetchone()[0]
            if service.daily_cap and seq > service.daily_cap:
                raise Conflict(f"Dịch vụ {service.name} đã hết số hôm nay ({service.daily_cap} số)",
                               f"{service.name_en} has reached today's limit of {service.daily_cap} tickets",
                               code="daily_cap_reached")
            # The id is taken here (the write lock is held) so that one INSERT stores the people ahead and the
            # visit it starts (itself): every index of the table is written once, not twice.
            ticket_id = conn.execute("SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'tickets'), 0) "
                                     "+ 1").fetchone()[0]
            ahead = self._ahead_of_newcomer(conn, site, day, Me(ticket_id, service.code, priority is not None,
                                                                 None, iso), now)
            row = dict(conn.execute(
                "INSERT INTO tickets (id, visit_id, public_id, site, service, service_day, seq, number, priority, "
                "source, device, status, issued_at, queue_at, ahead_at_issue, estimated_wait_s) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?, 'waiting', ?,?,?,?) RETURNING *",
                (ticket_id, ticket_id, secrets.token_urlsafe(12), site.code, service.code, day, seq, fmt.format(seq),
                 priority, source, kiosk or actor.name, iso, iso, ahead, estimate)).fetchone())
            _log(conn, row["id"], iso, "issued", site.code, None, actor.name,
                 {"source": source, "priority": priority, "ahead": ahead, "estimated_wait_s": estimate,
                  "kiosk": kiosk})
            if request_id is not None:
                _remember_request(conn, actor.name, request_id, row["id"], now)
        self._joined(site, day, service.code, priority is not None)
        view = self.ticket_view(row, private=True)
        view.update(with_range({"ahead": ahead, "estimated_wait_s": estimate}))
        public = self.ticket_view(row)
        self._after([Event("ticket.issued", site.code, public)], {site.code})
        return view

    # ------------------------------------------------------------------ counters

    def _counter_row(self, conn: sqlite3.Connection, counter: Counter) -> sqlite3.Row:
        return conn.execute("SELECT * FROM counter_state WHERE counter_id = ?", (counter.id,)).fetchone()

    def _claim_counter(self, conn: sqlite3.Connection, counter: Counter, actor: Actor, iso: str) -> sqlite3.Row:
        """Make sure `actor` holds the counter, opening it if it was closed; refuse another's counter."""
        state = self._counter_row(conn, counter)
        if actor.role == "kiosk" or actor.role == "display":
            raise Conflict("Thiết bị này không được gọi số", "This device may not operate counters",
                           code="forbidden", status=403)
        if state["status"] != "closed" and state["staff"] and state["staff"] != actor.name:
            raise Conflict(f"Quầy {counter.number} đang do {state['staff']} phụ trách",
                           f"Counter {counter.number} is held by {state['staff']}", code="counter_taken",
                           holder=state["staff"])
        if state["status"] == "closed" or not state["staff"]:
            # A counter that just opened owes a priority call: the first waiting priority citizen goes first.
            conn.execute("UPDATE counter_state SET status = 'open', staff = ?, since = ?, pause_reason = NULL, "
                         "normal_since_priority = ?, updated_at = ? WHERE counter_id = ?",
                         (actor.name, iso, self.config.rules.interleave_every, iso, counter.id))
            _counter_log(conn, counter, iso, "open", actor.name, None)
            state = self._counter_row(conn, counter)
        return state

    def take_counter(self, counter_id: str, actor: Actor) -> dict[str, Any]:
        """A staff member sits down at a counter (sign-in on the counter page)."""
        counter = self.counter(counter_id)
        iso = to_iso(self.clock())
        with self.store.write() as conn:
            self._claim_counter(conn, counter, actor, iso)
        return self._counter_changed(counter)

    def release_counter(self, counter_id: str, actor: Actor, *, force: bool = False,
                        citizen: str = "requeue") -> dict[str, Any]:
        """Close a counter (sign-out); refused while a citizen is at it, unless a manager forces it.

        A forced release never strands the citizen: their ticket goes back to its place in the queue
        (`citizen="requeue"`: same queue time, as if never called, so the next call counts the whole wait)
        or ends as no-show (`citizen="no_show"`, callable again later). Who forced it is in the counter's
        `release` event and the ticket's event, both in the audit log.
        """
        if citizen not in RELEASE_OUTCOMES:
            raise Invalid("Cách xử lý công dân không hợp lệ", f"citizen must be one of {', '.join(RELEASE_OUTCOMES)}",
                          code="bad_field", field="citizen")
        counter = self.counter(counter_id)
        iso = to_iso(self.clock())
        ticket = None
        with self.store.write() as conn:
            state = self._counter_row(conn, counter)
            if state["status"] == "closed":
                return self._counter_view_now(counter)
            if state["staff"] and state["staff"] != actor.name and not force:
                raise Conflict(f"Quầy {counter.number} đang do {state['staff']} phụ trách",
                               f"Counter {counter.number} is held by {state['staff']}", code="counter_taken")
            if state["ticket_id"] and not force:
                raise Conflict("Quầy đang phục vụ một số — hãy hoàn thành hoặc chuyển trước khi đóng quầy",
                               "Finish or transfer the current ticket before closing the counter",
                               code="counter_busy")
            if state["ticket_id"]:
                ticket = self._release_ticket(conn, counter, state, actor, iso, citizen)
            conn.execute("UPDATE counter_state SET status = 'closed', staff = NULL, ticket_id = NULL, "
                         "pause_reason = NULL, since = ?, updated_at = ? WHERE counter_id = ?",
                         (iso, iso, counter.id))
            forced = force and (state["ticket_id"] or (state["staff"] and state["staff"] != actor.name))
            if forced:
                detail = {"held_by": state["staff"], "ticket": ticket["number"] if ticket else None,
                          "citizen": citizen if ticket else None}
                _counter_log(conn, counter, iso, "release", actor.name, json.dumps(detail, ensure_ascii=False))
            else:
                _counter_log(conn, counter, iso, "close", actor.name, None)
        if ticket is None:
            return self._counter_changed(counter)
        self._after([self._ticket_event(ticket)], {counter.site}, counters=[counter])
        return self._counter_view_now(counter)

    def _release_ticket(self, conn: sqlite3.Connection, counter: Counter, state: sqlite3.Row, actor: Actor,
                        iso: str, citizen: str) -> dict[str, Any]:
        """The forced release's citizen: back at their place in the queue, or ended as no-show."""
        row = conn.execute("SELECT * FROM tickets WHERE id = ?", (state["ticket_id"],)).fetchone()
        data = {"forced_release": True, "held_by": state["staff"], "counter_number": counter.number}
        if citizen == "no_show":
            ticket = conn.execute("UPDATE tickets SET status = 'no_show', ended_at = ? WHERE id = ? RETURNING *",
                                  (iso, row["id"])).fetchone()
            _log(conn, row["id"], iso, "no_show", counter.site, counter.id, actor.name,
                 {**data, "call_count": row["call_count"]})
        else:
            # queue_at is kept: the citizen's place. The call and service times are cleared, so the next
            # call measures the whole wait and the next service starts afresh (old procedure marks fall
            # before the new start and are not counted again).
            ticket = conn.execute(
                "UPDATE tickets SET status = 'waiting', counter_id = NULL, staff = NULL, called_at = NULL, "
                "last_called_at = NULL, wait_s = NULL, started_at = NULL, ended_at = NULL WHERE id = ? RETURNING *",
                (row["id"],)).fetchone()
            _log(conn, row["id"], iso, "requeued", counter.site, counter.id, actor.name, data)
        return dict(ticket)

    def _current(self, conn: sqlite3.Connection, counter: Counter, actor: Actor,
                 expect: int | None, statuses: Iterable[str]) -> sqlite3.Row:
        """The counter's current ticket, checked against what the caller believes it is."""
        state = self._counter_row(conn, counter)
        if state["status"] != "closed" and state["staff"] and state["staff"] != actor.name:
            raise Conflict(f"Quầy {counter.number} đang do {state['staff']} phụ trách",
                           f"Counter {counter.number} is held by {state['staff']}", code="counter_taken")
        if not state["ticket_id"]:
            raise Conflict("Quầy chưa gọi số nào", "This counter has no current ticket", code="no_current_ticket")
        if expect is not None and int(expect) != state["ticket_id"]:
            raise Conflict("Số này không còn ở quầy của bạn — màn hình đã được cập nhật",
                           "That ticket is no longer at your counter", code="stale_ticket")
        row = conn.execute("SELECT * FROM tickets WHERE id = ?", (state["ticket_id"],)).fetchone()
        if row["status"] not in statuses:
            raise Conflict(f"Số {row['number']} đang ở trạng thái {row['status']}",
                           f"Ticket {row['number']} is {row['status']}", code="wrong_status")
        return row

    def call_next(self, counter_id: str, actor: Actor) -> dict[str, Any] | None:
        """Call the next citizen for a counter: its services, the priority rules, then first come first served.

        Returns None when nobody waits for this counter.
        """
        counter = self.counter(counter_id)
        site = self.config.sites[counter.site]
        now = self.clock()
        iso = to_iso(now)
        day = self.today(site, now)
        rules = self.config.rules
        with self.store.write() as conn:
            services = self.counter_services(counter, conn)
            state = self._claim_counter(conn, counter, actor, iso)
            self._ensure_free(conn, counter, state)
            aged_before = to_iso(now - timedelta(minutes=rules.aging_min))
            seat = self.order.seat(counter.id, services, state["normal_since_priority"])
            where, wp = self.order.callable_sql(seat)
            order, op = self.order.order_sql(seat, aged_before)
            sql = ("SELECT * FROM tickets WHERE site = ? AND service_day = ? AND status = 'waiting' AND "
                   f"{where} ORDER BY {order} LIMIT 1")
            params = [site.code, day, *wp, *op]
            row = conn.execute(sql, params).fetchone()
            if row is None:
                return None
            ticket = self._mark_called(conn, row, counter, actor, now, recall=False)
            streak = self.order.after_call(state["normal_since_priority"], row["priority"] is not None)
            conn.execute("UPDATE counter_state SET normal_since_priority = ? WHERE counter_id = ?",
                         (streak, counter.id))
        return self._called(counter, ticket, recall=False)

    def call_ticket(self, counter_id: str, actor: Actor, *, ticket_id: int | None = None,
                    number: str | None = None) -> dict[str, Any]:
        """Call one chosen ticket out of order (by id, or by printed number today at this site).

        A ticket marked no-show can be called again: the citizen came back.
        """
        counter = self.counter(counter_id)
        site = self.config.sites[counter.site]
        now = self.clock()
        iso = to_iso(now)
        with self.store.write() as conn:
            state = self._claim_counter(conn, counter, actor, iso)
            self._ensure_free(conn, counter, state)
            if ticket_id is not None:
                row = conn.execute("SELECT * FROM tickets WHERE id = ? AND site = ?",
                                   (ticket_id, site.code)).fetchone()
            elif number:
                row = conn.execute(
                    "SELECT * FROM tickets WHERE site = ? AND service_day = ? AND number = ? "
                    "ORDER BY status = 'waiting' DESC, status = 'no_show' DESC, id DESC LIMIT 1",
                    (site.code, self.today(site, now), str(number).strip().upper())).fetchone()
            else:
                raise Invalid("Cần nhập số thứ tự", "Give a ticket id or number", code="missing_ticket")
            if row is None:
                raise NotFound(f"Không có số {number or ticket_id} hôm nay tại điểm này",
                               f"No ticket {number or ticket_id} today at this site", code="unknown_ticket")
            if row["status"] not in ("waiting", "no_show"):
                where = ""
                if row["counter_id"] and row["status"] in ("called", "serving"):
                    other = self.config.counter(row["counter_id"])
                    where = f" tại quầy {other.number}" if other else ""
                raise Conflict(f"Số {row['number']} đã được gọi{where} ({_status_vi(row['status'])})",
                               f"Ticket {row['number']} is already {row['status']}", code="already_called")
            if row["service_day"] != self.today(site, now):
                raise Conflict(f"Số {row['number']} thuộc ngày {row['service_day']}",
                               f"Ticket {row['number']} belongs to {row['service_day']}", code="other_day")
            ticket = self._mark_called(conn, row, counter, actor, now, recall=False)
        return self._called(counter, ticket, recall=False)

    def _ensure_free(self, conn: sqlite3.Connection, counter: Counter, state: sqlite3.Row) -> None:
        if state["status"] == "paused":
            raise Conflict(f"Quầy {counter.number} đang tạm dừng — bấm Tiếp tục trước khi gọi số",
                           f"Counter {counter.number} is paused: resume it first", code="counter_paused")
        if state["ticket_id"]:
            current = conn.execute("SELECT number FROM tickets WHERE id = ?", (state["ticket_id"],)).fetchone()
            raise Conflict(f"Quầy đang có số {current['number']} — hãy hoàn thành, báo vắng mặt hoặc chuyển trước",
                           f"Counter still has ticket {current['number']}: finish, mark no-show or transfer it",
                           code="counter_busy", ticket=state["ticket_id"])

    def _mark_called(self, conn: sqlite3.Connection, row: sqlite3.Row, counter: Counter, actor: Actor,
                     now: datetime, *, recall: bool) -> dict[str, Any]:
        iso = to_iso(now)
        first = row["called_at"] is None
        wait_s = (now - from_iso(row["queue_at"] if row["transferred_from"] else row["issued_at"])).total_seconds()
        # The status guard makes the claim safe even if two writers ever raced past BEGIN IMMEDIATE.
        cur = conn.execute(
            "UPDATE tickets SET status = 'called', counter_id = ?, staff = ?, last_called_at = ?, "
            "called_at = coalesce(called_at, ?), call_count = call_count + 1, wait_s = coalesce(wait_s, ?), "
            "ended_at = NULL WHERE id = ? AND status IN ('waiting', 'no_show', 'called') RETURNING *",
            (counter.id, actor.name, iso, iso, round(wait_s, 3) if first else None, row["id"]))
        updated = cur.fetchone()
        if updated is None:
            raise Conflict(f"Số {row['number']} vừa được quầy khác gọi", f"Ticket {row['number']} was just taken",
                           code="already_called")
        conn.execute("UPDATE counter_state SET ticket_id = ?, updated_at = ? WHERE counter_id = ?",
                     (row["id"], iso, counter.id))
        kind = "recalled" if recall else ("called" if row["status"] == "waiting" else "called_again")
        _log(conn, row["id"], iso, kind, counter.site, counter.id, actor.name,
             {"counter_number": counter.number, "call_count": updated["call_count"]})
        return dict(updated)

    def _called(self, counter: Counter, ticket: dict[str, Any], *, recall: bool) -> dict[str, Any]:
        view = self.ticket_view(ticket)
        payload = {
            "ticket": ticket["id"],
            "number": ticket["number"],
            "service": ticket["service"],
            "service_name": view["service_name"],
            "counter": counter.id,
            "counter_number": counter.number,
            "counter_name": counter.name,
            "recall": recall,
            "call_count": ticket["call_count"],
            "priority": ticket["priority"],
            "at": ticket["last_called_at"],
        }
        events = [Event("ticket.called", counter.site, payload), self._ticket_event(ticket)]
        self._after(events, {counter.site}, counters=[counter])
        return view

    def recall(self, counter_id: str, actor: Actor, *, expect: int | None = None) -> dict[str, Any]:
        """Call the current ticket again (the citizen did not come yet); counted, status stays 'called'."""
        counter = self.counter(counter_id)
        now = self.clock()
        with self.store.write() as conn:
            row = self._current(conn, counter, actor, expect, ("called",))
            ticket = self._mark_called(conn, row, counter, actor, now, recall=True)
        return self._called(counter, ticket, recall=True)

    def start(self, counter_id: str, actor: Actor, *, expect: int | None = None) -> dict[str, Any]:
        """The citizen is at the desk: service time starts now."""
        counter = self.counter(counter_id)
        iso = to_iso(self.clock())
        with self.store.write() as conn:
            row = self._current(conn, counter, actor, expect, ("called",))
            ticket = conn.execute("UPDATE tickets SET status = 'serving', started_at = ? WHERE id = ? RETURNING *",
                                  (iso, row["id"])).fetchone()
            _log(conn, row["id"], iso, "started", counter.site, counter.id, actor.name, None)
        return self._ticket_changed(counter, dict(ticket))

    def mark_procedure(self, counter_id: str, actor: Actor, procedure: str, *,
                       expect: int | None = None) -> dict[str, Any]:
        """One procedure done now: its service time runs from the previous mark (or the start)."""
        counter = self.counter(counter_id)
        iso = to_iso(self.clock())
        with self.store.write() as conn:
            row = self._current(conn, counter, actor, expect, ("called", "serving"))
            service = self.config.services[row["service"]]
            if not isinstance(procedure, str) or service.procedure(procedure) is None:
                raise Invalid(f"Thủ tục '{procedure}' không thuộc dịch vụ {service.name}",
                              f"Procedure '{procedure}' is not part of {service.name_en}", code="unknown_procedure")
            if row["status"] == "called":
                row = conn.execute("UPDATE tickets SET status = 'serving', started_at = ? WHERE id = ? "
                                   "RETURNING *", (row["last_called_at"], row["id"])).fetchone()
                _log(conn, row["id"], iso, "started", counter.site, counter.id, actor.name, {"implicit": True})
            _log(conn, row["id"], iso, "procedure", counter.site, counter.id, actor.name, {"procedure": procedure})
        return self.get_ticket(row["id"], private=True)

    def finish(self, counter_id: str, actor: Actor, procedures: list[Any], *,
               expect: int | None = None) -> dict[str, Any]:
        """End the visit as served, recording each procedure done with its own service time.

        `procedures` holds codes, or objects {"code", "seconds"}. Without seconds, a procedure takes the
        time since the previous procedure marked done (mark_procedure); procedures never marked share
        what remains equally.
        """
        counter = self.counter(counter_id)
        now = self.clock()
        iso = to_iso(now)
        if not isinstance(procedures, list) or not procedures:
            raise Invalid("Hãy chọn ít nhất một thủ tục đã giải quyết", "List at least one procedure done",
                          code="procedures_required")
        with self.store.write() as conn:
            row = self._current(conn, counter, actor, expect, ("called", "serving"))
            service = self.config.services[row["service"]]
            started = from_iso(row["started_at"] or row["last_called_at"])
            items = _parse_procedures(procedures, service)
            marks = [(json.loads(e["data"])["procedure"], from_iso(e["at"])) for e in conn.execute(
                "SELECT at, data FROM ticket_events WHERE ticket_id = ? AND kind = 'procedure' ORDER BY id",
                (row["id"],))]
            timed = _time_procedures(items, marks, started, now)
            for code, t0, t1 in timed:
                conn.execute(
                    "INSERT INTO ticket_procedures (ticket_id, service, procedure, site, counter_id, staff, "
                    "started_at, ended_at, seconds) VALUES (?,?,?,?,?,?,?,?,?)",
                    (row["id"], service.code, code, counter.site, counter.id, actor.name, to_iso(t0), to_iso(t1),
                     round((t1 - t0).total_seconds(), 3)))
            ticket = conn.execute(
                "UPDATE tickets SET status = 'served', started_at = coalesce(started_at, ?), ended_at = ?, "
                "service_s = ? WHERE id = ? RETURNING *",
                (to_iso(started), iso, round((now - started).total_seconds(), 3), row["id"])).fetchone()
            conn.execute("UPDATE counter_state SET ticket_id = NULL, updated_at = ? WHERE counter_id = ?",
                         (iso, counter.id))
            _log(conn, row["id"], iso, "finished", counter.site, counter.id, actor.name,
                 {"procedures": [c for c, _, _ in timed]})
        ticket = dict(ticket)
        view = self.ticket_view(ticket)
        events = [Event("ticket.finished", counter.site, {**view, "procedures": [c for c, _, _ in timed]}),
                  self._ticket_event(ticket)]
        self._after(events, {counter.site}, counters=[counter])
        return self.get_ticket(ticket["id"], private=True)

    def no_show(self, counter_id: str, actor: Actor, *, expect: int | None = None) -> dict[str, Any]:
        """Called, never came: the counter is free again. The number can still be called later."""
        counter = self.counter(counter_id)
        iso = to_iso(self.clock())
        with self.store.write() as conn:
            row = self._current(conn, counter, actor, expect, ("called",))
            ticket = conn.execute("UPDATE tickets SET status = 'no_show', ended_at = ? WHERE id = ? RETURNING *",
                                  (iso, row["id"])).fetchone()
            conn.execute("UPDATE counter_state SET ticket_id = NULL, updated_at = ? WHERE counter_id = ?",
                         (iso, counter.id))
            _log(conn, row["id"], iso, "no_show", counter.site, counter.id, actor.name,
                 {"call_count": row["call_count"]})
        return self._ticket_changed(counter, dict(ticket))

    def transfer(self, counter_id: str, actor: Actor, *, service: str | None = None,
                 to_counter: str | None = None, keep_place: bool | None = None, note: str | None = None,
                 expect: int | None = None) -> dict[str, Any]:
        """Send the citizen to another service or counter; they wait again under the same number.

        The current row ends as 'transferred' and a new waiting row, linked to it, joins the new queue
        at its old place or at the end (config `transfer_keeps_place`, or `keep_place`).
        """
        counter = self.counter(counter_id)
        site = self.config.sites[counter.site]
        now = self.clock()
        iso = to_iso(now)
        note = (clean_text(note, "note") or None) if note is not None else None
        target: Counter | None = None
        if to_counter:
            target = self.counter(to_counter)
            if target.site != site.code:
                raise Invalid("Chỉ chuyển được sang quầy cùng điểm tiếp nhận",
                              "Transfer only to a counter at the same site", code="other_site")
            if target.id == counter.id:
                raise Invalid("Không thể chuyển sang chính quầy này", "Cannot transfer to the same counter",
                              code="same_counter")
        if service is None and target is None:
            raise Invalid("Hãy chọn dịch vụ hoặc quầy để chuyển", "Give a service or a counter",
                          code="transfer_target_required")
        keep = self.config.rules.transfer_keeps_place if keep_place is None else bool(keep_place)
        with self.store.write() as conn:
            row = self._current(conn, counter, actor, expect, ("called", "serving"))
            if service is not None:
                new_service = self.service(site, service).code
            else:
                target_services = self.counter_services(target, conn)  # type: ignore[arg-type]
                new_service = row["service"] if row["service"] in target_services else target_services[0]
            if target is None and new_service == row["service"]:
                raise Invalid("Số này đã ở dịch vụ đó", "The ticket is already in that service",
                              code="same_service")
            queue_at = row["queue_at"] if keep else iso
            # The citizen's phone link follows them: the old row gives its public id to the new one.
            conn.execute("UPDATE tickets SET public_id = public_id || '.' || id WHERE id = ?", (row["id"],))
            new = conn.execute(
                "INSERT INTO tickets (public_id, visit_id, site, service, service_day, seq, number, priority, source, "
                "device, status, issued_at, queue_at, target_counter, transferred_from, note) "
                "VALUES (?,?,?,?,?,NULL,?,?,?,?, 'waiting', ?, ?, ?, ?, ?) RETURNING *",
                (row["public_id"], row["visit_id"] or row["id"], site.code, new_service, row["service_day"],
                 row["number"], row["priority"], row["source"], row["device"], row["issued_at"], queue_at,
                 target.id if target else None, row["id"], note)).fetchone()
            old = conn.execute(
                "UPDATE tickets SET status = 'transferred', ended_at = ?, transferred_to = ?, "
                "started_at = coalesce(started_at, last_called_at), "
                "service_s = round((julianday(?) - julianday(coalesce(started_at, last_called_at))) * 86400, 3) "
                "WHERE id = ? RETURNING *", (iso, new["id"], iso, row["id"])).fetchone()
            conn.execute("UPDATE counter_state SET ticket_id = NULL, updated_at = ? WHERE counter_id = ?",
                         (iso, counter.id))
            data = {"to_ticket": new["id"], "service": new_service, "counter": target.id if target else None,
                    "keep_place": keep, "note": note}
            _log(conn, row["id"], iso, "transferred", site.code, counter.id, actor.name, data)
            _log(conn, new["id"], iso, "issued", site.code, counter.id, actor.name,
                 {"source": "transfer", "from_ticket": row["id"]})
        events = [self._ticket_event(dict(old)), Event("ticket.issued", site.code, self.ticket_view(new)),
                  self._ticket_event(dict(new))]
        self._after(events, {site.code}, counters=[counter])
        return self.get_ticket(new["id"], private=True)

    def pause(self, counter_id: str, actor: Actor, reason: str, note: str | None = None) -> dict[str, Any]:
        counter = self.counter(counter_id)
        if reason not in PAUSE_REASONS:
            raise Invalid("Lý do tạm dừng không hợp lệ", f"reason must be one of {', '.join(PAUSE_REASONS)}",
                          code="bad_reason")
        note = clean_text(note, "note") if note is not None else None
        iso = to_iso(self.clock())
        text = reason if not note else f"{reason}: {note}"
        with self.store.write() as conn:
            state = self._claim_counter(conn, counter, actor, iso)
            if state["ticket_id"]:
                self._ensure_free(conn, counter, state)
            if state["status"] == "paused":
                raise Conflict("Quầy đã tạm dừng", "The counter is already paused", code="already_paused")
            conn.execute("UPDATE counter_state SET status = 'paused', pause_reason = ?, since = ?, updated_at = ? "
                         "WHERE counter_id = ?", (text, iso, iso, counter.id))
            _counter_log(conn, counter, iso, "pause", actor.name, text)
        return self._counter_changed(counter)

    def resume(self, counter_id: str, actor: Actor) -> dict[str, Any]:
        counter = self.counter(counter_id)
        iso = to_iso(self.clock())
        with self.store.write() as conn:
            state = self._claim_counter(conn, counter, actor, iso)
            if state["status"] != "paused":
                raise Conflict("Quầy không ở trạng thái tạm dừng", "The counter is not paused", code="not_paused")
            conn.execute("UPDATE counter_state SET status = 'open', pause_reason = NULL, since = ?, updated_at = ? "
                         "WHERE counter_id = ?", (iso, iso, counter.id))
            _counter_log(conn, counter, iso, "resume", actor.name, None)
        return self._counter_changed(counter)

    def mark_left(self, ticket_id: int, actor: Actor, note: str | None = None) -> dict[str, Any]:
        """Staff saw a waiting citizen leave before being called."""
        note = clean_text(note, "note") if note is not None else None
        iso = to_iso(self.clock())
        with self.store.write() as conn:
            row = conn.execute("UPDATE tickets SET status = 'left', ended_at = ? WHERE id = ? AND status = 'waiting' "
                               "RETURNING *", (iso, ticket_id)).fetchone()
            if row is None:
                raise Conflict("Chỉ đánh dấu rời đi được với số đang chờ", "Only a waiting ticket can be marked left",
                               code="wrong_status")
            _log(conn, ticket_id, iso, "left", row["site"], None, actor.name, {"note": note} if note else None)
        self._after([self._ticket_event(dict(row))], {row["site"]})
        return self.ticket_view(row)

    # ------------------------------------------------------------------ the day

    def close_day(self, site_code: str, actor: Actor = SYSTEM, *, before_day: str | None = None) -> int:
        """End the service day: waiting and called tickets end as cancelled ("not served – closed").

        With `before_day`, only tickets of earlier service days (the day rolled over). History stays.
        """
        site = self.site(site_code)
        now = self.clock()
        iso = to_iso(now)
        day = before_day or self.today(site, now)
        op = "<" if before_day else "<="
        with self.store.write() as conn:
            rows = conn.execute(
                f"UPDATE tickets SET status = 'cancelled', ended_at = ? WHERE site = ? AND service_day {op} ? "
                "AND status IN ('waiting', 'called') RETURNING id, status", (iso, site.code, day)).fetchall()
            for r in rows:
                _log(conn, r["id"], iso, "cancelled", site.code, None, actor.name, {"reason": "closed"})
            freed = conn.execute(
                "UPDATE counter_state SET ticket_id = NULL, updated_at = ? WHERE site = ? AND ticket_id IN "
                "(SELECT id FROM tickets WHERE status = 'cancelled' AND ended_at = ?) RETURNING counter_id",
                (iso, site.code, iso)).fetchall()
            if not before_day:
                closed = conn.execute(
                    "UPDATE counter_state SET status = 'closed', staff = NULL, pause_reason = NULL, since = ?, "
                    "updated_at = ? WHERE site = ? AND status != 'closed' AND ticket_id IS NULL RETURNING counter_id",
                    (iso, iso, site.code)).fetchall()
                for r in closed:
                    conn.execute("INSERT INTO counter_events (counter_id, site, at, kind, staff, reason) "
                                 "VALUES (?,?,?,'close',?,'day closed')", (r[0], site.code, iso, actor.name))
        if rows or not before_day or freed:
            self._after([Event("day.closed", site.code, {"site": site.code, "service_day": day,
                                                         "cancelled": len(rows)})],
                        {site.code}, counters=list(site.counters))
        return len(rows)

    def housekeeping(self) -> None:
        """Run every few seconds by the server: roll the day over and close it after the last session."""
        now = self.clock()
        for site in self.config.sites.values():
            day = self.today(site, now)
            with self.store.connection() as conn:
                stale = conn.execute("SELECT 1 FROM tickets WHERE site = ? AND service_day < ? AND status IN "
                                     "('waiting','called') LIMIT 1", (site.code, day)).fetchone()
                waiting_today = conn.execute(
                    "SELECT 1 FROM tickets WHERE site = ? AND service_day = ? AND status IN ('waiting','called') "
                    "LIMIT 1", (site.code, day)).fetchone()
            if stale:
                self.close_day(site.code, before_day=day)
            state = opening_state(now, site, self.config.tz)
            if waiting_today and not state.open:
                reopens_today = state.next_open is not None and service_day(state.next_open, site,
                                                                             self.config.tz) == day
                if not reopens_today:
                    self.close_day(site.code)

    # ------------------------------------------------------------------ events

    def _ticket_event(self, ticket: dict[str, Any]) -> Event:
        """A ticket's new state, for its site and for the citizen following it by phone."""
        return Event("ticket.updated", ticket["site"], self.ticket_view(ticket), ticket_room=ticket["public_id"],
                     site_wide=False)

    def _ticket_changed(self, counter: Counter, ticket: dict[str, Any]) -> dict[str, Any]:
        self._after([self._ticket_event(ticket)], {counter.site}, counters=[counter])
        return self.ticket_view(ticket)

    def _counter_view_now(self, counter: Counter) -> dict[str, Any]:
        with self.store.read() as conn:
            return self.counter_view(conn, counter, private=True)

    def _counter_changed(self, counter: Counter) -> dict[str, Any]:
        self._after([], set(), counters=[counter])
        return self._counter_view_now(counter)

    def _counter_state(self, counter: Counter) -> dict[str, Any]:
        with self.store.read() as conn:
            return self.counter_view(conn, counter)

    def _queue_update(self, site_code: str) -> dict[str, Any]:
        now = self.clock()
        with self.store.read() as conn:
            services = self.services_state(conn, self.config.sites[site_code], now)
        return {"site": site_code, "at": to_iso(now), "services": services}

    def _after(self, events: list[Event], sites: set[str], counters: list[Counter] | None = None) -> None:
        """After a commit: add the queue and counter state (read when sent: `Event.payload`), then hand
        everything to the publisher."""
        if any(e.name != "ticket.issued" for e in events) or counters:
            for code in sites | {c.site for c in counters or []}:
                self._newcomers.pop(code, None)  # the queue changed otherwise than by new tickets
        try:
            out = list(events)
            for c in counters or []:
                out.append(Event("counter.updated", c.site, functools.partial(self._counter_state, c), key=c.id))
            for code in sorted(sites | {c.site for c in counters or []}):
                out.append(Event("queue.updated", code, functools.partial(self._queue_update, code)))
            self.publish(out)
        except Exception:  # noqa: BLE001 - the commit stands; screens resync on their own
            import logging

            logging.getLogger(__name__).exception("publishing events failed")


# ---------------------------------------------------------------------- helpers


def _counter_brief(counter: Counter | None) -> dict[str, Any] | None:
    if counter is None:
        return None
    return {"id": counter.id, "number": counter.number, "name": counter.name}


def _log(conn: sqlite3.Connection, ticket_id: int, at: str, kind: str, site: str, counter_id: str | None,
         staff: str | None, data: dict[str, Any] | None) -> None:
    append_events(conn, [(ticket_id, at, kind, site, counter_id, staff,
                          json.dumps(data, ensure_ascii=False) if data else None)])


def append_events(conn: sqlite3.Connection, rows: Iterable[tuple[Any, ...]]) -> None:
    """Rows of `ticket_events` (ticket_id, at, kind, site, counter_id, staff, data as JSON text): the only
    writer of a ticket's history (the engine's operations, print outcomes, the synthetic history's bulk load)."""
    conn.executemany("INSERT INTO ticket_events (ticket_id, at, kind, site, counter_id, staff, data) "
                     "VALUES (?,?,?,?,?,?,?)", rows)


def _counter_log(conn: sqlite3.Connection, counter: Counter, at: str, kind: str, staff: str | None,
                 reason: str | None) -> None:
    conn.execute("INSERT INTO counter_events (counter_id, site, at, kind, staff, reason) VALUES (?,?,?,?,?,?)",
                 (counter.id, counter.site, at, kind, staff, reason))


def _closed_error(site: Site, state: Any) -> Conflict:
    when = state.next_open.strftime("%H:%M ngày %d/%m/%Y") if state.next_open else None
    when_en = state.next_open.strftime("%H:%M on %d/%m/%Y") if state.next_open else None
    if state.reason == "closing_soon":
        return Conflict(f"Đã ngừng cấp số trước giờ đóng cửa {site.stop_issuing_before_close_min} phút"
                        + (f"; mời quay lại lúc {when}" if when else ""),
                        f"Ticket issuing stops {site.stop_issuing_before_close_min} min before closing"
                        + (f"; come back at {when_en}" if when_en else ""), code="issuing_stopped",
                        next_open=state.next_open.isoformat() if state.next_open else None)
    return Conflict("Ngoài giờ làm việc" + (f"; mời quay lại lúc {when}" if when else ""),
                    "Closed" + (f"; opens at {when_en}" if when_en else ""), code="closed",
                    next_open=state.next_open.isoformat() if state.next_open else None)


def _take_issue_token(conn: sqlite3.Connection, device: str, now: datetime) -> None:
    """One token from the device's bucket (KIOSK_BURST, refilled one per KIOSK_REFILL_S), or a 429 saying when
    the next one comes. In the issue's transaction: the write lock serialises every process, and a refused
    or failed issue rolls the token back."""
    t = now.timestamp()
    row = conn.execute("SELECT tokens, at FROM issue_limits WHERE device = ?", (device,)).fetchone()
    tokens = KIOSK_BURST if row is None else min(KIOSK_BURST, row["tokens"] + max(0.0, t - row["at"]) / KIOSK_REFILL_S)
    if tokens < 1:
        raise QueueError("Kiosk đang cấp số quá nhanh, vui lòng chờ vài giây rồi chạm lại",
                         "Too many tickets from this kiosk; please wait a few seconds", code="rate_limited",
                         status=429, retry_after=round((1 - tokens) * KIOSK_REFILL_S, 1))
    conn.execute("INSERT INTO issue_limits (device, tokens, at) VALUES (?,?,?) ON CONFLICT(device) DO UPDATE "
                 "SET tokens = excluded.tokens, at = excluded.at", (device, tokens - 1, t))


def _prior_request(conn: sqlite3.Connection, caller: str, request_id: str, now: datetime) -> sqlite3.Row | None:
    """The ticket an earlier request with this id made (within REQUEST_TTL_S), if any."""
    cutoff = to_iso(now - timedelta(seconds=REQUEST_TTL_S))
    return conn.execute("SELECT t.* FROM issue_requests r JOIN tickets t ON t.id = r.ticket_id "
                        "WHERE r.caller = ? AND r.request_id = ? AND r.at >= ?",
                        (caller, request_id, cutoff)).fetchone()


def _remember_request(conn: sqlite3.Connection, caller: str, request_id: str, ticket_id: int, now: datetime) -> None:
    iso = to_iso(now)
    conn.execute("DELETE FROM issue_requests WHERE caller = ? AND at < ?",
                 (caller, to_iso(now - timedelta(seconds=REQUEST_TTL_S))))
    conn.execute("INSERT INTO issue_requests (caller, request_id, at, ticket_id) VALUES (?,?,?,?) "
                 "ON CONFLICT(caller, request_id) DO UPDATE SET at = excluded.at, ticket_id = excluded.ticket_id, "
                 "answer = NULL", (caller, request_id, iso, ticket_id))


def request_answer(store: Store, caller: str, request_id: str) -> dict[str, Any] | None:
    """What the route answered to a request id (stored by remember_answer), for a retry."""
    with store.connection() as conn:
        row = conn.execute("SELECT answer FROM issue_requests WHERE caller = ? AND request_id = ?",
                           (caller, request_id)).fetchone()
    return json.loads(row["answer"]) if row and row["answer"] else None


def remember_answer(store: Store, caller: str, request_id: str, answer: dict[str, Any]) -> None:
    with store.write() as conn:
        conn.execute("UPDATE issue_requests SET answer = ? WHERE caller = ? AND request_id = ?",
                     (json.dumps(answer, ensure_ascii=False), caller, request_id))


STATUS_VI = {"waiting": "đang chờ", "called": "đã gọi", "serving": "đang phục vụ", "served": "đã phục vụ",
             "no_show": "vắng mặt", "transferred": "đã chuyển", "cancelled": "hủy khi hết giờ",
             "left": "đã rời đi"}


def _status_vi(status: str) -> str:
    return STATUS_VI.get(status, status)


def _parse_procedures(items: list[Any], service: Service) -> list[tuple[str, float | None]]:
    out: list[tuple[str, float | None]] = []
    for i, item in enumerate(items):
        seconds = None
        if isinstance(item, dict):
            code = item.get("code")
            seconds = item.get("seconds")
            if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, int | float)
                                        or not 0 <= seconds <= 86400):
                raise Invalid("Thời gian thủ tục không hợp lệ", f"procedures[{i}].seconds must be 0–86400",
                              code="bad_procedure")
        else:
            code = item
        if not isinstance(code, str) or service.procedure(code) is None:
            raise Invalid(f"Thủ tục '{code}' không thuộc dịch vụ {service.name}",
                          f"Procedure '{code}' is not part of {service.name_en}", code="unknown_procedure")
        out.append((code, float(seconds) if seconds is not None else None))
    return out


def _time_procedures(items: list[tuple[str, float | None]], marks: list[tuple[str, datetime]],
                     started: datetime, now: datetime) -> list[tuple[str, datetime, datetime]]:
    """Give each procedure a start and end within [started, now].

    Explicit seconds win; then the times between marks; the rest share the remaining time equally.
    """
    out: list[tuple[str, datetime, datetime]] = []
    cursor = started
    pending: list[str] = []
    marked = {code: at for code, at in marks}
    explicit = [(c, s) for c, s in items if s is not None]
    if explicit and len(explicit) == len(items):
        for code, seconds in explicit:
            end = cursor + timedelta(seconds=seconds)
            out.append((code, cursor, end))
            cursor = end
        return out
    for code, _ in sorted(items, key=lambda it: marked.get(it[0], now + timedelta(days=1))):
        at = marked.get(code)
        if at is not None and cursor <= at <= now:
            out.append((code, cursor, at))
            cursor = at
        else:
            pending.append(code)
    if pending:
        share = (now - cursor) / len(pending)
        for code in pending:
            out.append((code, cursor, cursor + share))
            cursor = cursor + share
    return out

