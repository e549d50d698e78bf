"""The province hub on PostgreSQL (issue 16): 100 centers pushing at once, the province's yearly report,
the hub's memory, a center's catch-up after 30 days offline, and the disk each ticket takes.

Scales come from the environment (a run must fit the machine's budget): XEPHANG_BENCH_HUB_CENTERS (100),
XEPHANG_BENCH_HUB_ROUNDS (calendar days of history pushed per round, "1,2,4": together one week, Monday
first), XEPHANG_BENCH_HUB_CATCH_UP_DAYS (30), XEPHANG_BENCH_HUB_YEAR_WEEKS (52: the pushed week copied back
in SQL to make the year).
"""

from __future__ import annotations

import copy
import json
import os
import statistics as pystats
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from .bench_sync import OtherWork
from .common import CONFIG, ROOT, free_port

CENTERS = int(os.environ.get("XEPHANG_BENCH_HUB_CENTERS", "100"))
ROUNDS = [int(x) for x in os.environ.get("XEPHANG_BENCH_HUB_ROUNDS", "1,2,4").split(",")]
CATCH_UP_DAYS = int(os.environ.get("XEPHANG_BENCH_HUB_CATCH_UP_DAYS", "30"))
YEAR_WEEKS = int(os.environ.get("XEPHANG_BENCH_HUB_YEAR_WEEKS", "52"))
FIRST_DAY = date(2026, 11, 2)  # a Monday: the pushed rounds are Monday, Tuesday–Wednesday, Thursday–Sunday
POSITIONS = 250  # outbox positions per batch, as center/sync/link.py (BATCH_POSITIONS)
WORKERS = 2
PG_SETTINGS = {"shared_buffers": "1GB", "max_wal_size": "4GB"}  # the rest as tests/pg_support.py (fsync on)
ID_SHIFT = 10**8  # ids of the week copied k weeks back: + k × ID_SHIFT (the template's ids stay far below)
SITE_TABLES = ("tickets", "ticket_events", "ticket_procedures", "ratings", "counter_events", "counter_state")
GROUPS = ("center", "service", "procedure", "hour", "day")

READING = (
    "Scaled to the budget of one run (≤ 15 min): rounds of 1, 2 and 4 days of history a center (one calendar week, "
    "Monday first) instead of 1, 2 and 4 weeks; the year is that pushed week and 51 copies of it in SQL: 7.93 M "
    "tickets (the SQLite province had 9.76 M: ×1.23 more to reach it). Reading of the run of 2026-12-06 03:38 UTC "
    "at commit 8f96f52, nothing else running (`other_work_pct` ≤ 2 % in every stage):\n\n"
    "- **Yearly report, all 100 centers: met.** group=center 264 ms, day 244 ms, hour 441 ms, service 459 ms, "
    "procedure 493 ms, one service by hour 456 ms (target 1 s; 17–130 s when the report read every ticket). The "
    "all-in-one SQLite province of the \"Reports on generated history\" section (another run: its database takes "
    "~45 min to build, which does not fit this bench) took 0.79–1.55 s per grouping: the hub is 1.8–4.3× faster on "
    "0.81× the tickets. In process: which months are rolled up 7 ms; cells for the summary 36 ms, per center 31 ms, "
    "per service 207 ms, per hour 208 ms, per day (the trend: 36,500 day rows) 138 ms, per procedure 236 ms, "
    "booking figures 31 ms.\n"
    "- **One center's year: met.** 25 ms (group=center) and 27 ms (service), target 150 ms (347–409 ms before).\n"
    "- **How**: a report over ≥ 32 days reads roll-ups (center/hub/rollup.py): per center and day (all, per service, "
    "per hour) and per center and month (also per site and service, and each per hour), and per procedure, each "
    "with wait-time histograms in the center's own buckets, so a center's figures over a long range are exactly its "
    "own long-range report's (tests/test_hub_rollup.py). Here 1,100 of the 1,200 center-months were read from month "
    "rows, the 29 days at the ends from day rows.\n"
    "- **Ingest**: 24,000–26,100 records/s with 100 centers at once (batch p50 0.7–0.8 s, p99 1.6–2.0 s for 100 "
    "pushers on 2 × 8 threads), although each batch now also rebuilds its days' roll-ups: the hub keeps one "
    "PostgreSQL connection per thread (with a new backend per request, the same run gave 13,000). The 30-day "
    "catch-up: 3.2 s, 13,306 records/s.\n"
    "- **Disk**: 1,674 B per ticket with everything a center sends (1,450 B before the roll-ups); the year's "
    "summaries take 1.1 GB of 6.65 GB (hub_daily 521 MB with its histograms, hub_rollup 259 MB, hub_rollup_proc "
    "337 MB), ~140 B per ticket. Rebuilding a year of summaries for 100 centers from the tickets: 396 s.\n"
    "- **Memory**: gunicorn master 37 MB, workers 61 and 81 MB RSS at peak; PostgreSQL shared_buffers 1 GB (set "
    "for this run).\n"
    "- **Not a target, noted**: a report over 31 days or less reads the tickets for exact medians, as a center's "
    "does: over all 100 centers, 31 days take 1.9 s (one center's month stays fast).")

METHOD = (
    "A throwaway PostgreSQL cluster (tests/pg_support.py: fsync, synchronous_commit and full_page_writes on; "
    f"{', '.join(f'{k} = {v}' for k, v in PG_SETTINGS.items())}, work_mem default 4 MB) and the real hub server "
    f"(`python -m center hub serve`, {WORKERS} gunicorn gthread workers × 8 threads) on the same 2-core machine "
    "as the clients. **Records**: one center's history is generated day by day (`center.history.generate`, "
    "config.toml's two sites) into a SQLite database linked to the hub (`outbox.link(conn, 'c000', None)` "
    f"first, so the outbox notes each day's records in order) and collected as link.py does ({POSITIONS} "
    "outbox positions a batch, `outbox.collect`, `protocol.encode` with the center's labels in its first batch); "
    "for centers c001… the batch's `node`, `db_id` and site codes (`c017-main`, `c017-branch`) are rewritten "
    "before encoding. A generated history holds each record's final state once (a live center sends a ticket "
    "several times as it changes: the Sync section measures that). **Ingest**: all centers push at once (a "
    "thread each, its own center token, pre-encoded bodies back to back), rounds of increasing volume on the "
    "same hub, never reset; records/s = records written ÷ the round's wall time. **Memory**: RSS of the "
    "gunicorn master and workers sampled every 0.5 s during ingest. **Catch-up**: after the rounds, one center "
    "sends the next days of its history (offline meanwhile) back to back on one connection. **Year**: the "
    "pushed week is copied back week by week in SQL (`INSERT … SELECT`, days, times and ids shifted) into "
    "tickets, ticket_procedures and ratings (not ticket_events: no report reads them), a booking for every "
    "fourth ticket (5 % cancelled, 5 % no-show, 2.5 % late: the bookings table as centers send it), "
    "hub_daily and the day roll-ups rebuilt with `center.hub.summary.rebuild` per center, the months rolled up with "
    "`center.hub.rollup.refresh` (what the hub's refresher does each minute), then `VACUUM ANALYZE`; each "
    "grouping of `/hub/api/report` over the year (the last 12 months: 11 whole months and days at both ends) "
    "is timed through HTTP with a signed-in province session (first request, then the median of the next "
    "ones), and the cost of each query of a report in process. **Disk**: `pg_total_relation_size` of every "
    "table (with indexes and TOAST) ÷ tickets, after the pushed rounds (all tables, events included) and "
    "after the year. Each stage notes the other work on the shared machine meanwhile (`other_work_pct` of "
    "both cores: busy CPU minus this benchmark's, the hub's "
    "and PostgreSQL's).\n\n" + READING)


class Watch(OtherWork):
    """OtherWork that also counts PostgreSQL's processes as ours (pg_ctl daemonizes them)."""

    postmaster: int = 0

    def _tree(self) -> dict[int, float]:  # type: ignore[override]
        import psutil

        out = OtherWork._tree()
        try:
            pm = psutil.Process(self.postmaster)
            t = pm.cpu_times()  # with the backends it reaped (one a hub request)
            out[pm.pid] = t.user + t.system + t.children_user + t.children_system
            for p in pm.children():
                try:
                    c = p.cpu_times()
                    out[p.pid] = c.user + c.system
                except psutil.Error:
                    pass
        except psutil.Error:
            pass
        return out


def _stage(what: str, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    watch = Watch()
    result = {**fn(), **watch.result()}
    print(f"{what}: {json.dumps(result, ensure_ascii=False, default=str)}", file=sys.stderr, flush=True)
    return result


# ---------------------------------------------------------------------------------------------- the records


def _template(work: Path, days: int) -> tuple[Any, list[int], dict[str, Any]]:
    """One center's history, generated day by day into a linked database: (store, the outbox position at the
    end of each day, its labels)."""
    from center import history
    from center.config.read import load_config
    from center.storage import outbox
    from center.storage.store import Store
    from center.sync import labels

    config = load_config(CONFIG)
    store = Store(work / "center.sqlite3")
    with store.write() as conn:
        outbox.link(conn, "c000", None)
    ends = []
    for i in range(days):
        day = FIRST_DAY + timedelta(days=i)
        history.generate(store, config, days=1, end=day, seed=day.toordinal(), progress=False)
        with store.read() as conn:
            ends.append(conn.execute("SELECT coalesce(max(seq), 0) FROM sync_outbox").fetchone()[0])
    return store, ends, labels.build(config)


def _batches(store: Any, after: int, upto: int) -> list[Any]:
    from center.storage import outbox

    out = []
    while after < upto:
        with store.connection() as conn:
            b = outbox.collect(conn, "c000", after, min(POSITIONS, upto - after))
        out.append(b)
        after = b.to
    return out


def _for_center(batch: Any, center: str, lab: dict[str, Any] | None) -> bytes:
    """The body center `center` would send: its node name, database id and site codes."""
    from center.storage.outbox import Batch
    from center.sync.protocol import encode

    tables = {}
    for tbl, t in batch.tables.items():
        if tbl in SITE_TABLES:
            i = t["cols"].index("site")
            rows = [[*r[:i], f"{center}-{r[i]}", *r[i + 1:]] for r in t["rows"]]
            t = {"cols": t["cols"], "rows": rows}
        tables[tbl] = t
    b = Batch(node=center, after=batch.after, to=batch.to, ver=batch.ver, db_id=f"db-{center}", tables=tables)
    extra: dict[str, Any] = {"sent_at": "2026-11-30T00:00:00.000Z", "version": "bench"}
    if lab is not None:
        extra["labels"] = lab
    return encode(b, extra)


def _labels_for(lab: dict[str, Any], center: str) -> dict[str, Any]:
    out = copy.deepcopy(lab)
    out["sites"] = {f"{center}-{k}": v for k, v in lab["sites"].items()}
    out["center_name"] = out["center_name_en"] = f"Center {center}"
    out["hash"] = f"bench-{center}"
    return out


# ---------------------------------------------------------------------------------------------- the hub


class Hub:
    """PostgreSQL, hub.toml with the centers, their tokens, and `python -m center hub serve`."""

    def __init__(self, work: Path, centers: list[str]) -> None:
        import psycopg

        from center.hub.config import load_hub_config
        from center.hub.ingest import create_token, ensure_schema
        from tests.pg_support import PgCluster

        self.pg = PgCluster().init()
        with self.pg.admin() as conn:
            for k, v in PG_SETTINGS.items():
                conn.execute(f"ALTER SYSTEM SET {k} = '{v}'")
        self.pg.restart()
        Watch.postmaster = self.pg.postmaster_pid()
        self.config = work / "hub.toml"
        self.config.write_text(f'[hub]\nname = "Tỉnh"\nname_en = "Province"\ndsn = "{self.pg.dsn}"\n\n' + "".join(
            f'[[centers]]\nid = "{c}"\nname = "Center {c}"\nsites = ["{c}-main", "{c}-branch"]\n\n'
            for c in centers), encoding="utf-8")
        cfg = load_hub_config(self.config)
        self.tokens = {}
        with psycopg.connect(self.pg.dsn, autocommit=True) as conn:
            ensure_schema(conn)
            from datetime import UTC, datetime

            for c in centers:
                self.tokens[c] = create_token(conn, cfg, c, datetime.now(UTC))
        subprocess.run([sys.executable, "-m", "center", "hub", "user", "add", "tinh", "--role", "province",
                        "--password-stdin", "--config", str(self.config)], cwd=ROOT, input="bench-password-123\n",
                       capture_output=True, text=True, check=True)
        self.port = free_port()
        self.log = (work / "hub.log").open("ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "center", "hub", "serve", "--config", str(self.config),
                                      "--port", str(self.port), "--workers", str(WORKERS)], cwd=ROOT,
                                     stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        import requests

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(self.url + "/api/health", timeout=2).ok:
                    return
            except requests.RequestException:
                time.sleep(0.2)
        raise RuntimeError("the hub did not start")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss_mb(self) -> dict[str, float]:
        import psutil

        master = psutil.Process(self.proc.pid)
        workers = master.children(recursive=True)
        return {"master": master.memory_info().rss / 2**20,
                **{f"worker{i + 1}": p.memory_info().rss / 2**20 for i, p in enumerate(workers)}}

    def session(self) -> Any:
        import re

        import requests

        s = requests.Session()
        page = s.get(self.url + "/hub/login", timeout=10).text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert csrf, page[:300]
        r = s.post(self.url + "/hub/login", data={"username": "tinh", "password": "bench-password-123",
                                                  "csrf_token": csrf.group(1)}, allow_redirects=False, timeout=30)
        assert r.status_code == 302, r.text[:300]
        return s

    def stop(self) -> None:
        import signal

        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.pg.close()


class RssSampler:
    """The hub processes' RSS every 0.5 s while running: the largest seen of each."""

    def __init__(self, hub: Hub) -> None:
        self.hub, self.peak, self.stop_ = hub, {}, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop_.is_set():
            try:
                for k, v in self.hub.rss_mb().items():
                    self.peak[k] = max(self.peak.get(k, 0.0), v)
            except Exception:  # noqa: BLE001, S110 - a worker restarting between two looks
                pass
            self.stop_.wait(0.5)

    def result(self) -> dict[str, float]:
        self.stop_.set()
        self.thread.join()
        return {k: round(v, 1) for k, v in sorted(self.peak.items())}


def _push_all(hub: Hub, bodies: dict[str, list[tuple[bytes, int, int]]]) -> dict[str, Any]:
    """Every center's bodies at once (a thread a center, back to back); each answer must reach the batch's end."""
    import requests

    from center.sync.protocol import CONTENT_TYPE

    lat: list[float] = []
    errors: list[str] = []
    written = [0]
    lock = threading.Lock()

    def one(center: str) -> None:
        s = requests.Session()
        s.trust_env = False
        h = {"Authorization": f"Bearer {hub.tokens[center]}", "Content-Type": CONTENT_TYPE}
        for body, to, _ in bodies[center]:
            t = time.perf_counter()
            try:
                r = s.post(hub.url + "/sync/push", data=body, headers=h, timeout=120)
                answer = r.json()
            except (requests.RequestException, ValueError) as e:
                errors.append(f"{center}: {e}")
                return
            dt = time.perf_counter() - t
            if r.status_code != 200 or answer.get("gap") or answer.get("hwm") != to:
                errors.append(f"{center}: {r.status_code} {str(answer)[:200]}")
                return
            with lock:
                lat.append(dt * 1000)
                written[0] += answer["written"]

    threads = [threading.Thread(target=one, args=(c,)) for c in bodies]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    from .common import percentile

    records = sum(n for bs in bodies.values() for _, _, n in bs)
    return {"centers": len(bodies), "batches": sum(len(b) for b in bodies.values()), "records": records,
            "records_written": written[0], "body_mb": round(sum(len(b) for bs in bodies.values() for b, _, _ in bs)
                                                            / 1e6, 1),
            "wall_s": round(wall, 1), "records_per_s": round(records / wall), "batch_ms_p50": round(
                percentile(lat, 50), 1), "batch_ms_p99": round(percentile(lat, 99), 1),
            "errors": errors[:5] or None}


def _bodies(batches: list[Any], centers: list[str], lab: dict[str, Any],
            first: bool) -> dict[str, list[tuple[bytes, int, int]]]:
    return {c: [(_for_center(b, c, _labels_for(lab, c) if first and i == 0 else None), b.to, b.records())
                for i, b in enumerate(batches)] for c in centers}


# ---------------------------------------------------------------------------------------------- the year


def _columns(table: str) -> list[tuple[str, str]]:
    from center.hub.schema import TABLES

    return [(c.split()[0], c.split()[1]) for c in TABLES[table][2].replace("\n", " ").split(",") if c.strip()]


def _shifted(table: str) -> str:
    """SELECT list of `table`'s columns for the copy k weeks back (k from generate_series)."""
    ids = {"id", "ticket_id", "transferred_from", "transferred_to"}
    out = ["x.center"]
    for name, kind in _columns(table):
        if name in ids:
            out.append(f"x.{name} + k::bigint * {ID_SHIFT}")
        elif name == "service_day":
            out.append("x.service_day - 7 * k")
        elif kind == "timestamptz":
            out.append(f"x.{name} - make_interval(days => 7 * k)")
        else:
            out.append(f"x.{name}")
    return ", ".join([*out, "x.sync_ver"])


def build_year(dsn: str, centers: list[str], week0: date) -> dict[str, Any]:
    """The pushed week (week0…+6) copied YEAR_WEEKS − 1 weeks back, then hub_daily rebuilt and ANALYZE."""
    import psycopg

    from center.hub import rollup, summary
    from center.hub.schema import partition_ddl

    out: dict[str, Any] = {}
    first = week0 - timedelta(days=7 * (YEAR_WEEKS - 1))
    with psycopg.connect(dsn, autocommit=True) as conn:
        d = first
        while d <= week0 + timedelta(days=6):
            conn.execute(partition_ddl("tickets", d))
            d = (d.replace(day=28) + timedelta(days=4)).replace(day=1)
        base = "x.service_day BETWEEN %(d0)s AND %(d1)s"
        p = {"d0": week0, "d1": week0 + timedelta(days=6), "n": YEAR_WEEKS - 1}
        for table, where in (("tickets", base),
                             ("ticket_procedures", f"EXISTS (SELECT 1 FROM tickets x2 WHERE x2.center = x.center "
                                                   f"AND x2.id = x.ticket_id AND {base.replace('x.', 'x2.')})"),
                             ("ratings", f"EXISTS (SELECT 1 FROM tickets x2 WHERE x2.center = x.center AND x2.id = "
                                         f"x.ticket_id AND {base.replace('x.', 'x2.')})")):
            t = time.perf_counter()
            cur = conn.execute(f"INSERT INTO {table} SELECT {_shifted(table)} FROM {table} x, "
                               f"generate_series(1, %(n)s) k WHERE {where}", p)
            out[f"insert_{table}_s"] = round(time.perf_counter() - t, 1)
            out[f"{table}_rows_added"] = cur.rowcount
        t = time.perf_counter()  # a quarter of the year's citizens booked (issue 17): what the centers would send
        cur = conn.execute(
            "INSERT INTO bookings (center, code, site, service, service_day, slot_at, slot_min, origin, status, "
            "ticket_id, late, created_at, updated_at, sync_ver) SELECT center, 'B' || id, site, service, service_day, "
            "issued_at, 15, 'hub', CASE WHEN id % 20 = 0 THEN 'cancelled' WHEN id % 20 = 4 THEN 'no_show' "
            "ELSE 'checked_in' END, id, (id % 40 = 8)::int, issued_at - interval '2 days', issued_at, 1 "
            "FROM tickets WHERE id % 4 = 0 AND transferred_from IS NULL")
        out["insert_bookings_s"] = round(time.perf_counter() - t, 1)
        out["bookings_rows_added"] = cur.rowcount
        conn.execute("UPDATE tickets SET booking = 'B' || id WHERE id % 4 = 0 AND transferred_from IS NULL")
        t = time.perf_counter()
        days = [first + timedelta(days=i) for i in range(7 * (YEAR_WEEKS - 1))]
        for c in centers:
            with conn.transaction():
                summary.rebuild(conn, c, days)
        out["hub_daily_and_day_rollups_rebuild_s"] = round(time.perf_counter() - t, 1)
        t = time.perf_counter()
        out["months_rolled_up"] = rollup.refresh(conn, date.today())
        out["months_rollup_s"] = round(time.perf_counter() - t, 1)
        t = time.perf_counter()
        conn.execute("VACUUM ANALYZE")
        out["vacuum_analyze_s"] = round(time.perf_counter() - t, 1)
        out["tickets_in_year"] = conn.execute("SELECT count(*) FROM tickets WHERE service_day BETWEEN %s AND %s",
                                              (first, week0 + timedelta(days=6))).fetchone()[0]
        for table in ("hub_daily", "hub_rollup", "hub_rollup_proc"):
            out[f"{table}_rows"] = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608
    out["year"] = f"{first} … {week0 + timedelta(days=6)}"
    return out


def disk(dsn: str) -> dict[str, Any]:
    import psycopg

    with psycopg.connect(dsn) as conn:
        sizes = dict(conn.execute(
            "SELECT coalesce(i.inhparent::regclass::text, c.relname), sum(pg_total_relation_size(c.oid)) "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace LEFT JOIN pg_inherits i ON "
            "i.inhrelid = c.oid WHERE n.nspname = 'public' AND c.relkind = 'r' GROUP BY 1").fetchall())
        tickets = conn.execute("SELECT count(*) FROM tickets").fetchone()[0]
    total = sum(sizes.values())
    total = int(total)
    return {"tickets": tickets, "total_mb": round(total / 2**20, 1), "bytes_per_ticket": round(total / tickets),
            "mb_by_table": {k: round(int(v) / 2**20, 1) for k, v in sorted(sizes.items(), key=lambda kv: -kv[1])[:14]}}


def _timed_get(s: Any, url: str) -> dict[str, Any]:
    """The first request, then the median of the next ones (3, or 1 when a request takes over 5 s)."""
    def get() -> float:
        t = time.perf_counter()
        r = s.get(url, timeout=600)
        r.raise_for_status()
        return (time.perf_counter() - t) * 1000

    first = get()
    rest = [get() for _ in range(1 if first > 5000 else 3)]
    return {"first_ms": round(first), "median_ms": round(pystats.median(rest))}


def time_reports(hub: Hub, year: str, one: str) -> dict[str, Any]:
    d0, d1 = (x.strip() for x in year.split("…"))
    s = hub.session()
    out: dict[str, Any] = {}
    for g in GROUPS:
        out[f"all centers, group={g} (≤ 1000 ms)"] = _timed_get(s, f"{hub.url}/hub/api/report?from={d0}&to={d1}"
                                                                    f"&group={g}")
    for g in ("center", "service"):
        out[f"center {one}, group={g} (≤ 150 ms)"] = _timed_get(s, f"{hub.url}/hub/api/report?from={d0}&to={d1}"
                                                                   f"&group={g}&center={one}")
    out["all centers, service HT, group=hour (≤ 1000 ms)"] = _timed_get(
        s, f"{hub.url}/hub/api/report?from={d0}&to={d1}&group=hour&service=HT")
    out["all centers, 31 days, group=service (exact path)"] = _timed_get(
        s, f"{hub.url}/hub/api/report?from={date.fromisoformat(d1) - timedelta(days=30)}&to={d1}&group=service")
    return out


def breakdown(hub: Hub, year: str) -> dict[str, Any]:
    """In-process: each query of a yearly report over all centers alone (center/hub/rollup_read.py)."""
    import psycopg

    from center.hub import reports, rollup_read
    from center.hub.config import load_hub_config

    cfg = load_hub_config(hub.config)
    d0, d1 = (x.strip() for x in year.split("…"))
    f = reports.HubFilters(d0, d1, group="center")
    params = {"centers": [c.id for c in cfg.centers], "d0": d0, "d1": d1, "tz": cfg.timezone, "site": None,
              "service": None}
    out = {}
    with psycopg.connect(cfg.dsn, autocommit=True) as conn:
        t = time.perf_counter()
        rollup_read.clean_months(conn, params)
        out["which months are rolled up (ms)"] = round((time.perf_counter() - t) * 1000, 1)
        out["months read from month rows, of centers × months"] = f"{len(params['mc'])}"
        for key in ("all", "center", "service", "hour", "day"):
            t = time.perf_counter()
            rollup_read.grouped(conn, f, params, key)
            out[f"cells per {key} (ms)"] = round((time.perf_counter() - t) * 1000, 1)
        t = time.perf_counter()
        rollup_read.procedures(conn, f, params)
        out["cells per procedure (ms)"] = round((time.perf_counter() - t) * 1000, 1)
        t = time.perf_counter()
        reports._bookings(conn, f, params, reports._Labels(conn, list(cfg.centers), False))
        out["booking figures, per-center cells cached (ms)"] = round((time.perf_counter() - t) * 1000, 1)
    return out


def run() -> dict[str, Any]:
    from .run import machine

    watch = Watch()
    work = Path(tempfile.mkdtemp(prefix="xephang-bench-hub-"))
    centers = [f"c{i:03d}" for i in range(CENTERS)]
    t = time.perf_counter()
    store, ends, lab = _template(work, sum(ROUNDS) + CATCH_UP_DAYS)
    out: dict[str, Any] = {"machine": machine(), "template_generate_s": round(time.perf_counter() - t, 1)}
    hub = Hub(work, centers)
    Watch.postmaster = hub.pg.postmaster_pid()
    out["postgresql"] = {**{k: v for k, v in PG_SETTINGS.items()}, "work_mem": "4MB (default)"}
    try:
        rss = RssSampler(hub)
        rounds: dict[str, Any] = {}
        day, after = 0, 0
        for i, n in enumerate(ROUNDS):
            upto = ends[day + n - 1]
            t = time.perf_counter()
            bodies = _bodies(_batches(store, after, upto), centers, lab, first=i == 0)
            enc = round(time.perf_counter() - t, 1)
            days = f"{FIRST_DAY + timedelta(days=day)} … {FIRST_DAY + timedelta(days=day + n - 1)}"
            rounds[f"round {i + 1}: {n} day(s) a center ({days})"] = _stage(
                f"round {i + 1}", lambda b=bodies, e=enc: {**_push_all(hub, b), "encode_s (untimed)": e})
            day, after = day + n, upto
        out["hub_rss_mb_peak_during_ingest"] = rss.result()
        out["ingest"] = rounds
        out["disk_after_rounds (all tables, events included)"] = disk(hub.pg.dsn)
        if CATCH_UP_DAYS:
            upto = ends[day + CATCH_UP_DAYS - 1]
            bodies = _bodies(_batches(store, after, upto), centers[:1], lab, first=False)
            out[f"catch_up: {centers[0]} after {CATCH_UP_DAYS} days offline"] = _stage(
                "catch-up", lambda: _push_all(hub, bodies))
        week0 = FIRST_DAY
        year = _stage("year", lambda: build_year(hub.pg.dsn, centers, week0))
        out["year_bulk_load"] = year
        out["disk_after_year (ticket_events of the pushed weeks only)"] = disk(hub.pg.dsn)
        out["reports_http"] = _stage("reports", lambda: time_reports(hub, year["year"], centers[min(42, CENTERS - 1)]))
        out["reports_in_process"] = _stage("breakdown", lambda: breakdown(hub, year["year"]))
        out["other_work_pct_whole_run"] = watch.result()["other_work_pct"]  # while PostgreSQL still runs
    finally:
        if os.environ.get("XEPHANG_BENCH_HUB_KEEP"):  # to look at the year afterwards: stop it by hand
            print(f"kept: hub {hub.url}, config {hub.config}, dsn {hub.pg.dsn}", file=sys.stderr, flush=True)
        else:
            hub.stop()
        store.close()
    return {**summary(out), **out}


def summary(out: dict[str, Any]) -> dict[str, Any]:
    """The figures against the issue's targets, first."""
    rounds = list(out["ingest"].values())
    rep = out["reports_http"]
    catch = next(v for k, v in out.items() if k.startswith("catch_up"))
    return {
        "records_per_s, 100 centers at once, by round": " / ".join(str(r["records_per_s"]) for r in rounds),
        **{f"yearly report, {k.split(' (')[0]} (ms, median)": v["median_ms"] for k, v in rep.items()
           if isinstance(v, dict)},
        "hub RSS peak during ingest, master / workers (MB)": " / ".join(
            str(v) for v in out["hub_rss_mb_peak_during_ingest"].values()),
        f"catch-up after {CATCH_UP_DAYS} days offline (s; records/s)": f"{catch['wall_s']}; {catch['records_per_s']}",
        "disk per ticket, all tables (bytes)": out["disk_after_rounds (all tables, events included)"][
            "bytes_per_ticket"],
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2, ensure_ascii=False, default=str))
