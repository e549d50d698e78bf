"""A realistic synthetic history from the workload model in center/workload.toml.

`python -m center generate-history --db FILE [--config config.toml] [--days 365] [--end YYYY-MM-DD]
[--province 100] [--seed 1]` fills tickets, ticket_events, ticket_procedures, ratings, counter_events and
day_sequences for past working days, the same rows the engine writes. Each site and day is an
event-driven simulation: Poisson arrivals per hour, a procedure chosen by share (mapped to the service
that offers it), lognormal service times, counters taking the oldest waiting citizen they serve (priority
first), a lunch break, no-shows, citizens who give up, cancelled tickets at closing and ratings.

With `--province N` it generates N sites (p001…) instead of the configured ones, each a copy of a
configured site's counters with the volume scaled by a random factor: the province-size benchmark.
"""

from __future__ import annotations

import argparse
import base64
import bisect
import heapq
import itertools
import json
import math
import os
import random
import sqlite3
import sys
import threading
import time
import tomllib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from .config.model import Config
from .config.read import load_config
from .queue.journal import append_events
from .storage.store import Store

WORKLOAD = Path(__file__).with_name("workload.toml")
BULK_SITE_DAYS = 2000  # from this many (site, day)s on, indexes are rebuilt after the inserts


@dataclass
class SiteModel:
    code: str
    counters: list[tuple[str, tuple[str, ...]]]  # (counter id, services in preference order)
    services: tuple[str, ...]
    arrivals: dict[int, float]  # local hour -> expected arrivals
    procedures: list[tuple[str, str, float, float, float]]  # (code, service, share, mean_s, cv)
    numbering: dict[str, Any] = field(default_factory=dict)  # service -> NumberFormat


def _hm(text: str) -> int:
    h, m = text.split(":")
    return int(h) * 3600 + int(m) * 60


def load_workload(path: Path = WORKLOAD) -> dict[str, Any]:
    with path.open("rb") as f:
        return tomllib.load(f)


def site_models(config: Config, workload: dict[str, Any], province: int = 0,
                rng: random.Random | None = None) -> list[SiteModel]:
    rng = rng or random.Random(0)
    service_of = {p.code: sv.code for sv in config.services.values() for p in sv.procedures}
    profiles = workload["arrivals_per_hour"]

    def model(code: str, site_code: str, scale: float) -> SiteModel:
        site = config.sites[site_code]
        profile = profiles.get(site_code) or next(iter(profiles.values()))
        procs = [(p["code"], service_of[p["code"]], p["share"], p["mean_min"] * 60, p["cv"])
                 for p in workload["procedure"] if service_of.get(p["code"]) in site.services]
        total = sum(p[2] for p in procs)
        procs = [(c, s, share / total, m, cv) for c, s, share, m, cv in procs]
        numbering = {s: config.number_format(site.code, s) for s in site.services}
        if code == site_code:
            counters = [(c.id, c.services) for c in site.counters]
        else:  # a synthetic site: as many counters as its volume needs, copied round the model site's
            n = max(2, round(len(site.counters) * scale))
            counters = [(f"{code}-{i + 1}", site.counters[i % len(site.counters)].services) for i in range(n)]
        return SiteModel(code, counters, site.services, {int(h): n * scale for h, n in profile.items()}, procs,
                         numbering)

    if province:
        # ~100,000 tickets a site a year on average (the issue's province: 100 sites, ~10 million)
        base = next(iter(config.sites))
        return [model(f"p{i + 1:03d}", base, rng.uniform(0.9, 2.3)) for i in range(province)]
    return [model(code, code, 1.0) for code in config.sites]


def _lognormal(rng: random.Random, mean: float, cv: float) -> float:
    sigma = math.sqrt(math.log(1 + cv * cv))
    return rng.lognormvariate(math.log(mean) - sigma * sigma / 2, sigma)


def _service_time(rng: random.Random, mean_s: float, cv: float) -> int:
    """Whole seconds, at least 30 s and at most five times the mean (nobody stays at a desk for hours)."""
    return int(min(5 * mean_s, max(30.0, _lognormal(rng, mean_s, cv))))


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 50:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


_DAY_PREFIX: dict[int, str] = {}
_HMS = [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}.000Z" for s in range(86400)]


def _iso(epoch: int) -> str:
    """UTC ISO text of whole seconds (date part cached per day, time part from a table: runs for every row)."""
    day, secs = divmod(int(epoch), 86400)
    prefix = _DAY_PREFIX.get(day)
    if prefix is None:
        prefix = _DAY_PREFIX[day] = datetime.fromtimestamp(day * 86400, UTC).strftime("%Y-%m-%dT")
    return prefix + _HMS[secs]


def _public_ids(n: int) -> list[str]:
    """n unguessable ids like secrets.token_urlsafe(9) (12 characters), from one urandom call."""
    text = base64.urlsafe_b64encode(os.urandom(9 * n)).decode()
    return [text[i:i + 12] for i in range(0, 12 * n, 12)]


_FINISHED_DATA: dict[tuple[str, ...], str] = {}


def _finished_data(codes: tuple[str, ...]) -> str:
    data = _FINISHED_DATA.get(codes)
    if data is None:
        data = _FINISHED_DATA[codes] = json.dumps({"procedures": list(codes)})
    return data


class Writer:
    """Rows for one batch, written with executemany in one transaction."""

    def __init__(self, next_id: int):
        self.next_id = next_id
        self.tickets: list[tuple] = []
        self.events: list[tuple] = []
        self.procedures: list[tuple] = []
        self.ratings: list[tuple] = []
        self.counter_events: list[tuple] = []
        self.sequences: list[tuple] = []

    def take(self) -> Writer:
        """The rows gathered so far, as a batch of their own (this writer starts empty again)."""
        batch = Writer(self.next_id)
        batch.tickets, batch.events, batch.procedures = self.tickets, self.events, self.procedures
        batch.ratings, batch.counter_events, batch.sequences = self.ratings, self.counter_events, self.sequences
        self.tickets, self.events, self.procedures, self.ratings = [], [], [], []
        self.counter_events, self.sequences = [], []
        return batch

    def flush(self, conn: sqlite3.Connection) -> int:
        conn.executemany(
            "INSERT INTO tickets (id, public_id, visit_id, site, service, service_day, seq, number, priority, source, "
            "device, status, issued_at, queue_at, counter_id, staff, called_at, last_called_at, call_count, "
            "started_at, ended_at, wait_s, service_s) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            self.tickets)
        append_events(conn, self.events)
        conn.executemany("INSERT INTO ticket_procedures (ticket_id, service, procedure, site, counter_id, staff, "
                         "started_at, ended_at, seconds) VALUES (?,?,?,?,?,?,?,?,?)", self.procedures)
        conn.executemany("INSERT INTO ratings (ticket_id, site, counter_id, staff, level, reasons, at) "
                         "VALUES (?,?,?,?,?,?,?)", self.ratings)
        conn.executemany("INSERT INTO counter_events (counter_id, site, at, kind, staff, reason) VALUES (?,?,?,?,?,?)",
                         self.counter_events)
        conn.executemany("INSERT INTO day_sequences (site, service, service_day, last_seq) VALUES (?,?,?,?) "
                         "ON CONFLICT(site, service, service_day) DO UPDATE SET last_seq = max(last_seq, "
                         "excluded.last_seq)", self.sequences)
        n = len(self.tickets)
        self.tickets, self.events, self.procedures, self.ratings = [], [], [], []
        self.counter_events, self.sequences = [], []
        return n


def simulate_day(w: Writer, site: SiteModel, day: date, offset_s: int, workload: dict[str, Any],
                 rng: random.Random, volume: float = 1.0) -> None:
    """One site's day: arrivals, the counters' work, and every row the engine would have written."""
    beh, gen, hours = workload["behaviour"], workload["generator"], workload["day"]
    base = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) - offset_s  # local midnight
    open1, close1 = (_hm(x) for x in hours["open"])
    open2, close2 = (_hm(x) for x in hours["reopen"])
    if volume < 1:  # Saturday: morning only
        open2 = close2 = close1
    stop_issue = close2 - hours.get("stop_issuing_before_close_min", 15) * 60
    day_s = day.isoformat()
    d0 = (base + open1) // 86400 * 86400  # the UTC day of the opening: the whole working day in most zones
    prefix, hms = _iso(d0)[:11], _HMS

    def iso(epoch: int) -> str:  # _iso with the UTC day looked up once
        s = epoch - d0
        return prefix + hms[s] if 0 <= s < 86400 else _iso(epoch)
    # arrivals
    arrivals: list[tuple[int, str, str, bool, float]] = []
    codes = [p[0] for p in site.procedures]
    cum = list(itertools.accumulate(p[2] for p in site.procedures))  # as rng.choices(codes, weights) does
    total_w, last = cum[-1], len(cum) - 1
    by_code = {p[0]: p for p in site.procedures}
    for hour, lam in site.arrivals.items():
        for _ in range(_poisson(rng, lam * volume)):
            t = hour * 3600 + int(rng.random() * 3600)
            if not (open1 <= t < close1 or open2 <= t < stop_issue):
                continue
            code = codes[bisect.bisect(cum, rng.random() * total_w, 0, last)]
            patience = math.inf if rng.random() < gen["patient_share"] else rng.uniform(1800, 5400)
            arrivals.append((t, code, by_code[code][1], rng.random() < beh["priority_share"], patience))
    arrivals.sort()
    seqs: dict[str, int] = defaultdict(int)
    tickets = []
    public_ids = _public_ids(len(arrivals))
    for k, (t, code, service, prio, patience) in enumerate(arrivals):
        seqs[service] += 1
        number = site.numbering[service].format(seqs[service])
        tickets.append({"id": w.next_id, "t": t, "proc": code, "service": service, "prio": prio,
                        "patience": patience, "seq": seqs[service], "number": number, "done": False,
                        "public_id": public_ids[k]})
        w.next_id += 1
    for service, n in seqs.items():
        w.sequences.append((site.code, service, day_s, n))
    # counters: some stay closed today
    counters = [(cid, svcs) for cid, svcs in site.counters if rng.random() >= gen["counter_absent_share"]]
    if not counters and site.counters:
        counters = [site.counters[0]]
    heap = [(open1, i) for i in range(len(counters))]
    heapq.heapify(heap)
    staff = {cid: f"cb-{cid}" for cid, _ in counters}
    for cid, _ in counters:
        w.counter_events.append((cid, site.code, iso(base + open1), "open", staff[cid], None))
        if open2 > close1:
            w.counter_events.append((cid, site.code, iso(base + close1), "pause", staff[cid], "break"))
            w.counter_events.append((cid, site.code, iso(base + open2), "resume", staff[cid], None))
        w.counter_events.append((cid, site.code, iso(base + close2), "close", staff[cid], "day closed"))
    waiting = {s: [] for s in site.services}  # per service, tickets in arrival order (index list)
    for tk in tickets:
        waiting[tk["service"]].append(tk)
    pos = dict.fromkeys(site.services, 0)
    levels = list(gen["rating_levels"].items())

    def next_for(svcs: tuple[str, ...], now: int) -> dict[str, Any] | None:
        """Priority first, then the oldest, among citizens already waiting; else the next to arrive."""
        best = None
        upcoming = None
        for s in svcs:
            q = waiting.get(s)
            if not q:
                continue
            i = pos[s]
            while i < len(q) and q[i]["done"]:
                i += 1
            pos[s] = i
            for tk in q[i:]:
                if tk["done"]:
                    continue
                if tk["t"] > now:
                    if upcoming is None or tk["t"] < upcoming["t"]:
                        upcoming = tk
                    break
                if tk["t"] + tk["patience"] < now:
                    _left(tk)
                    continue
                if best is None or (tk["prio"], -tk["t"]) > (best["prio"], -best["t"]):
                    best = tk
        return best or upcoming

    def _left(tk: dict[str, Any]) -> None:
        tk["done"] = True
        at = base + tk["t"] + int(tk["patience"])
        _ticket(tk, "left", ended=at)
        w.events.append((tk["id"], iso(at), "left", site.code, None, None, None))

    def _ticket(tk: dict[str, Any], status: str, *, counter: str | None = None, called: int | None = None,
                started: int | None = None, ended: int | None = None, calls: int = 0) -> None:
        issued = base + tk["t"]
        w.tickets.append((
            tk["id"], tk["public_id"], tk["id"], site.code, tk["service"], day_s, tk["seq"], tk["number"],
            "elderly" if tk["prio"] else None, "kiosk", "kiosk", status, iso(issued), iso(issued), counter,
            staff.get(counter) if counter else None, iso(called) if called else None,
            iso(called) if called else None, calls, iso(started) if started else None,
            iso(ended) if ended else None, float(called - issued) if called else None,
            float(ended - started) if status == "served" else None))
        w.events.append((tk["id"], iso(issued), "issued", site.code, None, None, None))

    while heap:
        now, i = heapq.heappop(heap)
        cid, svcs = counters[i]
        if close1 <= now < open2:
            now = open2
        if now >= close2:
            continue
        tk = next_for(svcs, now)
        if tk is None:
            continue
        if tk["t"] > now:
            heapq.heappush(heap, (tk["t"], i))
            continue
        tk["done"] = True
        called = base + now
        if rng.random() < beh["no_show_share"]:
            end = called + rng.randint(60, 150)
            _ticket(tk, "no_show", counter=cid, called=called, ended=end, calls=2)
            w.events.append((tk["id"], iso(called), "called", site.code, cid, staff[cid], None))
            w.events.append((tk["id"], iso(called + 45), "recalled", site.code, cid, staff[cid], None))
            w.events.append((tk["id"], iso(end), "no_show", site.code, cid, staff[cid], None))
            heapq.heappush(heap, (now + (end - called), i))
            continue
        started = called + rng.randint(20, 90)
        _, service, _, mean_s, cv = by_code[tk["proc"]]
        procs = [(tk["proc"], _service_time(rng, mean_s, cv))]
        if rng.random() < beh["second_procedure_share"]:
            same = [p for p in site.procedures if p[1] == service]
            second = rng.choice(same)
            procs.append((second[0], _service_time(rng, second[3], second[4])))
        cursor = started
        for code, secs in procs:
            w.procedures.append((tk["id"], service, code, site.code, cid, staff[cid], iso(cursor),
                                 iso(cursor + secs), float(secs)))
            cursor += secs
        ended = cursor
        _ticket(tk, "served", counter=cid, called=called, started=started, ended=ended, calls=1)
        w.events.append((tk["id"], iso(called), "called", site.code, cid, staff[cid], None))
        w.events.append((tk["id"], iso(started), "started", site.code, cid, staff[cid], None))
        w.events.append((tk["id"], iso(ended), "finished", site.code, cid, staff[cid],
                         _finished_data(tuple(c for c, _ in procs))))
        if rng.random() < gen["rated_share"]:
            level = rng.choices([lv for lv, _ in levels], [p for _, p in levels])[0]
            w.ratings.append((tk["id"], site.code, cid, staff[cid], level, "[]", iso(ended + 5)))
        heapq.heappush(heap, (now + (ended - called), i))
    # whoever is still waiting at closing: left (patience ran out) or cancelled
    for tk in tickets:
        if tk["done"]:
            continue
        tk["done"] = True
        if tk["t"] + tk["patience"] < close2:
            _left(tk)
        else:
            _ticket(tk, "cancelled", ended=base + close2)
            w.events.append((tk["id"], iso(base + close2), "cancelled", site.code, None, "system",
                             json.dumps({"reason": "closed"})))


def generate(store: Store, config: Config, *, days: int, end: date, province: int = 0, seed: int = 1,
             sites: list[str] | None = None, workload: dict[str, Any] | None = None,
             progress: bool = True) -> dict[str, Any]:
    workload = workload or load_workload()
    rng = random.Random(seed)
    models = site_models(config, workload, province, rng)
    if sites:
        models = [m for m in models if m.code in sites]
    gen = workload["generator"]
    working = set(gen["working_days"])
    start = end - timedelta(days=days - 1)
    all_days = [start + timedelta(days=i) for i in range(days)]
    t0 = time.monotonic()
    with store.write() as conn:
        # A node's database numbers from its block (sqlite_sequence, center/storage/outbox.py), not from max(id).
        next_id = max(conn.execute("SELECT max(id) FROM tickets").fetchone()[0] or 0, conn.execute(
            "SELECT coalesce(max(seq), 0) FROM sqlite_sequence WHERE name = 'tickets'").fetchone()[0]) + 1
        marks = ",".join("?" * len(models))
        if conn.execute(f"SELECT 1 FROM tickets WHERE service_day BETWEEN ? AND ? AND site IN ({marks}) LIMIT 1",
                        (start.isoformat(), end.isoformat(), *[m.code for m in models])).fetchone():
            raise SystemExit("the database already holds tickets in that range for those sites")
        if province:
            now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
            conn.executemany("INSERT OR IGNORE INTO sites (code, name, name_en, active, updated_at) "
                             "VALUES (?,?,?,0,?)", [(m.code, f"Xã/phường {m.code}", f"Commune {m.code}", now)
                                                    for m in models])
    w = Writer(next_id)
    # Bulk mode (a province, or a big history): the secondary indexes of the filled tables are dropped while
    # rows go in and rebuilt once at the end (a sorted build is many times faster than row-by-row updates).
    bulk = len(models) * days >= BULK_SITE_DAYS
    bulk_conn = _bulk_connection(store.path, bulk)
    indexes: list[tuple[str, str]] = []
    try:
        if bulk:
            bulk_conn.execute("BEGIN IMMEDIATE")
            indexes = [(r[0], r[1]) for r in bulk_conn.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN "
                "('tickets', 'ticket_events', 'ticket_procedures', 'ratings', 'counter_events') "
                "AND sql NOT LIKE 'CREATE UNIQUE%'")]
            for name, _ in indexes:
                bulk_conn.execute(f'DROP INDEX "{name}"')
            bulk_conn.execute("COMMIT")
        try:
            total = _fill(bulk_conn, w, models, all_days, working, gen, workload, config, rng, progress, t0)
        finally:
            if indexes:
                if progress:
                    sys.stderr.write("\nrebuilding indexes…")
                bulk_conn.execute("BEGIN IMMEDIATE")
                for _, sql in indexes:
                    bulk_conn.execute(sql)
                bulk_conn.execute("COMMIT")
                bulk_conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        bulk_conn.close()
    if progress:
        sys.stderr.write("\n")
    return {"sites": len(models), "days": days, "tickets": total, "seconds": round(time.monotonic() - t0, 1)}


def _bulk_connection(path: str, bulk: bool) -> sqlite3.Connection:
    """The generator's own connection: a generated file is thrown away if the run fails, so its writes skip
    the fsyncs (synchronous=OFF) and a big history keeps its indexes' pages in a large cache."""
    conn = sqlite3.connect(path, timeout=60, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 60000")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA foreign_keys = ON")
    if bulk:
        conn.execute("PRAGMA cache_size = -1000000")  # KiB: 1 GB
        conn.execute("PRAGMA wal_autocheckpoint = 100000")  # pages
    return conn


class _BackgroundWriter:
    """Writes one batch in a thread while the next day is simulated (SQLite releases the GIL while it works);
    at most one batch is in flight."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None
        self.written = 0

    def _write(self, batch: Writer) -> None:
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                self.written += batch.flush(self.conn)
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.rollback()
                raise
        except BaseException as e:  # re-raised by wait() in the generating thread
            self.error = e

    def submit(self, batch: Writer) -> None:
        self.wait()
        self.thread = threading.Thread(target=self._write, args=(batch,), name="history-writer", daemon=True)
        self.thread.start()

    def wait(self) -> int:
        if self.thread is not None:
            self.thread.join()
            self.thread = None
        if self.error is not None:
            raise self.error
        return self.written


def _fill(conn: sqlite3.Connection, w: Writer, models: list[SiteModel], all_days: list[date], working: set,
          gen: dict[str, Any], workload: dict[str, Any], config: Config, rng: random.Random, progress: bool,
          t0: float) -> int:
    writer = _BackgroundWriter(conn)
    for n, day in enumerate(all_days, 1):
        wd = day.weekday()
        volume = 1.0 if wd in working else gen["saturday_share"] if wd == 5 else 0.0
        if volume > 0:
            offset = int((datetime(day.year, day.month, day.day, 12, tzinfo=config.tz).utcoffset()
                          or timedelta(0)).total_seconds())
            for m in models:
                simulate_day(w, m, day, offset, workload, rng, volume)
            if len(w.tickets) > 100_000:
                writer.submit(w.take())
        if progress and (n % max(1, len(all_days) // 100) == 0 or n == len(all_days)):
            _bar(n, len(all_days), writer.written + len(w.tickets), t0, day)
    if w.tickets or w.sequences or w.counter_events:
        writer.submit(w.take())
    return writer.wait()


def _bar(n: int, total: int, tickets: int, t0: float, day: date) -> None:
    width = 30
    done = int(width * n / total)
    elapsed = time.monotonic() - t0
    eta = elapsed / n * (total - n) if n else 0
    sys.stderr.write(f"\r[{'#' * done}{'.' * (width - done)}] {n}/{total} {day.isoformat()} "
                     f"{tickets:,} tickets  {elapsed:.0f}s elapsed, ~{eta:.0f}s left ")
    sys.stderr.flush()


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m center generate-history",
                                description="Fill the database with a synthetic history from "
                                "center/workload.toml")
    p.add_argument("--db", default="xephang.sqlite3", help="database file")
    p.add_argument("--config", default="config.toml", help="config file (sites, counters, services)")
    p.add_argument("--days", type=int, default=365, help="number of days, ending at --end")
    p.add_argument("--end", help="last day (YYYY-MM-DD, local); default: yesterday")
    p.add_argument("--province", type=int, default=0, metavar="N",
                   help="generate N synthetic sites (p001…) instead of the configured ones")
    p.add_argument("--site", action="append", help="only this configured site (repeatable)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    config = load_config(args.config)
    end = date.fromisoformat(args.end) if args.end else (datetime.now(config.tz).date() - timedelta(days=1))
    if args.days < 1:
        raise SystemExit("--days must be at least 1")
    store = Store(args.db)
    from .queue.engine import Engine

    Engine(store, config)  # sites, services, counters rows in line with the config
    result = generate(store, config, days=args.days, end=end, province=args.province, seed=args.seed,
                      sites=args.site, progress=not args.quiet)
    store.close()
    print(f"{result['tickets']:,} tickets for {result['sites']} sites over {result['days']} days "
          f"in {result['seconds']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
