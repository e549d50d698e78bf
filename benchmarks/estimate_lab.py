"""Fast offline evaluator of the estimated wait: the ward day of `bench_day`, in-process, in seconds.

The same workload (`center/workload.toml`, bench_day's arrivals, procedure mix, priority, no-show,
walking and second-procedure behaviour, counters polling every 20 s when idle) drives the Engine
directly on a temporary SQLite file with a hand-moved clock: a discrete-event simulation instead of
threads sleeping at 60×. It reports the estimate error the same way bench_day does, per seed, plus
the breakdowns used to find where the error comes from.

    .venv/bin/python -m benchmarks.estimate_lab [--seeds 6] [--detail]
"""

from __future__ import annotations

import argparse
import heapq
import random
import sqlite3
import statistics
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from .bench_day import DAY, START, arrivals, estimate_errors, procedures_done, sim_config, workload


class _Clock:
    def __init__(self, start: datetime):
        self.now = start.astimezone(UTC)

    def __call__(self) -> datetime:
        return self.now


def simulate(seed: int | str, tmp: Path | None = None) -> Path:
    """Run one ward day; returns the SQLite file."""
    from center.config import load_config
    from center.engine import Actor, Engine
    from center.errors import QueueError
    from center.store import Store

    model = workload()
    tmp = tmp or Path(tempfile.mkdtemp(prefix="xephang-lab-"))
    cfg = load_config(sim_config(tmp))
    procedures = model["procedure"]
    by_code = {p["code"]: p for p in procedures}
    service_of = {p.code: s.code for s in cfg.services.values() for p in s.procedures}
    groups = [g.code for g in cfg.priority_groups]
    beh = model["behaviour"]
    clock = _Clock(START)
    db = tmp / "lab.sqlite3"
    store = Store(db)
    engine = Engine(store, cfg, clock=clock)
    end_of_day = datetime.fromisoformat(f"{DAY}T17:00:00+07:00")
    intended: dict[int, str] = {}
    kiosks_done = [0]

    def sleep(seconds: float):
        return clock.now + timedelta(seconds=max(0.0, seconds))

    def kiosk(site: str):
        rng = random.Random(f"{site}-{seed}")
        site_services = set(cfg.sites[site].services)
        for at in arrivals(model, site, rng):
            yield at
            choices = [p for p in procedures if service_of[p["code"]] in site_services]
            proc = rng.choices(choices, weights=[p["share"] for p in choices])[0]
            service = service_of[proc["code"]]
            priority = None
            if rng.random() < beh["priority_share"] and cfg.services[service].allow_priority:
                priority = rng.choice(groups)
            try:
                t = engine.issue(site, service, priority=priority, source="kiosk")
                intended[t["id"]] = proc["code"]
            except Exception as e:  # closed / stopped issuing
                if getattr(e, "code", None) not in ("issuing_stopped", "closed"):
                    raise
        kiosks_done[0] += 1

    def counter(c):
        rng = random.Random(f"{c.id}-{seed}")
        actor = Actor(f"sim-{c.id}", "staff", c.site)
        while True:
            ticket = engine.call_next(c.id, actor)
            if ticket is None:
                if clock.now > end_of_day + timedelta(minutes=90) or (
                        clock.now > end_of_day and kiosks_done[0] == len(cfg.sites)):
                    return
                yield sleep(20)
                continue
            try:
                yield from serve(c, actor, rng, ticket)
            except QueueError:  # the day was closed under the citizen (as bench_day's failed requests)
                continue

    def serve(c, actor, rng, ticket):
        if rng.random() < beh["no_show_share"]:
            yield sleep(60)
            engine.recall(c.id, actor, expect=ticket["id"])
            yield sleep(60)
            engine.no_show(c.id, actor, expect=ticket["id"])
            return
        yield sleep(rng.uniform(15, 45))
        engine.start(c.id, actor, expect=ticket["id"])
        first = intended.get(ticket["id"])
        done = procedures_done(cfg.services[ticket["service"]], first, by_code, beh, rng)
        codes = [code for code, _ in done]
        for code, seconds in done:
            yield sleep(seconds)
            engine.mark_procedure(c.id, actor, code, expect=ticket["id"])
        engine.finish(c.id, actor, codes, expect=ticket["id"])

    def housekeeping():
        while clock.now < end_of_day + timedelta(minutes=100):
            engine.housekeeping()
            yield sleep(30)

    procs = [kiosk(s) for s in cfg.sites] + [counter(c) for s in cfg.sites.values() for c in s.counters]
    procs.append(housekeeping())
    heap = [(clock.now, n, p) for n, p in enumerate(procs)]
    heapq.heapify(heap)
    while heap:
        at, n, p = heapq.heappop(heap)
        clock.now = max(clock.now, at.astimezone(UTC))
        try:
            nxt = next(p)
        except StopIteration:
            continue
        heapq.heappush(heap, (nxt.astimezone(UTC), n, p))
    store.close()
    return db


def rows(db: Path) -> list[sqlite3.Row]:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    return conn.execute("SELECT site, service, priority, issued_at, estimated_wait_s AS est, wait_s AS wait, "
                        "ahead_at_issue AS ahead FROM tickets WHERE wait_s IS NOT NULL AND estimated_wait_s "
                        "IS NOT NULL AND transferred_from IS NULL").fetchall()


def breakdown(all_rows: list[sqlite3.Row]) -> None:
    """Where the error comes from: bias and spread by service, site, class, hour."""
    long = [r for r in all_rows if r["wait"] >= 300]

    def show(label, group):
        if not group:
            return
        rel = [abs(r["est"] - r["wait"]) / r["wait"] for r in group]
        ratio = [r["est"] / r["wait"] for r in group]
        mean_wait = statistics.mean(r["wait"] for r in group) / 60
        print(f"  {label:<18} n={len(group):4d} med|err|={100 * statistics.median(rel):5.1f}% "
              f"med est/actual={statistics.median(ratio):4.2f} mean wait={mean_wait:5.1f}m")

    print("waits > 5 min:")
    show("all", long)
    for key in ("site", "service"):
        for v in sorted({r[key] for r in long}):
            show(f"{key}={v}", [r for r in long if r[key] == v])
    show("priority", [r for r in long if r["priority"]])
    for h in sorted({_hour(r) for r in long}):
        show(f"hour={h}", [r for r in long if _hour(r) == h])
    short = [r for r in all_rows if r["wait"] < 300]
    if short:
        print(f"waits < 5 min: n={len(short)} median |err| "
              f"{statistics.median(abs(r['est'] - r['wait']) / 60 for r in short):.2f} min, "
              f"p90 {sorted(abs(r['est'] - r['wait']) / 60 for r in short)[int(0.9 * len(short))]:.2f} min")


def _hour(r) -> str:
    return datetime.fromisoformat(r["issued_at"].replace("Z", "+00:00")).astimezone(START.tzinfo).strftime("%H")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=6)
    ap.add_argument("--first", type=int, default=20261123)
    ap.add_argument("--detail", action="store_true")
    args = ap.parse_args()
    pooled = []
    per_seed = []
    for k in range(args.seeds):
        seed = args.first + k
        db = simulate(seed)
        conn = sqlite3.connect(db)
        figures = estimate_errors(conn)
        conn.close()
        per_seed.append(figures["estimate_median_abs_error_pct_waits_over_5_min"])
        print(f"seed {seed}: {figures}")
        pooled.extend(rows(db))
    print(f"per seed median |err| (waits > 5 min): {per_seed}; mean {statistics.mean(per_seed):.1f} %")
    long = [r for r in pooled if r["wait"] >= 300]
    print(f"pooled: {100 * statistics.median(abs(r['est'] - r['wait']) / r['wait'] for r in long):.1f} % "
          f"over {len(long)} tickets; all tickets median |err| "
          f"{statistics.median(abs(r['est'] - r['wait']) / 60 for r in pooled):.2f} min")
    if args.detail:
        breakdown(pooled)


if __name__ == "__main__":
    main()
