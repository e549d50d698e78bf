"""Issue 25: whatever a node did, in any batch split, arrives: random sequences of the engine's real operations at
a node (issues, calls, recalls, transfers to a service or a counter, no-shows, procedures, ratings after a transfer,
pauses, forced releases, bookings checked in, reprints, people who left, day closes), pushed to the center in
batches of random size with the link cut at random (a batch lost on the way, or applied with its answer lost),
then the center's rows equal the node's, table by table, and nothing is held back.

Before the fix a row was read "as it is now" while its outbox note lay in an earlier batch than the rows it
refers to (a ticket transferred to one made later, a counter serving a ticket issued since): the center's commit
failed on the foreign key and the link stopped for good."""

from __future__ import annotations

import os
import random
import tempfile
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from center.config.read import parse_config, read_toml
from center.errors import QueueError
from center.queue import ratings
from center.queue.actors import Actor
from center.queue.clock import to_iso
from center.queue.engine import Engine
from center.storage import outbox
from center.storage.outbox import LOCAL_COLUMNS, ORDER, own_id
from center.storage.store import Store
from center.sync import manifest, nodes
from tests.conftest import FakeClock
from tests.sync_support import center_config

STAFF = Actor(name="staff1", role="staff")
MANAGER = Actor(name="manager", role="manager")
NODE = "branch"
SITE = "branch"
EXAMPLES = int(os.environ.get("XEPHANG_SYNC_PROPERTY_EXAMPLES", "15"))

# Weighted as a day goes: many issues, calls and visits, some transfers and ratings, now and then a pause, a
# forced release or a booking, rarely a day close.
OPS = (("issue",) * 5 + ("call",) * 4 + ("start",) * 4 + ("finish",) * 4 + ("transfer",) * 3 + ("rate",) * 2
       + ("tick",) * 2 + ("sync",) * 2 + ("recall", "no_show", "pause", "resume", "take", "release", "force_release",
                                           "left", "book", "reprint"))
RARE = ("close_day",)


class Places:
    """A node and its center, each on its own SQLite file, with the engine at the node and the receiving side of
    the link at the center (center/sync/nodes.py) called as the push route calls it."""

    def __init__(self, directory: Path):
        self.center_cfg = parse_config(read_toml(center_config(directory)), str(directory / "center.toml"))
        self.node = self.center_cfg.node(NODE)
        data = manifest.node_data({"upstream": {"url": "http://127.0.0.1:9", "node": NODE}},
                                  {"config": read_toml(self.center_cfg.source_path), "sites": list(self.node.sites)})
        self.cfg = parse_config(data)
        self.clock = FakeClock()
        self.node_store = Store(directory / "node.sqlite3")
        with self.node_store.write() as conn:
            outbox.link(conn, NODE, self.node.block)
        self.center_store = Store(directory / "center.sqlite3")
        Engine(self.center_store, self.center_cfg, clock=self.clock, publish=lambda events: None)
        self.engine = Engine(self.node_store, self.cfg, clock=self.clock, publish=lambda events: None)
        self.acked = 0
        self.counters = [c.id for c in self.cfg.sites[SITE].counters]
        self.services = list(self.cfg.sites[SITE].services)
        self.batches = 0

    def close(self) -> None:
        self.node_store.close()
        self.center_store.close()

    def _at_counter(self, rnd: random.Random, op: str) -> str:
        """A counter for the operation: one with a citizen at it for what needs one (as a clerk acts on their own
        counter), else any."""
        if op in ("start", "finish", "transfer", "recall", "no_show"):
            with self.node_store.read() as conn:
                busy = [r[0] for r in conn.execute("SELECT counter_id FROM counter_state WHERE ticket_id IS NOT NULL "
                                                   "ORDER BY counter_id")]
            if busy:
                return rnd.choice(busy)
        return rnd.choice(self.counters)

    def do(self, op: str, rnd: random.Random) -> None:
        e, counter = self.engine, self._at_counter(rnd, op)
        try:
            if op == "issue":
                e.issue(SITE, rnd.choice(self.services), priority="elderly" if rnd.random() < 0.2 else None)
            elif op == "call":
                e.call_next(counter, STAFF)
            elif op == "start":
                e.start(counter, STAFF)
            elif op == "finish":
                self._finish(counter, rnd)
            elif op == "transfer":
                if rnd.random() < 0.3:
                    e.transfer(counter, STAFF, to_counter=rnd.choice(self.counters), keep_place=rnd.random() < 0.5)
                else:
                    e.transfer(counter, STAFF, service=rnd.choice(self.services), keep_place=rnd.random() < 0.5)
            elif op == "recall":
                e.recall(counter, STAFF)
            elif op == "no_show":
                e.no_show(counter, STAFF, **({"confirmed": True} if _takes_confirmed(e) else {}))
            elif op == "rate":
                self._rate(counter, rnd)
            elif op == "pause":
                e.pause(counter, STAFF, "break")
            elif op == "resume":
                e.resume(counter, STAFF)
            elif op == "take":
                e.take_counter(counter, STAFF)
            elif op == "release":
                e.release_counter(counter, STAFF)
            elif op == "force_release":
                e.release_counter(counter, MANAGER, force=True)
            elif op == "left":
                self._left(rnd)
            elif op == "book":
                self._book(rnd)
            elif op == "reprint":
                self._reprint(rnd)
            elif op == "close_day":
                e.close_day(SITE, MANAGER)
            elif op == "tick":
                self.clock.advance(minutes=rnd.choice((1, 3, 7, 20)))
            elif op == "sync":
                self.push(rnd.choice((1, 2, 3, 5, 8, 13, 40, 250)), cut=rnd.choice((None, None, "before", "after")))
        except QueueError:
            pass  # refused in this state (nothing to call, counter closed…): a clerk would see the same message

    def _finish(self, counter: str, rnd: random.Random) -> None:
        with self.node_store.read() as conn:
            row = conn.execute("SELECT t.service FROM counter_state c JOIN tickets t ON t.id = c.ticket_id "
                               "WHERE c.counter_id = ?", (counter,)).fetchone()
        procs = [p.code for p in self.cfg.services[row[0]].procedures] if row else []
        self.engine.finish(counter, STAFF, rnd.sample(procs, k=min(len(procs), rnd.choice((1, 2)))))

    def _rate(self, counter: str, rnd: random.Random) -> None:
        pending = ratings.pending(self.node_store, counter, self.clock(), self.cfg.rating)
        if pending:
            level = rnd.choice(self.cfg.rating.levels).code
            ratings.record(self.node_store, counter, pending["ticket"], level, [], self.clock(), self.cfg.rating)

    def _waiting(self) -> list[int]:
        with self.node_store.read() as conn:
            return [r[0] for r in conn.execute("SELECT id FROM tickets WHERE status = 'waiting'")]

    def _left(self, rnd: random.Random) -> None:
        if waiting := self._waiting():
            self.engine.mark_left(rnd.choice(waiting), STAFF, "về trước")

    def _book(self, rnd: random.Random) -> None:
        service = rnd.choice(self.services)
        day = self.engine.today(self.cfg.sites[SITE])
        slots = [s for s in self.engine.slots(SITE, service, day) if s["free"] and not s["past"]]
        if slots:
            booking = self.engine.book(SITE, service, rnd.choice(slots[:3])["slot_at"], phone="0912345678")
            if rnd.random() < 0.8:
                self.engine.check_in(booking["code"], STAFF, site_code=SITE, source="desk")

    def _reprint(self, rnd: random.Random) -> None:
        if waiting := self._waiting():
            tid = rnd.choice(waiting)
            now = to_iso(self.clock())
            with self.node_store.write() as conn:
                conn.execute(f"INSERT INTO print_jobs (id, ticket_id, kiosk, status, error, created_at, updated_at) "
                             f"VALUES ({own_id('print_jobs')},?,?,?,?,?,?)",
                             (tid, "branch-kiosk-1", "printed", None, now, now))
            ticket = self.engine.ticket(tid) if hasattr(self.engine, "ticket") else {"id": tid, "site": SITE}
            self.engine.record_print({"id": tid, "site": ticket.get("site", SITE)}, True, "staff1", {"reprint": True})

    def push(self, limit: int, cut: str | None = None) -> dict | None:
        """One batch up the link: lost before the center (`before`), applied with its answer lost (`after`), or
        delivered and acknowledged, as link.py does."""
        with self.node_store.connection() as conn:
            batch = outbox.collect(conn, NODE, self.acked, limit)
        if cut == "before":
            return None
        with self.center_store.write() as conn:
            result = nodes.receive(conn, self.center_cfg, self.node, batch, via="link", size=0, now=self.clock(),
                                   clock_offset_s=0.0)
        self.batches += 1
        # the sender's rule: a batch carries every row its rows refer to, so nothing waits for a later batch
        assert not result["held"], [h.describe() for h in result["held"]]
        if cut != "after":
            self.acked = result["hwm"]
        return result

    def drain(self, limits: list[int] | None = None) -> None:
        """Push until nothing is pending, the batches' sizes taken in turn from `limits` (the link's 250 if none)."""
        limits = limits or [250]
        for n in range(10_000):
            with self.node_store.read() as conn:
                if not outbox.pending(conn, self.acked):
                    return
            self.push(limits[n % len(limits)])
        raise AssertionError("the link never drained")

    def tables(self, store: Store) -> dict[str, dict]:
        """Every synced row of the node's place, keyed, without the receiver's own bookkeeping."""
        lo = self.node.block * 10**12
        out = {}
        with store.read() as conn:
            for tbl in ORDER:
                cols = [r[1] for r in conn.execute(f"PRAGMA table_info({tbl})") if r[1] not in LOCAL_COLUMNS
                        and r[1] != "sync_ver"]
                key = outbox.SYNCED_KEYS[tbl]
                where = ("site = ?", (SITE,)) if tbl in ("counter_state", "bookings") else (f"{key} >= ?", (lo,))
                rows = conn.execute(f"SELECT {', '.join(cols)} FROM {tbl} WHERE {where[0]}", where[1])  # noqa: S608
                out[tbl] = {r[cols.index(key)]: tuple(r) for r in rows}
        return out


def _takes_confirmed(engine: Engine) -> bool:
    import inspect

    return "confirmed" in inspect.signature(engine.no_show).parameters


def _run(ops: list[tuple[str, int]], limits: list[int]) -> Places:
    with tempfile.TemporaryDirectory() as d:
        places = Places(Path(d))
        try:
            for c in places.counters:
                places.engine.take_counter(c, STAFF)
            for op, seed in ops:
                places.do(op, random.Random(seed))
            places.clock.advance(minutes=1)
            places.drain(limits)  # the link comes back: the backlog in batches of random sizes
            node, center = places.tables(places.node_store), places.tables(places.center_store)
            with places.center_store.read() as conn:
                held = [dict(r) for r in conn.execute("SELECT tbl, key, reason FROM sync_held")]
            assert not held, f"the center held rows back: {held[:5]}"
            for tbl in ORDER:
                assert center[tbl] == node[tbl], f"{tbl}: the center's rows differ from the node's"
            assert sum(len(t) for t in node.values()) > 0
        finally:
            places.close()
    return places


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(OPS) | st.sampled_from(RARE), st.integers(0, 2**32)), min_size=60,
                max_size=200),
       st.lists(st.integers(1, 20), min_size=1, max_size=8))
def test_any_sequence_of_real_operations_in_any_batch_split_arrives_whole(ops, limits):
    _run(ops, limits)


def test_a_morning_of_transfers_synced_position_by_position_arrives():
    """The field's case: every citizen transferred once (call, start, transfer, call again, start, finish), the
    link down all morning, then every batch split from one outbox position to the link's 250."""
    ops: list[tuple[str, int]] = []
    for i in range(40):
        ops += [("issue", i), ("call", i), ("start", i), ("transfer", i), ("call", i + 1), ("start", i + 1),
                ("finish", i + 1), ("tick", i)]
    for limit in (1, 2, 3, 7, 250):
        with tempfile.TemporaryDirectory() as d:
            places = Places(Path(d))
            try:
                for c in places.counters:
                    places.engine.take_counter(c, STAFF)
                for op, seed in ops:
                    places.do(op, random.Random(seed))
                with places.node_store.read() as conn:
                    transfers = conn.execute("SELECT count(*) FROM tickets WHERE transferred_to IS NOT NULL"
                                             ).fetchone()[0]
                assert transfers >= 20
                for _ in range(10_000):
                    with places.node_store.read() as conn:
                        if not outbox.pending(conn, places.acked):
                            break
                    places.push(limit)
                assert places.tables(places.center_store) == places.tables(places.node_store), limit
            finally:
                places.close()


def test_a_row_whose_reference_the_center_lacks_is_held_and_the_rest_arrives(tmp_path):
    """The safety net behind the sender's rule: a batch with a row that refers to a ticket the center does not
    have (a sender of an older release, a hand-made batch) is applied without that row, which is held with the
    reason; the node's mark moves on, and the row applies once its ticket arrives."""
    places = Places(tmp_path)
    try:
        for c in places.counters:
            places.engine.take_counter(c, STAFF)
        places.engine.issue(SITE, places.services[0])
        places.engine.issue(SITE, places.services[0])
        with places.node_store.connection() as conn:
            batch = outbox.collect(conn, NODE, 0, 10_000)
        tickets = batch.tables["tickets"]
        k, ref = tickets["cols"].index("id"), tickets["cols"].index("transferred_to")
        first, second = tickets["rows"]
        first[ref] = second[k]  # the first refers to the second, which this batch no longer carries
        tickets["rows"] = [first]
        for tbl in ("ticket_events",):
            t = batch.tables[tbl]
            i = t["cols"].index("ticket_id")
            t["rows"] = [r for r in t["rows"] if r[i] != second[k]]
        with places.center_store.write() as conn:
            result = nodes.receive(conn, places.center_cfg, places.node, batch, via="link", size=0,
                                   now=places.clock(), clock_offset_s=None)
        # the mark moves on; the ticket is held, and its events with it (they refer to it)
        assert result["hwm"] == batch.to
        held = {(h.tbl, h.key) for h in result["held"]}
        assert ("tickets", first[k]) in held and {t for t, _ in held} == {"tickets", "ticket_events"}
        assert "transferred_to" in next(h.reason for h in result["held"] if h.tbl == "tickets")
        with places.center_store.read() as conn:
            assert conn.execute("SELECT count(*) FROM tickets").fetchone()[0] == 0
            assert conn.execute("SELECT count(*) FROM sync_held").fetchone()[0] == len(held)
            assert conn.execute("SELECT count(*) FROM counter_state").fetchone()[0] > 0  # the rest arrived
            status = nodes.status(conn, places.center_cfg, places.clock())
        assert next(s for s in status if s["node"] == NODE)["held"] == len(held)
        # the ticket it refers to arrives later: the held row applies with it
        later = outbox.Batch(node=NODE, after=batch.to, to=batch.to, ver=batch.ver, db_id=batch.db_id,
                             tables={"tickets": {"cols": tickets["cols"], "rows": [second]}})
        with places.center_store.write() as conn:
            nodes.receive(conn, places.center_cfg, places.node, later, via="link", size=0, now=places.clock(),
                          clock_offset_s=None)
        with places.center_store.read() as conn:
            assert conn.execute("SELECT count(*) FROM tickets").fetchone()[0] == 2
            assert conn.execute("SELECT count(*) FROM sync_held").fetchone()[0] == 0
    finally:
        places.close()


def test_a_replayed_batch_is_a_replay_and_a_restore_is_not(tmp_path):
    places = Places(tmp_path)
    try:
        places.engine.issue(SITE, places.services[0])
        with places.node_store.connection() as conn:
            old = outbox.collect(conn, NODE, 0, 10_000)
        from center.sync.protocol import digest, encode

        body = encode(old, {"sent_at": to_iso(places.clock())})
        with places.center_store.write() as conn:
            nodes.receive(conn, places.center_cfg, places.node, old, via="link", size=len(body), now=places.clock(),
                          clock_offset_s=None, digest=digest(body))
        places.engine.issue(SITE, places.services[0])
        places.acked = old.to
        places.drain()
        with places.center_store.write() as conn:  # the same bytes again, later
            again = nodes.receive(conn, places.center_cfg, places.node, old, via="link", size=len(body),
                                  now=places.clock() + timedelta(minutes=5), clock_offset_s=None,
                                  digest=digest(body))
        assert again["replay"] and again["written"] == 0
        fresh = encode(old, {"sent_at": to_iso(places.clock() + timedelta(minutes=6))})  # a node put back
        import pytest

        with pytest.raises(outbox.SyncRefused, match="backup"), places.center_store.write() as conn:
            nodes.receive(conn, places.center_cfg, places.node, old, via="link", size=len(fresh),
                          now=places.clock(), clock_offset_s=None, digest=digest(fresh))
    finally:
        places.close()
