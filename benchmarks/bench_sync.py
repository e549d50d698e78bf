"""Sync (issue 15): what a node's records cost on the wire and in time on their way to the center.

The records are the engine's own: the node's working days are played through `Engine` on a simulated clock
with the workload model (center/workload.toml, the field's ward-day.toml): Poisson arrivals at the kiosk,
each ticket printed (a network printer's job and `printed` event), two counters calling, 1–2 procedures,
no-shows, citizens who give up, a lunch break, the day closed at the end, and a rating for most. The history
generator's bulk rows would understate what a node sends (no event data, print jobs or counter states), and it
numbers tickets from 1, outside a node's id block, so the center would refuse them.

Servers are real (`python -m center serve` for the center and the node, tests/sync_support.py's harness), the
link a TCP proxy in this process (`LinkProxy`) that cuts or throttles it and counts the bytes both ways.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import json
import os
import random
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import requests

from center.sync import link as _link  # the production defaults, read from their one place

from .common import percentile

NODE, SITE, BLOCK = "branch", "branch", 1
KIOSK = "branch-kiosk-1"
STAFF = {"branch-1": "staff1", "branch-2": "staff2"}
RATED_SHARE = 0.8  # "ratings for most" (the history generator's estimate is 0.4)
# Citizens at the wrong service, transferred once to another (issue 25: a backlog of transfers once stopped a node's
# link for good; the workload had none, so neither this bench nor the tests saw it).
TRANSFER_SHARE = 0.10
FIRST_DAY = date(2026, 6, 1)  # a Monday: every simulated day lies in the past
RATE = 32_000  # bytes/s each way: a 256 kbit/s link
LADDER = (500, 1_000, 2_000)  # catch-ups in turn, on one node and one center (2,000: a busy point's week)
BACKLOG = 10_000  # the node's backlog while the center's own counters are timed
LAG_EVENTS = 100
CYCLES = 200  # the center's own issue → call-next → finish cycles without a node pushing
# What a run of this module means, against a peer measured the same day on the same machine (kept here so that a
# rerun keeps it; BENCHMARKS.md is written from the module).
READING = (
    "**Reading (2026-12-08, issue 25).** Peer: the code before the change (commit 12a31f9), same machine, same "
    "hour, its own workload without transfers (with transfers that code could not sync at all: the center's commit "
    "failed on a foreign key). Applying a batch at the center: p50 5.5 ms, max 11.1 ms then; 5.6 / 10.3 ms now, with "
    "every batch carrying the rows it refers to. A first version of the change took 11.5 ms a batch (references "
    "checked after the writes, in a savepoint); finding them before any write, with no query for references "
    "inside the batch, brought it back. The center's own call-next p99 alone / during the LAN catch-up / during "
    "the 256 kbit/s catch-up: 8.9 / 56.1 / 25.7 ms then, 6.3 / 102.0 / 81.3 ms now. Those p99 come from 1,000–1,700 "
    "cycles on a VM whose steal reached 16 % in the peer's LAN stage, and the workloads differ; the center's calls "
    "while a node catches up are left for issue 28 (a small machine carries a busy center), where the group "
    "commit's fsync and the push's upserts on the event loop are the first suspects (py-spy: 20 % of the worker "
    "in the upserts, 17 % in the commit).")
PASS_S = _link.PASS_S  # XEPHANG_SYNC_PASS_S
HEARTBEAT_S = _link.HEARTBEAT_S  # XEPHANG_SYNC_HEARTBEAT_S
BACKOFF_MAX_S = _link.BACKOFF_MAX_S  # XEPHANG_SYNC_BACKOFF_MAX_S
METHOD = (
    f"records made by playing the node's working days (site `{SITE}`, 2 counters, ~75 tickets a day) through the "
    "engine on a simulated clock with center/workload.toml: kiosk tickets each printed (print job + `printed` "
    f"event), 1–2 procedures, 5 % no-shows (recalled first), {TRANSFER_SHARE:.0%} transferred once to another "
    f"service, some who give up, a lunch break, the day closed, {RATED_SHARE:.0%} of the served rated. The "
    "node's sync settings are the production defaults (a pass every "
    f"{PASS_S:g} s while records are pending, a heartbeat every {HEARTBEAT_S:g} s, backoff up to "
    f"{BACKOFF_MAX_S:g} s). **Wire** (`wire_in_process`, no servers): the compressed request bodies as link.py "
    f"makes them (batches of up to {_link.BATCH_POSITIONS:,} outbox positions, each carrying the rows it refers "
    "to, within protocol.py's bounds, zlib-9 JSON) ÷ distinct "
    "tickets: `batched` "
    "is a backlog sent after an outage (with `batched_breakdown`: each table's and its costliest columns' "
    f"compressed bytes alone), `live` a link that is up all day (a pass at most every {PASS_S:g} s of the day's "
    "time, carrying what changed since: each operation of a ticket is a pass of its own); "
    "`center_apply_ms_per_batch` is decode + check + apply + commit of each batch at a fresh center database. "
    "`tcp_*` figures are what the proxy passed both ways (HTTP headers and answers included). **Catch-up**: "
    "the node's server stopped, N more tickets played into its database, the server started with the link cut; "
    f"once it has failed a try the link comes back throttled to {RATE:,} B/s each way (256 kbit/s); "
    "`catch_up_s` runs from then to the center's high-water mark reaching the node's last outbox position (the "
    f"node's next try comes ≤ 2 s later here; after a long outage its backoff may add up to {BACKOFF_MAX_S:g} s), "
    f"`transfer_s` from the first byte up. Steps of {', '.join(f'{n:,}' for n in LADDER)} tickets in turn on the "
    "same node and center, never reset; `center_identical`: every synced row of the node's site equal at the "
    f"center afterwards. **Lag**: the link up and throttled; {LAG_EVENTS} operations at the node's API (issue, "
    "call-next, start, finish, rating, 0.1–0.7 s apart), each from sending the request to its record in the "
    "center's database (polled every 20 ms). **Heartbeat**: the idle link's bytes per pass, counted at the proxy. "
    f"**Center's own calls**: a staff client at the center's counter main-1 times call-next and finish over "
    f"{CYCLES} issue → call-next → finish cycles with the node stopped, then during the node's catch-up of a "
    f"{BACKLOG:,}-ticket backlog over the LAN (no proxy: the center takes batches back to back) and of "
    f"{LADDER[-1]:,} tickets through the 256 kbit/s proxy; only cycles inside the catch-up count. The node's "
    "server runs on core 1, the center's and the client on core 0 (in the field they are different machines). "
    "Each stage notes the other work on the shared machine meanwhile (`other_work_pct` of both cores).\n\n"
    + READING)


# ---------------------------------------------------------------------------------------------- the records


class SimClock:
    """The engine's clock, moved by the simulation to each operation's time."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Made:
    """What a simulation left in the node's database."""

    tickets: int
    days: int
    next_day: date
    statuses: dict[str, int] = field(default_factory=dict)


def _hm(text: str) -> int:
    h, m = text.split(":")
    return int(h) * 3600 + int(m) * 60


class DayPlayer:
    """Plays working days through the engine: each operation at its simulated time, in time order."""

    def __init__(self, db: Path, config: Any, seed: int, before: Callable[[float], None] | None):
        from center.history import load_workload, site_models
        from center.queue.actors import Actor
        from center.queue.engine import Engine
        from center.storage.store import Store

        workload = load_workload()
        self.beh, self.gen, self.hours = workload["behaviour"], workload["generator"], workload["day"]
        self.model = next(m for m in site_models(config, workload) if m.code == SITE)
        self.cum = list(itertools.accumulate(p[2] for p in self.model.procedures))
        self.config = config
        self.kiosk = next(k for k in config.sites[SITE].kiosks if k.id == KIOSK)
        self.kiosk_actor = Actor(KIOSK, "kiosk", SITE)
        self.staff = {cid: Actor(name, "staff", SITE) for cid, name in STAFF.items()}
        self.rng = random.Random(seed)
        self.clock = SimClock()
        self.store = Store(db)
        self.engine = Engine(self.store, config, clock=self.clock)
        self.printing = SimpleNamespace(engine=self.engine, store=self.store, lock=threading.Lock(), printers_ok={})
        self.before = before
        self.issued = 0
        self.wanted: dict[int, str] = {}  # ticket id -> the procedure its citizen came for

    def play(self, n: int, day: date) -> tuple[int, date]:
        """Days from `day` on until `n` tickets are issued (the last day's arrivals cut there): (days, next)."""
        days = 0
        while self.issued < n:
            if day.weekday() != 6:
                self.day(day, n)
                days += 1
            day += timedelta(days=1)
        return days, day

    def day(self, day: date, n: int) -> None:
        from center.history import _poisson

        rng, hours = self.rng, self.hours
        saturday = day.weekday() == 5  # the morning only, with a share of the volume
        volume = self.gen["saturday_share"] if saturday else 1.0
        open1, close1 = (_hm(x) for x in hours["open"])
        open2, close2 = (_hm(x) for x in hours["reopen"])
        stop = close2 - hours.get("stop_issuing_before_close_min", 15) * 60
        self.base = datetime(day.year, day.month, day.day, tzinfo=self.config.tz)
        self.end = close1 if saturday else close2
        self.lunch = None if saturday else (close1, open2)
        arrivals = sorted((hour * 3600 + int(rng.random() * 3600), rng.random())
                          for hour, lam in self.model.arrivals.items() for _ in range(_poisson(rng, lam * volume)))
        arrivals = [(t, u) for t, u in arrivals if open1 <= t < close1 or (not saturday and open2 <= t < stop)]
        self.counters = [cid for cid, _ in self.model.counters if rng.random() >= self.gen["counter_absent_share"]]
        self.counters = self.counters or [self.model.counters[0][0]]
        self.busy = dict.fromkeys(self.counters, False)
        self.paused: set[str] = set()
        self.heap: list[tuple[int, int, str, Any]] = []
        self.order = itertools.count()
        for t, u in arrivals[:n - self.issued]:
            self.at(t, "arrive", u)
        for cid in self.counters:
            self.at(open1, "free", cid)
            if self.lunch:
                self.at(close1, "poke", cid)  # an idle counter pauses for lunch too
        last = open1
        while self.heap:
            t, _, kind, data = heapq.heappop(self.heap)
            last = max(last, t)
            self.tick(t)
            getattr(self, f"on_{kind}")(t, data)
        self.tick(max(last, self.end) + 60)
        self.engine.close_day(SITE)

    def at(self, t: int, kind: str, data: Any) -> None:
        heapq.heappush(self.heap, (t, next(self.order), kind, data))

    def tick(self, t: int) -> None:
        """The clock to second `t` of the day, with milliseconds as a real clock has them (a timestamp's
        digits cost bytes on the wire), never going back."""
        self.clock.now = max(self.clock.now + timedelta(milliseconds=1),
                             self.base + timedelta(seconds=t, milliseconds=self.rng.randrange(1000)))
        if self.before is not None:
            self.before(self.clock.now.timestamp())

    def on_arrive(self, t: int, u: float) -> None:
        from center.output.printing import _insert_job, record_outcome

        k = bisect.bisect(self.cum, self.rng.random() * self.cum[-1], 0, len(self.cum) - 1)
        code, service = self.model.procedures[k][0], self.model.procedures[k][1]
        ticket = self.engine.issue(SITE, service, priority="elderly" if u < self.beh["priority_share"] else None,
                                   source="kiosk", actor=self.kiosk_actor, kiosk=KIOSK)
        self.issued += 1
        self.wanted[ticket["id"]] = code
        job = _insert_job(self.printing, ticket, self.kiosk, "printed", None)
        health = {"online": True, "paper": "ok", "cover_open": False, "answered": True}
        record_outcome(self.printing, ticket, self.kiosk, {"ok": True, "error": None, "message": "", "health": health},
                       self.kiosk_actor, job_id=job)
        if self.rng.random() >= self.gen["patient_share"]:
            self.at(t + int(self.rng.uniform(1800, 5400)), "leave", ticket["id"])
        for cid in self.counters:
            if not self.busy[cid] and cid not in self.paused:
                self.at(t, "poke", cid)

    def on_leave(self, t: int, ticket_id: int) -> None:
        from center.queue.actors import SYSTEM

        with self.store.read() as conn:
            waiting = conn.execute("SELECT 1 FROM tickets WHERE id = ? AND status = 'waiting'",
                                   (ticket_id,)).fetchone()
        if waiting:
            self.engine.mark_left(ticket_id, SYSTEM)

    def on_poke(self, t: int, cid: str) -> None:
        """A citizen arrived: an idle counter calls; a busy one calls when it is done."""
        if not self.busy[cid]:
            self.on_free(t, cid)

    def on_free(self, t: int, cid: str) -> None:
        rng, beh = self.rng, self.beh
        self.busy[cid] = False
        if cid in self.paused or t >= self.end:
            return
        if self.lunch and self.lunch[0] <= t < self.lunch[1]:
            self.engine.pause(cid, self.staff[cid], "break")
            self.paused.add(cid)
            self.at(self.lunch[1], "resume", cid)
            return
        ticket = self.engine.call_next(cid, self.staff[cid])
        if ticket is None:
            return  # idle until the next arrival pokes it
        self.busy[cid] = True
        if rng.random() < beh["no_show_share"]:
            end = t + rng.randint(60, 150)
            self.at(t + 45, "recall", cid)
            self.at(end, "no_show", cid)
            self.at(end + 5, "free", cid)
            return
        others = sorted({p[1] for p in self.model.procedures} - {ticket["service"]})
        if others and rng.random() < TRANSFER_SHARE:  # the wrong line: sent on to another service, waits again
            started = t + rng.randint(20, 90)
            moved = started + rng.randint(30, 120)
            self.at(started, "start", cid)
            self.at(moved, "transfer", (cid, rng.choice(others)))
            self.at(moved + rng.randint(5, 30), "free", cid)
            return
        from center.history import _lognormal, _service_time

        started = t + rng.randint(20, 90)
        same = [p for p in self.model.procedures if p[1] == ticket["service"]]
        wanted = self.wanted.pop(ticket["id"], None)
        first = next((p for p in same if p[0] == wanted), None) or rng.choice(same)
        procs = [(first[0], _service_time(rng, first[3], first[4]))]
        if rng.random() < beh["second_procedure_share"]:
            second = rng.choice(same)
            procs.append((second[0], _service_time(rng, second[3], second[4])))
        ended = started + sum(s for _, s in procs)
        self.at(started, "start", cid)
        self.at(ended, "finish", (cid, procs))
        if rng.random() < RATED_SHARE:
            levels = list(self.gen["rating_levels"].items())
            level = rng.choices([lv for lv, _ in levels], [p for _, p in levels])[0]
            self.at(ended + 5 + int(_lognormal(rng, 8, 0.5)), "rate", (cid, level))
        self.at(ended + rng.randint(5, 30), "free", cid)

    def on_resume(self, t: int, cid: str) -> None:
        self.engine.resume(cid, self.staff[cid])
        self.paused.discard(cid)
        self.on_free(t, cid)

    def on_recall(self, t: int, cid: str) -> None:
        self.engine.recall(cid, self.staff[cid])

    def on_no_show(self, t: int, cid: str) -> None:
        self.engine.no_show(cid, self.staff[cid])

    def on_transfer(self, t: int, data: tuple[str, str]) -> None:
        cid, service = data
        self.engine.transfer(cid, self.staff[cid], service=service)
        for other in self.counters:
            if not self.busy[other] and other not in self.paused:
                self.at(t, "poke", other)

    def on_start(self, t: int, cid: str) -> None:
        self.engine.start(cid, self.staff[cid])

    def on_finish(self, t: int, data: tuple[str, list[tuple[str, int]]]) -> None:
        cid, procs = data
        self.engine.finish(cid, self.staff[cid], [{"code": c, "seconds": s} for c, s in procs])

    def on_rate(self, t: int, data: tuple[str, str]) -> None:
        from center.queue import ratings

        cid, level = data
        rating = self.config.rating
        pending = ratings.pending(self.store, cid, self.clock.now, rating)
        if pending:
            lv = rating.level(level)
            reasons = [self.rng.choice(rating.reasons).code] if lv and lv.ask_reasons and rating.reasons else []
            ratings.record(self.store, cid, pending["ticket"], level, reasons, self.clock.now, rating)


def make_tickets(db: Path, config: Any, n: int, first_day: date, seed: int = 1,
                 before: Callable[[float], None] | None = None) -> Made:
    """`n` more tickets in the node's database, as its server would have written them, from `first_day` on.
    `before(t)` is called before each operation with its time (epoch seconds): a live link's passes."""
    player = DayPlayer(db, config, seed, before)
    try:
        with player.store.read() as conn:
            had = dict(conn.execute("SELECT status, count(*) FROM tickets GROUP BY status").fetchall())
        days, next_day = player.play(n, first_day)
        with player.store.read() as conn:
            now = dict(conn.execute("SELECT status, count(*) FROM tickets GROUP BY status").fetchall())
    finally:
        player.store.close()
    return Made(n, days, next_day, {k: v - had.get(k, 0) for k, v in now.items() if v != had.get(k, 0)})


# ---------------------------------------------------------------------------------------------- the wire


def _zsize(obj: Any) -> int:
    return len(zlib.compress(json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode(), 9))


def _extra(clock_offset_s: float = 0.4) -> dict[str, Any]:
    from center.sync.link import VERSION

    return {"sent_at": "2026-12-01T08:00:00.123Z", "version": VERSION, "clock_offset_s": clock_offset_s}


def _ticket_ids(tables: dict[str, dict[str, Any]]) -> set[int]:
    t = tables.get("tickets")
    return {r[t["cols"].index("id")] for r in t["rows"]} if t else set()


def payload(db: Path, after: int = 0, keep: list[bytes] | None = None) -> dict[str, Any]:
    """What the node's link sends from outbox position `after` on, batch by batch as link.py makes them (up to
    BATCH_POSITIONS positions, halved while past protocol's bounds): the bodies' bytes, and the rows (`breakdown`).
    The bodies themselves are appended to `keep` when given."""
    from center.storage import outbox
    from center.storage.outbox import BatchTooLarge
    from center.storage.store import connect
    from center.sync.link import BATCH_POSITIONS
    from center.sync.protocol import encode

    conn = connect(str(db))
    conn.isolation_level = None
    bodies: list[int] = []
    tables: dict[str, dict[str, Any]] = {}
    try:
        while outbox.pending(conn, after):
            limit = BATCH_POSITIONS
            while True:
                batch = outbox.collect(conn, NODE, after, limit)
                try:
                    body = encode(batch, _extra())
                    break
                except BatchTooLarge:
                    limit = max(1, limit // 2)
            bodies.append(len(body))
            if keep is not None:
                keep.append(body)
            for name, t in batch.tables.items():
                tables.setdefault(name, {"cols": t["cols"], "rows": []})["rows"].extend(t["rows"])
            after = batch.to
    finally:
        conn.close()
    tickets = len(_ticket_ids(tables))
    return {"tickets": tickets, "records": sum(len(t["rows"]) for t in tables.values()), "batches": len(bodies),
            "body_bytes": sum(bodies), "body_bytes_per_ticket": round(sum(bodies) / max(1, tickets), 1),
            "tables": tables}


def breakdown(tables: dict[str, dict[str, Any]], tickets: int, top: int = 4) -> dict[str, str]:
    """Per table, costliest first: its compressed bytes per ticket (the table's part alone, zlib 9 as in a
    batch), its rows per ticket, and its `top` costliest columns (each column's JSON list alone)."""
    out: dict[str, str] = {}
    for name, t in sorted(tables.items(), key=lambda kv: -_zsize(kv[1])):
        cols = {c: _zsize([r[i] for r in t["rows"]]) / tickets for i, c in enumerate(t["cols"])}
        costly = ", ".join(f"{c} {b:.1f}" for c, b in sorted(cols.items(), key=lambda kv: -kv[1])[:top])
        out[name] = (f"{_zsize({'cols': t['cols'], 'rows': t['rows']}) / tickets:.1f} B, "
                     f"{len(t['rows']) / tickets:.2f} rows; {costly}")
    return out


def _statuses(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))


class LivePasses:
    """A link that is up while the days are played: a pass at most every `pass_s` of the day's time, sending
    what changed since the last one, as link.py's loop does (it checks for news every PASS_S)."""

    def __init__(self, db: Path, pass_s: float):
        from center.storage.store import connect

        self.conn = connect(str(db))
        self.conn.isolation_level = None
        self.pass_s = pass_s
        self.after = 0
        self.last = 0.0
        self.bodies: list[int] = []
        self.tickets: set[int] = set()

    def __call__(self, now: float) -> None:
        if now - self.last >= self.pass_s:
            self.last = now
            self.flush()

    def flush(self) -> None:
        from center.storage import outbox
        from center.sync.protocol import encode

        if not outbox.pending(self.conn, self.after):
            return
        batch = outbox.collect(self.conn, NODE, self.after, 1000)
        self.bodies.append(len(encode(batch, _extra())))
        self.tickets |= _ticket_ids(batch.tables)
        self.after = batch.to

    def close(self) -> dict[str, Any]:
        self.flush()
        self.conn.close()
        n = max(1, len(self.tickets))
        return {"passes_per_ticket": round(len(self.bodies) / n, 2),
                "body_bytes_per_pass_median": percentile(self.bodies, 50),
                "body_bytes_per_ticket": round(sum(self.bodies) / n, 1)}


def wire_in_process(tickets: int = 2_000) -> dict[str, Any]:
    """Item 1 without servers: a fresh node database ([upstream]-linked before any ticket, on the node's config
    as its center's manifest makes it), `tickets` played into it with a live link's passes noted as they
    happen, then the same records as one backlog, applied at a center database batch by batch."""
    from center.config.read import load_config, parse_config, read_toml
    from center.storage import outbox
    from center.storage.store import Store
    from center.sync.manifest import node_data
    from center.sync.protocol import encode
    from tests.sync_support import center_config

    with tempfile.TemporaryDirectory() as directory:
        center_file = center_config(Path(directory))
        node_config = parse_config(node_data({"upstream": {"url": "http://center.invalid", "node": NODE}},
                                             {"config": read_toml(center_file), "sites": [SITE]}), str(center_file))
        db = Path(directory) / "node.sqlite3"
        store = Store(db)
        with store.write() as conn:
            outbox.link(conn, NODE, BLOCK)
        store.close()
        live = LivePasses(db, PASS_S)
        made = make_tickets(db, node_config, tickets, FIRST_DAY, before=live)
        bodies: list[bytes] = []
        batched = payload(db, keep=bodies)
        apply_ms = center_apply(Path(directory), load_config(center_file), bodies)
        passes = live.close()
    tables = batched.pop("tables")
    empty = outbox.Batch(node=NODE, after=0, to=0, ver=0, db_id=secrets.token_hex(16))
    return {"tickets": made.tickets, "days": made.days, "statuses": _statuses(made.statuses),
            "procedures_per_ticket": round(len(tables["ticket_procedures"]["rows"]) / made.tickets, 2),
            "ratings_per_ticket": round(len(tables["ratings"]["rows"]) / made.tickets, 2),
            "batched": batched, "live": passes, "heartbeat_body_bytes": len(encode(empty, _extra())),
            "center_apply_ms_per_batch": apply_ms, "batched_breakdown": breakdown(tables, made.tickets)}


def center_apply(directory: Path, config: Any, bodies: list[bytes]) -> dict[str, float]:
    """How long a batch takes at the center (decode, then check, apply and commit in one write transaction, as
    `POST /sync/push` does), in process on a fresh center database: what the center's own writes may wait
    behind."""
    from center.queue.engine import Engine
    from center.storage.store import Store
    from center.sync import nodes
    from center.sync.protocol import decode

    store = Store(directory / "center.sqlite3")
    Engine(store, config)
    node = config.node(NODE)
    ms = []
    try:
        for body in bodies:
            t0 = time.perf_counter()
            batch, _ = decode(body)
            with store.write() as conn:
                nodes.receive(conn, config, node, batch, via="link", size=len(body), now=datetime.now(UTC),
                              clock_offset_s=0.4)
            ms.append((time.perf_counter() - t0) * 1000)
    finally:
        store.close()
    return {"p50": round(percentile(ms, 50), 1), "max": round(max(ms), 1)}


# ---------------------------------------------------------------------------------------------- the servers


def _one(db: Path, sql: str, params: tuple = ()) -> Any:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        row = conn.execute(sql, params).fetchone()
        return row[0] if row else None
    finally:
        conn.close()


def _center_hwm(center: Any) -> int:
    return _one(center.db, "SELECT hwm FROM sync_nodes WHERE node = ?", (NODE,)) or 0


def _node_top(node: Any) -> int:
    return _one(node.db, "SELECT coalesce(max(seq), 0) FROM sync_outbox") or 0


def _wait_failed_try(node: Any, since: str, timeout: float = 30) -> None:
    """Until the node's link has tried since `since` (ISO) and failed: it is up and knows the link is cut."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tried = _one(node.db, "SELECT last_try_at FROM sync_link WHERE last_error IS NOT NULL")
        if tried and tried >= since:
            return
        time.sleep(0.1)
    raise RuntimeError("the node's link did not try")


def _now_iso() -> str:
    from center.queue.clock import to_iso

    return to_iso(datetime.now(UTC))


@dataclass
class Places:
    """The center, the node and the proxy between them, and where the node's simulated days stand."""

    center: Any
    node: Any
    proxy: Any
    day: date = FIRST_DAY
    seed: int = 1

    def more_tickets(self, n: int, before: Callable[[float], None] | None = None) -> Made:
        """The node's server stopped, `n` more tickets played into its database."""
        from center.sync.manifest import effective_config

        self.node.stop()
        made = make_tickets(self.node.db, effective_config(self.node.config, self.node.db), n, self.day,
                            seed=self.seed, before=before)
        self.day, self.seed = made.next_day, self.seed + 1
        return made

    def wait_synced(self, timeout: float, on_poll: Callable[[], None] | None = None) -> float:
        """Until the center's mark reaches the node's last outbox position; when (monotonic)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if on_poll is not None:
                on_poll()
            if _center_hwm(self.center) >= _node_top(self.node):
                return time.monotonic()
            time.sleep(0.05)
        raise RuntimeError(f"the center did not catch up within {timeout} s")


def catch_up(places: Places, tickets: int) -> dict[str, Any]:
    """Item 2: `tickets` made while the node is offline, then the time and bytes until the center has them."""
    from tests.sync_support import node_rows

    made = places.more_tickets(tickets)
    node, proxy = places.node, places.proxy
    expected = payload(node.db, _one(node.db, "SELECT acked FROM sync_link"))
    records = expected.pop("tables")
    proxy.set("cut")
    since = _now_iso()
    node.start()
    _wait_failed_try(node, since)
    up0, down0 = proxy.bytes_up, proxy.bytes_down
    first: list[float] = []

    def on_poll() -> None:
        if not first and proxy.bytes_up > up0:
            first.append(time.monotonic())

    proxy.set("throttle", rate=RATE)
    t0 = time.monotonic()
    done = places.wait_synced(600, on_poll)
    up, down = proxy.bytes_up - up0, proxy.bytes_down - down0
    synced = node_rows(node.db, places.center.db, (SITE,))
    return {"tickets": tickets, "days": made.days, "statuses": _statuses(made.statuses),
            "records": sum(len(t["rows"]) for t in records.values()),
            "catch_up_s": round(done - t0, 1), "transfer_s": round(done - (first[0] if first else t0), 1),
            "body_bytes": expected["body_bytes"], "body_bytes_per_ticket": expected["body_bytes_per_ticket"],
            "tcp_bytes_up": up, "tcp_bytes_down": down, "tcp_bytes_per_ticket": round((up + down) / tickets, 1),
            "center_identical": all(a == b for a, b in synced.values())}


class CenterWatch:
    """Polls the center's database every 20 ms for records to appear; when each did (monotonic)."""

    def __init__(self, db: Path):
        self.db = db
        self.wanted: dict[tuple, float] = {}  # key -> sent at
        self.seen: dict[tuple, float] = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def want(self, key: tuple, sent: float) -> None:
        with self.lock:
            self.wanted[key] = sent

    def _run(self) -> None:
        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=10)
        try:
            while not self.stop.is_set():
                with self.lock:
                    ids = [k[1] for k in self.wanted if k not in self.seen]
                if ids:
                    low, now = min(ids), time.monotonic()
                    have = {("ticket", r[0]) for r in conn.execute("SELECT id FROM tickets WHERE id >= ?", (low,))}
                    have |= {(k, t) for t, k in conn.execute(
                        "SELECT ticket_id, kind FROM ticket_events WHERE ticket_id >= ?", (low,))}
                    have |= {("rating", r[0]) for r in conn.execute(
                        "SELECT ticket_id FROM ratings WHERE ticket_id >= ?", (low,))}
                    with self.lock:
                        for key in self.wanted.keys() & have:
                            self.seen.setdefault(key, now)
                self.stop.wait(0.02)
        finally:
            conn.close()

    def lags(self, timeout: float = 60) -> list[float]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(self.seen) < len(self.wanted):
            time.sleep(0.05)
        self.stop.set()
        self.thread.join()
        if len(self.seen) < len(self.wanted):
            raise RuntimeError(f"{len(self.wanted) - len(self.seen)} record(s) never reached the center")
        return [self.seen[k] - sent for k, sent in self.wanted.items()]


def live_lag(places: Places) -> dict[str, Any]:
    """Item 3: operations at the node's API, each timed from sending it to its record at the center."""
    from tests.sync_support import staff_token

    node, proxy = places.node, places.proxy
    rng = random.Random(7)
    session = requests.Session()
    h = {"Authorization": f"Bearer {staff_token(node, 'staff1')}"}
    counter = "branch-1"

    def post(path: str, body: dict) -> dict:
        r = session.post(f"{node.url}{path}", json=body, headers=h, timeout=30)
        r.raise_for_status()
        return r.json()

    post(f"/api/counters/{counter}/take", {})
    places.wait_synced(60)
    up0, down0 = proxy.bytes_up, proxy.bytes_down
    watch = CenterWatch(places.center.db)
    events = citizens = 0
    while events < LAG_EVENTS:
        sent = time.monotonic()
        ticket = post("/api/tickets", {"site": SITE, "service": "CT"})["id"]
        watch.want(("ticket", ticket), sent)
        citizens += 1
        steps = [("call-next", {}, "called"), ("start", {}, "started"),
                 ("finish", {"procedures": ["CT-BS", "CT-CK"] if rng.random() < 0.1 else ["CT-BS"]}, "finished")]
        for step, body, kind in steps:
            time.sleep(rng.uniform(0.1, 0.7))
            sent = time.monotonic()
            post(f"/api/counters/{counter}/{step}", body)
            watch.want((kind, ticket), sent)
        if rng.random() < RATED_SHARE:
            time.sleep(rng.uniform(0.1, 0.7))
            sent = time.monotonic()
            post(f"/counter/{counter}/rating", {"ticket": ticket, "level": "very_satisfied"})
            watch.want(("rating", ticket), sent)
        events = len(watch.wanted)
        time.sleep(rng.uniform(0.1, 0.7))
    lags = watch.lags()
    up, down = proxy.bytes_up - up0, proxy.bytes_down - down0
    return {"events": len(lags), "tickets": citizens, "lag_p50_s": round(percentile(lags, 50), 2),
            "lag_p95_s": round(percentile(lags, 95), 2), "lag_p99_s": round(percentile(lags, 99), 2),
            "lag_max_s": round(max(lags), 2), "tcp_bytes_per_ticket": round((up + down) / citizens, 1)}


def heartbeat(places: Places, window_s: float = 2.2 * HEARTBEAT_S) -> dict[str, Any]:
    """The idle link's cost: bytes through the proxy per pass (its tries counted at the node)."""
    node, proxy = places.node, places.proxy
    places.wait_synced(60)
    time.sleep(1)
    up0, down0 = proxy.bytes_up, proxy.bytes_down
    tries: set[str] = set()
    first = _one(node.db, "SELECT last_try_at FROM sync_link")
    deadline = time.monotonic() + window_s
    while time.monotonic() < deadline:
        tries.add(_one(node.db, "SELECT last_try_at FROM sync_link"))
        time.sleep(0.2)
    tries.discard(first)
    n = max(1, len(tries))
    per = round((proxy.bytes_up - up0 + proxy.bytes_down - down0) / n)
    return {"heartbeats": len(tries), "tcp_bytes_each": per, "tcp_bytes_per_day": per * round(86400 / HEARTBEAT_S)}


Spans = dict[str, list[tuple[float, float]]]


def _cycles(center: Any, session: requests.Session, until: Callable[[int], bool]) -> Spans:
    """issue → call-next → finish at the center's counter main-1 (staff1) until `until(cycles done)`;
    each call-next and finish timed (ms) with its start and end (monotonic)."""
    h = center.headers("staff1")
    out: Spans = {"call_next": [], "finish": []}
    n = 0
    while not until(n):
        session.post(f"{center.url}/api/tickets", json={"site": "main", "service": "CT"}, headers=h,
                     timeout=30).raise_for_status()
        for name, step, body in (("call_next", "call-next", {}), ("finish", "finish", {"procedures": ["CT-BS"]})):
            t0 = time.monotonic()
            r = session.post(f"{center.url}/api/counters/main-1/{step}", json=body, headers=h, timeout=30)
            t1 = time.monotonic()
            if r.status_code != 200:
                raise RuntimeError(f"{step} at the center: HTTP {r.status_code} {r.text[:300]}")
            out[name].append((t0, t1))
        n += 1
    return out


def _summary(spans: Spans, window: tuple[float, float] | None = None) -> dict[str, Any]:
    """Per kind of call: how many, p50, p99 and max (ms); only the calls inside `window` when given."""
    out: dict[str, Any] = {}
    for name, each in spans.items():
        ms = [(t1 - t0) * 1000 for t0, t1 in each if window is None or (window[0] <= t0 and t1 <= window[1])]
        out[f"{name}_n"] = len(ms)
        for p in (50, 99):
            out[f"{name}_p{p}_ms"] = round(percentile(ms, p), 1)
        out[f"{name}_max_ms"] = round(max(ms), 1) if ms else None
    return out


def _pin(pid: int, cpus: set[int]) -> None:
    """A server's processes (master and workers) onto `cpus`."""
    import psutil

    proc = psutil.Process(pid)
    for p in (proc, *proc.children(recursive=True)):
        p.cpu_affinity(sorted(cpus))


def _calls_during_catch_up(places: Places, session: requests.Session, tickets: int, lan: bool) -> dict[str, Any]:
    """`tickets` more made with the node stopped; the center's own cycles timed while the node (started on
    core 1) sends them, straight to the center (`lan`) or through the proxy throttled to 256 kbit/s."""
    from tests.sync_support import node_config

    center, node, proxy = places.center, places.node, places.proxy
    made = places.more_tickets(tickets)
    node_config(Path(node.config).parent, NODE, center.url if lan else proxy.url)
    proxy.set("throttle", rate=RATE)
    records = payload(node.db, _one(node.db, "SELECT acked FROM sync_link"))["records"]
    stop = threading.Event()
    spans: Spans = {}
    client = threading.Thread(target=lambda: spans.update(_cycles(center, session, lambda _: stop.is_set())))
    watch = OtherWork()
    client.start()
    two = (os.cpu_count() or 1) >= 2
    mark = _center_hwm(center)
    try:
        if two:
            os.sched_setaffinity(0, {1})  # inherited by the node's server
        try:
            node.start()
        finally:
            if two:
                os.sched_setaffinity(0, {0})
        first: list[float] = []

        def on_poll() -> None:
            if not first and _center_hwm(center) > mark:
                first.append(time.monotonic())

        done = places.wait_synced(600, on_poll)
    finally:
        stop.set()
        client.join()
    t0 = first[0] if first else done
    return {"backlog_tickets": made.tickets, "backlog_records": records, "catch_up_s": round(done - t0, 1),
            **_summary(spans, (t0, done)), **watch.result()}


def center_calls(places: Places) -> dict[str, Any]:
    """Item 4: the center's own call-next / finish latency, alone and while the node catches up a backlog.
    The node runs on core 1, the center and the timing client on core 0: in the field they are different
    machines, and the node's own work (reading and compressing its batches) must not pass for the center's."""
    center = places.center
    two = (os.cpu_count() or 1) >= 2
    mine = os.sched_getaffinity(0)
    session = requests.Session()
    session.post(f"{center.url}/api/counters/main-1/take", json={}, headers=center.headers("staff1"),
                 timeout=30).raise_for_status()
    places.node.stop()
    try:
        if two:
            _pin(center.proc.pid, {0})
            os.sched_setaffinity(0, {0})
        _cycles(center, session, lambda n: n >= 20)  # warm-up
        watch = OtherWork()
        out = {"no_node_pushing": {**_summary(_cycles(center, session, lambda n: n >= CYCLES)), **watch.result()}}
        out["node_catching_up_lan"] = _calls_during_catch_up(places, session, BACKLOG, lan=True)
        out["node_catching_up_256kbit"] = _calls_during_catch_up(places, session, LADDER[-1], lan=False)
    finally:
        os.sched_setaffinity(0, mine)
        if two:
            _pin(center.proc.pid, mine)
    return out


class OtherWork:
    """What else the machine did while a stage ran (it is shared): its busy CPU minus this benchmark's (this
    process, its servers and their workers, the ones that ended too), as % of all cores; the hypervisor's steal;
    the load average at the start."""

    def __init__(self) -> None:
        import psutil

        self.load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        self.t0, (self.busy0, self.steal0) = time.monotonic(), self._machine()
        self.tree0, me = self._tree(), psutil.Process().cpu_times()
        self.reaped0 = me.children_user + me.children_system

    @staticmethod
    def _machine() -> tuple[float, float]:
        import psutil

        t = psutil.cpu_times()
        return t.user + t.nice + t.system + t.irq + t.softirq, t.steal

    @staticmethod
    def _tree() -> dict[int, float]:
        import psutil

        me = psutil.Process()
        out = {}
        for p in (me, *me.children(recursive=True)):
            try:
                t = p.cpu_times()
                out[p.pid] = t.user + t.system
            except psutil.Error:
                pass
        return out

    def result(self) -> dict[str, Any]:
        import psutil

        wall, cores = time.monotonic() - self.t0, os.cpu_count() or 1
        busy, steal = self._machine()
        tree, me = self._tree(), psutil.Process().cpu_times()
        ours = (sum(c - self.tree0.get(pid, 0.0) for pid, c in tree.items())
                + (me.children_user + me.children_system - self.reaped0)
                - sum(c for pid, c in self.tree0.items() if pid not in tree))  # ended: counted whole when reaped
        return {"load_at_start": self.load,
                "other_work_pct": round(max(0.0, 100 * (busy - self.busy0 - ours) / wall / cores), 1),
                "steal_pct": round(100 * (steal - self.steal0) / wall / cores, 1)}


def _stage(what: str, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """A stage with what else the machine did meanwhile; on stderr as soon as it is known (a later stage's
    failure keeps it on screen)."""
    watch = OtherWork()
    result = {**fn(), **watch.result()}
    print(f"{what}: {json.dumps(result, ensure_ascii=False, default=str)}", file=sys.stderr, flush=True)
    return result


def run() -> dict[str, Any]:
    from tests.sync_support import LinkProxy, center_config, make_node

    from .common import ROOT, BenchServer
    from .run import machine

    watch = OtherWork()
    details: dict[str, Any] = {"wire_in_process": _stage("wire", wire_in_process)}
    work = Path(tempfile.mkdtemp(prefix="xephang-bench-sync-"))
    center = BenchServer(config=center_config(work))
    center.config = center_config(work)  # what make_node's `node token` reads
    proxy = LinkProxy(center.port)
    node = make_node(work, center, NODE, via=proxy.url, start=False,
                     env={"XEPHANG_SYNC_PASS_S": str(PASS_S), "XEPHANG_SYNC_HEARTBEAT_S": str(HEARTBEAT_S),
                          "XEPHANG_SYNC_BACKOFF_MAX_S": str(BACKOFF_MAX_S)})
    places = Places(center, node, proxy)
    try:
        details["catch_up"] = {f"{n:,} tickets": _stage(f"catch-up {n}", lambda n=n: catch_up(places, n))
                               for n in LADDER}
        details["lag"] = _stage("lag", lambda: live_lag(places))
        details["heartbeat"] = _stage("heartbeat", lambda: heartbeat(places))
        details["center_calls"] = _stage("center's calls", lambda: center_calls(places))
    finally:
        node.stop()
        center.stop()
        proxy.close()
    shutil.rmtree(work, ignore_errors=True)  # kept when a stage failed: the servers' logs are there
    wire, week = details["wire_in_process"], details["catch_up"][f"{LADDER[-1]:,} tickets"]
    calls = details["center_calls"]
    commit = subprocess.run(["git", "describe", "--always", "--dirty=, with uncommitted changes"],
                            capture_output=True, text=True, cwd=ROOT).stdout.strip()
    summary = {
        "machine": f"{machine()}; shared with other work ({watch.result()['other_work_pct']} % of both cores "
                   "on average during the run, each stage says its own)",
        "commit": commit,
        "bytes_per_ticket_batched_body (≤ 400)": wire["batched"]["body_bytes_per_ticket"],
        f"bytes_per_ticket_batched_tcp ({LADDER[-1]:,}-ticket catch-up)": week["tcp_bytes_per_ticket"],
        "bytes_per_ticket_live_body": wire["live"]["body_bytes_per_ticket"],
        "bytes_per_ticket_live_tcp (lag stage)": details["lag"]["tcp_bytes_per_ticket"],
        "heartbeat_tcp_bytes_per_day": details["heartbeat"]["tcp_bytes_per_day"],
        **{f"catch_up_s {n:,} tickets" + (" (≤ 60)" if n == 2_000 else ""): details["catch_up"][f"{n:,} tickets"][
            "catch_up_s"] for n in LADDER},
        "lag_p95_s (≤ 5)": details["lag"]["lag_p95_s"],
        "center_call_next_p99_ms alone / LAN catch-up / 256 kbit/s catch-up": " / ".join(
            str(calls[k]["call_next_p99_ms"]) for k in ("no_node_pushing", "node_catching_up_lan",
                                                         "node_catching_up_256kbit")),
    }
    return {**summary, **details}


if __name__ == "__main__":
    print(json.dumps(run(), indent=2, ensure_ascii=False, default=str))
