"""The one calling order (center/queue/policy.py), checked against the engine on real SQLite files: for random
queues, counters with their own preferences, strict or interleaved priority, aging and transfers that keep
their place,

- the estimate's replay predicts, call by call, who `Engine.call_next` really calls (the clock moving on
  as the replay says, so tickets age on the way);
- each waiting ticket's people-ahead count equals the number of tickets that every counter able to call
  it calls before it, whatever its turn in the interleaving (each such counter draining the queue alone,
  with the engine's own `call_next`);
- the count printed at issue (from `queue_counts`) equals that count for the new ticket.

Booked tickets join too (checked in before, at or after their slot: `queue_at` is the slot's start, or now
when late), with the fair merge's cap (center/queue/policy.py, bookings' share of a counter's last calls while
a walk-in waits too long): the replay decides the walk-in turn as the engine does, and people ahead are the
tickets every able counter calls first whatever its priority turn and its walk-in turn.
"""

from __future__ import annotations

import dataclasses
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from center.config.read import load_config
from center.queue.actors import Actor
from center.queue.clock import to_iso
from center.queue.engine import Engine
from center.queue.estimate import _replay
from center.storage.store import Store
from tests.conftest import DEMO_CONFIG, FakeClock

SERVICES = ("CT", "HT", "HD", "TKQ")
COUNTERS = ("main-1", "main-2", "main-3", "main-4", "main-6")
STAFF = Actor("canbo", "staff")
BASE = load_config(DEMO_CONFIG)

issue_step = st.tuples(st.just("issue"), st.sampled_from(SERVICES), st.booleans(),
                       st.sampled_from([0, 0, 30, 120, 400, 900]))
book_step = st.tuples(st.just("book"), st.sampled_from(SERVICES), st.sampled_from([-2, -1, 0, 1, 2, 3]),
                      st.sampled_from([0, 30, 400]))
transfer_step = st.tuples(st.just("transfer"), st.integers(0, 10),
                          st.one_of(st.sampled_from(SERVICES), st.sampled_from(COUNTERS).map(lambda c: "@" + c)),
                          st.booleans())
scenario = st.fixed_dictionaries({
    "strict": st.booleans(),
    "every": st.integers(1, 3),
    "aging_min": st.sampled_from([5, 10, 30]),
    "open": st.lists(st.sampled_from(COUNTERS), min_size=1, max_size=4, unique=True),
    "overrides": st.dictionaries(st.sampled_from(COUNTERS),
                                 st.lists(st.sampled_from(SERVICES), min_size=1, max_size=3, unique=True),
                                 max_size=3),
    "streaks": st.lists(st.integers(0, 3), min_size=5, max_size=5),
    "steps": st.lists(st.one_of(issue_step, issue_step, issue_step, transfer_step, book_step), min_size=6,
                      max_size=24),
    "booked_share": st.sampled_from([0.0, 0.2, 0.5, 1.0]),
    "walkin_wait_min": st.sampled_from([0, 5, 15]),
    "handling": st.lists(st.integers(60, 900), min_size=len(SERVICES), max_size=len(SERVICES)),
})


class World:
    def __init__(self, directory: str, sc: dict):
        rules = dataclasses.replace(BASE.rules, priority_policy="strict" if sc["strict"] else "interleaved",
                                    interleave_every=sc["every"], aging_min=sc["aging_min"])
        booking = dataclasses.replace(BASE.booking, enabled=True, max_booked_share=sc["booked_share"],
                                      walkin_wait_min=sc["walkin_wait_min"], capacity=dict.fromkeys(SERVICES, 1000))
        self.config = dataclasses.replace(BASE, rules=rules, booking=booking)
        self.clock = FakeClock()
        self.store = Store(Path(directory) / "queue.sqlite3")
        self.engine = Engine(self.store, self.config, clock=self.clock, publish=lambda events: None)
        self.site = self.config.sites["main"]
        self.sc = sc

    def sql(self, query: str, params: tuple = ()) -> list:
        with self.store.write() as conn:
            return conn.execute(query, params).fetchall()

    def services(self, counter_id: str) -> tuple[str, ...]:
        return self.engine.counter_services(self.engine.counter(counter_id))

    def setup(self) -> None:
        for cid, services in self.sc["overrides"].items():
            self.sql("INSERT INTO settings (key, value, updated_at) VALUES (?, ?, '')",
                     (f"counter_services:{cid}", '["' + '","'.join(services) + '"]'))
        for cid, streak in zip(self.sc["open"], self.sc["streaks"], strict=False):
            self.engine.take_counter(cid, STAFF)
            self.sql("UPDATE counter_state SET normal_since_priority = ? WHERE counter_id = ?", (streak, cid))

    def waiting(self) -> list:
        return self.sql("SELECT * FROM tickets WHERE status = 'waiting' ORDER BY id")

    def ahead(self, ticket_id: int) -> int:
        with self.store.read() as conn:
            row = conn.execute("SELECT * FROM tickets WHERE id = ?", (ticket_id,)).fetchone()
            return self.engine._ahead(conn, row)

    def book(self, service: str, slots_from_now: int, gap: int) -> None:
        """Book a slot around now and check in at once: early, on time, or late (then a walk-in)."""
        self.clock.advance(seconds=gap)
        step = 60 * self.config.booking.slot_min
        current = self.clock.now.timestamp() // step * step
        start = datetime.fromtimestamp(current + slots_from_now * step, UTC)
        if start.timestamp() + step <= self.clock.now.timestamp():  # a past slot: booked as the current one
            b = self.engine.book("main", service, to_iso(datetime.fromtimestamp(current, UTC)))
            self.sql("UPDATE bookings SET slot_at = ? WHERE code = ?", (to_iso(start), b["code"]))
        else:
            b = self.engine.book("main", service, to_iso(start))
        t = self.engine.check_in(b["code"], STAFF, source="desk")
        assert t["ahead"] == self.ahead(t["id"]), "the count at check-in is the people-ahead count"

    def run_steps(self) -> None:
        for step in self.sc["steps"]:
            if step[0] == "book":
                self.book(*step[1:])
            elif step[0] == "issue":
                _, service, priority, gap = step
                self.clock.advance(seconds=gap)
                allowed = self.config.services[service].allow_priority
                t = self.engine.issue("main", service, priority="elderly" if priority and allowed else None)
                assert t["ahead"] == self.ahead(t["id"]), "the count at issue is the people-ahead count"
            else:
                _, pick, to, keep = step
                counter = self.sc["open"][pick % len(self.sc["open"])]
                called = self.engine.call_next(counter, STAFF)
                if called is None:
                    continue
                if to.startswith("@") and to[1:] != counter:
                    self.engine.transfer(counter, STAFF, to_counter=to[1:], keep_place=keep)
                elif not to.startswith("@") and to != called["service"]:
                    self.engine.transfer(counter, STAFF, service=to, keep_place=keep)
                else:
                    self.engine.no_show(counter, STAFF)

    def able(self, row) -> list[str]:
        """The counters able to call a ticket, as the policy defines them."""
        if row["target_counter"]:
            return [row["target_counter"]]
        states = dict((r[0], r[1]) for r in self.sql("SELECT counter_id, status FROM counter_state"))
        serving = [c.id for c in self.site.counters if row["service"] in self.services(c.id)]
        return [c for c in serving if states[c] in ("open", "paused")] or serving

    def drain(self, counter_id: str, due: bool, walkin: bool) -> list[int]:
        """Every ticket `counter_id` calls alone from now on, a priority call due (or not) and a walk-in call due
        (or not) at each call; the database is put back as it was afterwards."""
        saved = self.sql("SELECT * FROM counter_state")
        order = []
        self.engine._walkin_due = lambda *args: walkin  # the fair merge's turn, forced like the priority turn
        self.engine.take_counter(counter_id, STAFF)  # opening owes a priority call: open first, then set the turn
        while True:
            if self.config.rules.priority_policy != "strict":
                self.sql("UPDATE counter_state SET normal_since_priority = ? WHERE counter_id = ?",
                         (self.config.rules.interleave_every if due else 0, counter_id))
            got = self.engine.call_next(counter_id, STAFF)
            if got is None:
                break
            order.append(got["id"])
            self.sql("UPDATE counter_state SET ticket_id = NULL WHERE counter_id = ?", (counter_id,))
        del self.engine._walkin_due
        if order:
            self.sql(f"UPDATE tickets SET status = 'waiting' WHERE id IN ({','.join('?' * len(order))})",
                     tuple(order))
        for r in saved:
            self.sql("UPDATE counter_state SET status = ?, staff = ?, ticket_id = ?, normal_since_priority = ?, "
                     "since = ?, pause_reason = ? WHERE counter_id = ?",
                     (r["status"], r["staff"], r["ticket_id"], r["normal_since_priority"], r["since"],
                      r["pause_reason"], r["counter_id"]))
        return order


def _describe(world: World) -> None:
    """What the example exercises (pytest --hypothesis-show-statistics)."""
    rows = world.waiting()
    aged = to_iso(world.clock.now - timedelta(minutes=world.config.rules.aging_min))
    event(f"waiting: {min(len(rows) // 4 * 4, 12)}+")
    event(f"aged: {any(r['queue_at'] <= aged for r in rows)}")
    event(f"transferred to a counter: {any(r['target_counter'] for r in rows)}")
    event(f"kept its place: {any(r['transferred_from'] and r['queue_at'] == r['issued_at'] for r in rows)}")
    event(f"priority: {any(r['priority'] for r in rows)}")
    event(f"booked: {any(r['booking'] for r in rows)}")
    event(f"booked ahead of its slot: {any(r['booking'] and r['queue_at'] > to_iso(world.clock.now) for r in rows)}")


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario)
def test_people_ahead_are_the_tickets_every_able_counter_calls_first(sc):
    with tempfile.TemporaryDirectory() as directory:
        world = World(directory, sc)
        try:
            world.setup()
            world.run_steps()
            turns = [(due, w) for due in ((True,) if sc["strict"] else (True, False))
                     for w in ((True, False) if world.engine.order.fair else (False,))]
            _describe(world)
            counts = {r["id"]: world.ahead(r["id"]) for r in world.waiting()}
            able = {r["id"]: world.able(r) for r in world.waiting()}
            drains: dict[tuple[str, tuple[bool, bool]], list[int]] = {}
            for row in world.waiting():
                if not able[row["id"]]:
                    continue
                before = None
                for counter in able[row["id"]]:
                    for due in turns:
                        if (counter, due) not in drains:
                            drains[(counter, due)] = world.drain(counter, *due)
                        order = drains[(counter, due)]
                        assert row["id"] in order
                        first = set(order[:order.index(row["id"])])
                        before = first if before is None else before & first
                assert counts[row["id"]] == len(before), (row["id"], sorted(before))
        finally:
            world.store.close()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario)
def test_the_replay_predicts_every_call_of_the_engine(sc):
    with tempfile.TemporaryDirectory() as directory:
        world = World(directory, sc)
        try:
            world.setup()
            world.run_steps()
            rules = world.config.rules
            day = world.engine.today(world.site)
            with world.store.read() as conn:
                snap = world.engine._snapshot(conn, world.site, day)
            workers = [(i, c) for i, c in enumerate(snap.counters) if c.status == "open"]
            handling = dict(zip(SERVICES, sc["handling"], strict=True))
            calls: list[tuple[float, int, int]] = []
            _replay(snap.queue, -1, workers, [0.0] * len(workers), [], handling, rules.priority_policy == "strict",
                    rules.interleave_every, rules.aging_min * 60, calls=calls, order=world.engine.order)
            _describe(world)
            start = world.clock.now
            actual = []
            for at, i, _ticket in calls:
                world.clock.now = start + timedelta(seconds=at)
                counter = world.site.counters[i].id
                if world.sql("SELECT ticket_id FROM counter_state WHERE counter_id = ?", (counter,))[0][0]:
                    world.engine.no_show(counter, STAFF)
                got = world.engine.call_next(counter, STAFF)
                actual.append((at, i, got["id"] if got else None))
            assert actual == calls
            for i, _c in workers:  # the replay left them idle: nothing else they may call
                counter = world.site.counters[i].id
                if world.sql("SELECT ticket_id FROM counter_state WHERE counter_id = ?", (counter,))[0][0]:
                    world.engine.no_show(counter, STAFF)
                assert world.engine.call_next(counter, STAFF) is None
        finally:
            world.store.close()
