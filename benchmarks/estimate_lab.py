"""Fast offline evaluator of the estimated wait: the ward day of `bench_day`, in-process, in seconds.

The same workload (`center/workload.toml`, bench_day's arrivals, procedure mix, priority, no-show,
walking and second-procedure behaviour, counters polling every 20 s when idle) drives the Engine
directly on a temporary SQLite file with a hand-moved clock: a discrete-event simulation instead of
threads sleeping at 60×. It reports the estimate error the same way bench_day does, per seed, plus
the breakdowns used to find where the error comes from.

    .venv/bin/python -m benchmarks.estimate_lab [--seeds 6] [--detail]

It also measures the printed range (center.queue.estimate.wait_range): the share of actual waits inside it, per
day and overall, and its median width. `--calibrate 150` derives the range's factors (WAIT_RANGE) from 150
other days (seeds 20270001–150), never from the evaluation days.
"""

from __future__ import annotations

import argparse
import bisect
import heapq
import math
import random
import shutil
import sqlite3
import statistics
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

from center.queue.estimate import (
    _NORMAL,
    WAIT_RANGE,
    WAIT_RANGE_LEVEL,
    WAIT_RANGE_STEP_S,
    CounterLoad,
    Waiting,
    _Lines,
    _lognormal,
    wait_range,
)

from .bench_day import DAY, START, arrivals, estimate_errors, procedures_done, sim_config, workload
from .common import SimClock, run_processes


def simulate(seed: int | str, tmp: Path | None = None, record: dict | None = None) -> Path:
    """Run one ward day; returns the SQLite file. With `record`, also keeps what the oracle needs: the
    state at each issue (queue, counters' phases), each citizen's realized times and the intended procedures."""
    from center.config.read import load_config
    from center.errors import QueueError
    from center.queue.actors import Actor
    from center.queue.engine import Engine
    from center.storage.store import Store

    model = workload()
    tmp = tmp or Path(tempfile.mkdtemp(prefix="xephang-lab-"))
    cfg = load_config(sim_config(tmp))
    procedures = model["procedure"]
    by_code = {p["code"]: p for p in procedures}
    service_of = {p.code: s.code for s in cfg.services.values() for p in s.procedures}
    groups = [g.code for g in cfg.priority_groups]
    beh = model["behaviour"]
    clock = SimClock(START)
    db = tmp / "lab.sqlite3"
    store = Store(db)
    engine = Engine(store, cfg, clock=clock)
    end_of_day = datetime.fromisoformat(f"{DAY}T17:00:00+07:00")
    intended: dict[int, str] = {}
    kiosks_done = [0]
    cstate: dict[str, dict] = {c.id: {"busy": False, "next_poll": clock.now} for s in cfg.sites.values()
                               for c in s.counters}
    if record is not None:
        record.update(states=[], realized={}, intended=intended)

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
                if record is not None:
                    record["states"].append(_capture(engine, site, t["id"], clock.now, cstate))
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
                cstate[c.id] = {"busy": False, "next_poll": clock.now + timedelta(seconds=20)}
                if clock.now > end_of_day + timedelta(minutes=90) or (
                        clock.now > end_of_day and kiosks_done[0] == len(cfg.sites)):
                    return
                yield sleep(20)
                continue
            cstate[c.id] = {"busy": True, "ticket": ticket["id"], "service": ticket["service"], "called": clock.now,
                            "started": None, "recalled": False, "marks": []}
            try:
                yield from serve(c, actor, rng, ticket)
            except QueueError:  # the day was closed under the citizen (as bench_day's failed requests)
                continue

    def serve(c, actor, rng, ticket):
        cs = cstate[c.id]
        if rng.random() < beh["no_show_share"]:
            if record is not None:
                record["realized"][ticket["id"]] = 120.0
            yield sleep(60)
            engine.recall(c.id, actor, expect=ticket["id"])
            cs["recalled"] = True
            yield sleep(60)
            engine.no_show(c.id, actor, expect=ticket["id"])
            return
        walk = rng.uniform(15, 45)
        yield sleep(walk)
        engine.start(c.id, actor, expect=ticket["id"])
        cs["started"] = clock.now
        first = intended.get(ticket["id"])
        done = procedures_done(cfg.services[ticket["service"]], first, by_code, beh, rng)
        if record is not None:
            record["realized"][ticket["id"]] = walk + sum(seconds for _, seconds in done)
        codes = [code for code, _ in done]
        for code, seconds in done:
            yield sleep(seconds)
            engine.mark_procedure(c.id, actor, code, expect=ticket["id"])
            cs["marks"].append(clock.now)
        engine.finish(c.id, actor, codes, expect=ticket["id"])

    def housekeeping():
        while clock.now < end_of_day + timedelta(minutes=100):
            engine.housekeeping()
            yield sleep(30)

    procs = [kiosk(s) for s in cfg.sites] + [counter(c) for s in cfg.sites.values() for c in s.counters]
    procs.append(housekeeping())
    run_processes(clock, procs)
    store.close()
    return db


# ---------------------------------------------------------------- the oracle-model floor
# How good can any estimate be with what is knowable at issue time? The oracle knows the true model of
# the day (each waiting citizen's procedure and its lognormal law, the hourly arrival rates, the no-show,
# walking and second-procedure behaviour, what each counter's citizen is doing and since when) but not
# the future: it simulates the rest of the day many times through the engine's calling order and reads
# the wait off the draws. The same replay with the realized future ("truth") must give back every
# actual wait: the check that it follows the lab's rules. `--blind`: the oracle does not know which
# procedure each citizen came for (the kiosk does not ask), only the service.
#
#     .venv/bin/python -m benchmarks.estimate_lab --seeds 24 --oracle 200 --jobs 2 [--blind]
#
# Measured on seeds 20261123–46 (mean of the daily medians, waits ≥ 5 min / estimates ≥ 5 min): the
# product 31.4 % / 28.4 %; the oracle's median 26.4 % / 25.3 %, its metric-optimal point 25.8 % / 25.7 %;
# blind, 27.4 % / 26.7 % and 26.9 % / 26.8 %. The 25 % target is at or below the floor of this workload.
#
# Since no point can be kept to 25 %, tickets print a range (center.queue.estimate.wait_range, level 70 %):
#     .venv/bin/python -m benchmarks.estimate_lab --calibrate 150   # seeds 20270001–150: the WAIT_RANGE table
#     .venv/bin/python -m benchmarks.estimate_lab --seeds 24        # seeds 20261123–46: how it does
# measured 2026-11-30: calibration days 71.8 % inside; evaluation days 74.6 % inside (65.2–83.0 % per day),
# 7.4 % below the range, 18.0 % above; median width 20 min over 2,791 ranged tickets; the 4,359 "dưới 5 phút"
# tickets waited under 5 min 93.3 % of the time (all 7,150 tickets: 86.0 %). Point error unchanged: 31.4 %.

def _capture(engine, site: str, ticket_id: int, now: datetime, cstate: dict) -> dict:
    """What is knowable when `ticket_id` is issued: the queue, each counter's phase and priority streak."""
    from center.queue.clock import from_iso

    s = engine.config.sites[site]
    day = engine.today(s, now)
    with engine.store.read() as conn:
        queue = [(r[0], r[1], r[2] is not None, (now - from_iso(r[3])).total_seconds()) for r in conn.execute(
            "SELECT id, service, priority, queue_at FROM tickets WHERE site = ? AND service_day = ? AND "
            "status = 'waiting' ORDER BY queue_at, id", (site, day))]
        streak = dict(conn.execute("SELECT counter_id, normal_since_priority FROM counter_state WHERE site = ?",
                                   (site,)).fetchall())
    counters = []
    for c in s.counters:
        cs = dict(cstate[c.id])
        cs["marks"] = list(cs.get("marks", []))
        counters.append((c.services, streak.get(c.id, 0), cs))
    return {"site": site, "id": ticket_id, "now": now, "queue": queue, "counters": counters}


class _Model:
    """The true generative model of the lab's day, as the oracle knows it."""

    def __init__(self, cfg, model: dict):
        self.cfg = cfg
        beh = model["behaviour"]
        self.no_show, self.second = beh["no_show_share"], beh["second_procedure_share"]
        self.priority = beh["priority_share"]
        self.laws = {p["code"]: _lognormal(p["mean_min"] * 60, p["cv"]) for p in model["procedure"]}
        self.procs = {s.code: [p.code for p in s.procedures] for s in cfg.services.values()}
        share = {p["code"]: p["share"] for p in model["procedure"]}
        self.share = {s: [share.get(p, 0.0) + 1e-9 for p in procs] for s, procs in self.procs.items()}
        self.blind = False  # True: the procedure each citizen came for is unknown (drawn from the service's mix)
        service_of = {p.code: s.code for s in cfg.services.values() for p in s.procedures}
        self.choices, self.segments = {}, {}
        for code, site in cfg.sites.items():
            procs = [p for p in model["procedure"] if service_of[p["code"]] in set(site.services)]
            self.choices[code] = ([(p["code"], service_of[p["code"]]) for p in procs], [p["share"] for p in procs])
            segs = []
            for hour, rate in model["arrivals_per_hour"][code].items():
                a = datetime.fromisoformat(f"{DAY}T{hour}:00:00+07:00")
                b = a.replace(minute=59, second=59)
                for lo, hi in (("07:30", "11:15"), ("13:30", "16:45")):  # issuing windows
                    wlo = datetime.fromisoformat(f"{DAY}T{lo}:00+07:00")
                    whi = datetime.fromisoformat(f"{DAY}T{hi}:00+07:00")
                    if max(a, wlo) < min(b, whi):
                        segs.append((max(a, wlo), min(b, whi), rate / 3600))
            self.segments[code] = sorted(segs)

    def cond(self, rng: random.Random, code: str, elapsed: float) -> float:
        """Time left of procedure `code` that has lasted `elapsed` seconds so far (T − e given T > e)."""
        mu, sigma = self.laws[code]
        if elapsed <= 0:
            return rng.lognormvariate(mu, sigma)
        done = _NORMAL.cdf((math.log(elapsed) - mu) / sigma)
        u = min(max(done + (1 - done) * rng.random(), 1e-12), 1 - 1e-12)
        return max(math.exp(mu + sigma * _NORMAL.inv_cdf(u)) - elapsed, 0.0)

    def procedures(self, rng: random.Random, service: str, first: str | None, elapsed: float = 0.0) -> float:
        procs = self.procs[service]
        if self.blind and len(procs) > 1:
            weights = self.share[service]
            if elapsed > 0:
                weights = [w * (1 - _NORMAL.cdf((math.log(elapsed) - self.laws[p][0]) / self.laws[p][1])) + 1e-12
                           for w, p in zip(weights, procs, strict=True)]
            first = rng.choices(procs, weights)[0]
        code = first if first in procs else procs[0]
        t = self.cond(rng, code, elapsed)
        if len(procs) > 1 and rng.random() < self.second:
            t += self.cond(rng, rng.choice([p for p in procs if p != code]), 0.0)
        return t

    def visit(self, rng: random.Random, service: str, first: str | None) -> float:
        """Call → the counter's next call, for a citizen not yet called."""
        if rng.random() < self.no_show:
            return 120.0
        return rng.uniform(15, 45) + self.procedures(rng, service, first)

    def busy(self, rng: random.Random, cs: dict, now: datetime, first: str | None) -> float:
        """Seconds until a busy counter calls again, drawn given what is visible of its citizen."""
        e = (now - cs["called"]).total_seconds()
        if cs["started"] is None:
            if cs["recalled"]:
                return max(120.0 - e, 0.0)
            walking = min(max((45 - e) / 30, 0.0), 1.0)
            p_absent = self.no_show / (self.no_show + (1 - self.no_show) * walking) if walking > 0 else 1.0
            if rng.random() < p_absent:
                return max(120.0 - e, 0.0)
            return rng.uniform(max(15.0, e), 45.0) - e + self.procedures(rng, cs["service"], first)
        if not cs["marks"]:
            return self.procedures(rng, cs["service"], first, (now - cs["started"]).total_seconds())
        e2 = (now - cs["marks"][-1]).total_seconds()  # a second procedure under way: which one, given e2
        procs = self.procs[cs["service"]]
        code1 = first if first in procs else procs[0]
        others = [p for p in procs if p != code1]
        weights = [1 - _NORMAL.cdf((math.log(max(e2, 1e-3)) - self.laws[p][0]) / self.laws[p][1]) + 1e-12
                   for p in others]
        return self.cond(rng, rng.choices(others, weights)[0], e2)

    def arrivals(self, rng: random.Random, site: str, now: datetime, horizon_s: float) -> list:
        out = []
        codes, weights = self.choices[site]
        n = 0
        for a, b, rate in self.segments[site]:
            t = max(a, now)
            if t >= b:
                continue
            t_rel, end = (t - now).total_seconds(), min((b - now).total_seconds(), horizon_s)
            while True:
                t_rel += rng.expovariate(rate)
                if t_rel > end:
                    break
                n += 1
                code, service = rng.choices(codes, weights)[0]
                out.append((t_rel, -n, service, rng.random() < self.priority, code))
        return out


def _replay_day(state: dict, free: list[float], arrivals: list, duration, aging_s: float, every: int,
                horizon_s: float) -> float:
    """When the lab's counters (polling every 20 s when idle) call `state['id']`, given the counters' next
    calls `free`, future arrivals (t, id, service, priority) and each citizen's call → next call time."""
    lines = _Lines([Waiting(i, sv, pr, None, waited_s=wt) for i, sv, pr, wt in state["queue"]])
    loads = [CounterLoad(services, "open", 0.0) for services, _, _ in state["counters"]]
    streak = [st for _, st, _ in state["counters"]]
    heap = [(f, k) for k, f in enumerate(free)]
    heapq.heapify(heap)
    mine, a = state["id"], 0
    while heap:
        t, k = heapq.heappop(heap)
        if t > horizon_s:
            return math.inf
        while a < len(arrivals) and arrivals[a][0] <= t:
            at, i, sv, pr = arrivals[a][:4]
            lines.add(Waiting(i, sv, pr, None, waited_s=-at))
            a += 1
        pick = lines.next_for(loads[k], k, streak[k] >= every, t, aging_s)
        if pick is None:
            heapq.heappush(heap, (t + 20.0, k))
            continue
        if pick.id == mine:
            return t
        streak[k] = 0 if pick.priority else streak[k] + 1
        heapq.heappush(heap, (t + duration(pick.id, pick.service), k))
    return math.inf


def _free_now(state: dict, cs: dict) -> float | None:
    if cs["busy"]:
        return None
    return max((cs["next_poll"] - state["now"]).total_seconds(), 0.0)


def oracle_draws(state: dict, model: _Model, intended: dict, rng: random.Random, n: int, aging_s: float,
                 every: int) -> list[float]:
    now = state["now"]
    close_s = (datetime.fromisoformat(f"{DAY}T17:00:30+07:00") - now).total_seconds()
    horizon = min(close_s, 4 * 3600.0)
    out = []
    for _ in range(n):
        free = []
        for _, _, cs in state["counters"]:
            f = _free_now(state, cs)
            free.append(f if f is not None else model.busy(rng, cs, now, intended.get(cs["ticket"])))
        arrivals = model.arrivals(rng, state["site"], now, horizon)
        codes = {i: code for _, i, _, _, code in arrivals}

        def duration(i, service, codes=codes):
            return model.visit(rng, service, codes[i] if i < 0 else intended.get(i))

        out.append(_replay_day(state, free, arrivals, duration, aging_s, every, horizon))
    out.sort()
    return out


def truth_wait(state: dict, realized: dict, issued: list, aging_s: float, every: int) -> float:
    """The replay with the realized future (must give back the actual wait)."""
    now = state["now"]
    free = []
    for _, _, cs in state["counters"]:
        f = _free_now(state, cs)
        free.append(f if f is not None else
                    (cs["called"] - now).total_seconds() + realized.get(cs["ticket"], 300.0))
    arrivals = [((t - now).total_seconds(), i, sv, pr) for t, i, sv, pr in issued
                if i > state["id"] and t >= now]
    close_s = (datetime.fromisoformat(f"{DAY}T17:00:30+07:00") - now).total_seconds()
    return _replay_day(state, free, arrivals, lambda i, sv: realized.get(i, 300.0), aging_s, every, close_s)


def metric_point(draws: list[float], floor_s: float = 0.0) -> float:
    """The estimate e maximizing the share of draws W with |e − W| ≤ 0.25·W, i.e. 0.8·e ≤ W ≤ 4/3·e (only
    draws ≥ floor_s counting)."""
    finite = [w for w in draws if w < math.inf]
    if not finite:
        return 0.0
    best, best_e = -1, finite[len(finite) // 2]
    for w in finite:
        if w <= 0:
            continue
        lo = max(w, floor_s)
        hi = w / 0.8 * (4 / 3)
        count = bisect.bisect_right(finite, hi) - bisect.bisect_left(finite, lo)
        if count > best:
            best, best_e = count, w / 0.8
    return best_e


def oracle_day(args: tuple) -> dict:
    """One day: the product's estimates, the truth replay and the oracle's, against the actual waits."""
    seed, n, blind = args
    from center.config.read import load_config

    record: dict = {}
    tmp = Path(tempfile.mkdtemp(prefix="xephang-oracle-"))
    db = simulate(seed, tmp, record)
    cfg = load_config(sim_config(tmp))
    model = _Model(cfg, workload())
    model.blind = blind
    rules = cfg.rules
    aging_s, every = rules.aging_min * 60, rules.interleave_every
    conn = sqlite3.connect(db)
    actual = {i: (w, e) for i, w, e in conn.execute(
        "SELECT id, wait_s, estimated_wait_s FROM tickets WHERE wait_s IS NOT NULL AND transferred_from IS NULL")}
    issued = {}
    for i, site, at, sv, pr in conn.execute("SELECT id, site, issued_at, service, priority FROM tickets "
                                            "WHERE transferred_from IS NULL ORDER BY id"):
        issued.setdefault(site, []).append((datetime.fromisoformat(at.replace("Z", "+00:00")), i, sv, pr is not None))
    conn.close()
    rng = random.Random(f"oracle-{seed}")
    out = []
    for state in record["states"]:
        if state["id"] not in actual:
            continue
        wait, product = actual[state["id"]]
        draws = oracle_draws(state, model, record["intended"], rng, n, aging_s, every)
        out.append({"wait": wait, "product": product,
                    "truth": truth_wait(state, record["realized"], issued[state["site"]], aging_s, every),
                    "median": draws[len(draws) // 2], "mean": statistics.mean(d for d in draws if d < math.inf),
                    "metric": metric_point(draws), "metric300": metric_point(draws, 300.0)})
    return {"seed": seed, "rows": out}


def errors(rows: list[dict], key: str) -> tuple[float, float, float]:
    """Median |e − w|/w over waits ≥ 5 min, over estimates ≥ 5 min (%), and median |e − w| over all (min)."""
    by_wait = [abs(r[key] - r["wait"]) / r["wait"] for r in rows if r["wait"] >= 300]
    by_est = [abs(r[key] - r["wait"]) / r["wait"] for r in rows if r[key] >= 300 and r["wait"] > 0]
    return (100 * statistics.median(by_wait), 100 * statistics.median(by_est) if by_est else math.nan,
            statistics.median(abs(r[key] - r["wait"]) / 60 for r in rows))


def oracle_main(seeds: list[int], n: int, jobs: int, blind: bool = False) -> None:
    import multiprocessing

    with multiprocessing.get_context("fork").Pool(jobs) as pool:
        days = pool.map(oracle_day, [(s, n, blind) for s in seeds])
    keys = ("product", "truth", "median", "mean", "metric", "metric300")
    for day in days:
        print(f"seed {day['seed']}: " + ", ".join(f"{k} {errors(day['rows'], k)[0]:.1f}" for k in keys))
    pooled = [r for d in days for r in d["rows"]]
    print(f"{len(seeds)} days, {n} draws per ticket; mean of daily medians (waits ≥ 5 min % / estimates ≥ 5 min %"
          " / all tickets min), then pooled:")
    for k in keys:
        per_day = [errors(d["rows"], k) for d in days]
        avg = [statistics.mean(e[j] for e in per_day) for j in range(3)]
        pool_e = errors(pooled, k)
        print(f"  {k:<10} {avg[0]:5.1f} % {avg[1]:5.1f} % {avg[2]:5.2f} min | pooled {pool_e[0]:5.1f} % "
              f"{pool_e[1]:5.1f} % {pool_e[2]:5.2f} min")
    exact = sum(abs(r["truth"] - r["wait"]) < 1 for r in pooled)
    print(f"truth replay gives back the actual wait (±1 s) for {exact} of {len(pooled)} tickets")


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


# ---------------------------------------------------------------- the printed range
# Estimate bands (minutes) the range's factors are fitted on; the fit keeps, per band, the narrowest
# [low × estimate, high × estimate] (rounded to 5 minutes, as printed) holding WAIT_RANGE_LEVEL of the waits.
RANGE_BANDS = (0, 1, 2, 3, 4, 5, 7, 10, 13, 16, 20, 25, 30, 40, 50, 60, 75, 90, 120)
CALIBRATION_FIRST = 20270001


def calibrate(pairs: list[tuple[float, float]], level: float = WAIT_RANGE_LEVEL) -> list[tuple[float, float, float]]:
    """The range table from (estimate s, actual wait s) pairs: per band, the factors (low on a 0.05 grid in
    0–2, high in 0.5–4) whose rounded ranges hold ≥ `level` of the band's waits with the least mean width.
    Adjacent bands with the same factors are merged."""
    table: list[tuple[float, float, float]] = []
    lows = [k / 20 for k in range(41)]
    highs = [k / 20 for k in range(10, 81)]
    for n, start in enumerate(RANGE_BANDS):
        end = RANGE_BANDS[n + 1] if n + 1 < len(RANGE_BANDS) else math.inf
        band = [(e, w) for e, w in pairs if start * 60 <= e < end * 60]
        best = (math.inf, 0.0, 0.5)
        for lo in lows:
            for hi in highs:  # for a given low factor the range only widens with the high one
                if hi <= lo or not band:
                    continue
                one = [(start, lo, hi)]
                ranges = [wait_range(e, one) for e, _ in band]
                held = sum(a <= w <= b for (a, b), (_, w) in zip(ranges, band, strict=True))
                if held >= level * len(band):
                    width = statistics.mean(b - a for a, b in ranges)
                    if width < best[0] - 1e-9:
                        best = (width, lo, hi)
                    break
        if not table or table[-1][1:] != best[1:]:
            table.append((start, best[1], best[2]))
    return table


def range_figures(days: dict[int, list[sqlite3.Row]], table=WAIT_RANGE) -> dict:
    """Coverage of the printed range per day and overall, its median width, the share below it. The
    shortest range ("dưới 5 phút") is counted apart: it is a bound, it holds nearly every wait of a
    citizen who finds a free counter, and mixed in it would hide how a real range does."""
    per_day, ranged, floor = [], [], []
    bands: dict[str, list[bool]] = {}
    for rs in days.values():
        got = []
        for r in rs:
            lo, hi = wait_range(r["est"], table)
            item = (lo <= r["wait"] <= hi, (hi - lo) / 60, r["wait"] < lo)
            (floor if (lo, hi) == (0, WAIT_RANGE_STEP_S) else got).append(item)
            if (lo, hi) != (0, WAIT_RANGE_STEP_S):
                band = next(f"{a}–{b} min" for a, b in ((0, 10), (10, 20), (20, 40), (40, 60), (60, "∞"))
                            if b == "∞" or r["est"] < b * 60)
                bands.setdefault(band, []).append(item[0])
        ranged.extend(got)
        if got:
            per_day.append(100 * statistics.mean(x[0] for x in got))
    everything = ranged + floor
    return {
        "range_level_pct": round(100 * WAIT_RANGE_LEVEL),
        "range_coverage_pct": round(100 * statistics.mean(x[0] for x in ranged), 1),
        "range_coverage_per_day_pct": f"{min(per_day):.1f}–{max(per_day):.1f}",
        "range_below_pct": round(100 * statistics.mean(x[2] for x in ranged), 1),
        "range_median_width_min": statistics.median(x[1] for x in ranged),
        "range_tickets": len(ranged),
        "under_5_min_tickets": len(floor),
        "under_5_min_held_pct": round(100 * statistics.mean(x[0] for x in floor), 1) if floor else None,
        "all_tickets_coverage_pct": round(100 * statistics.mean(x[0] for x in everything), 1),
        "coverage_by_estimate": {band: f"{100 * statistics.mean(v):.1f} % of {len(v)}" for band, v in bands.items()},
    }


def _hour(r) -> str:
    return datetime.fromisoformat(r["issued_at"].replace("Z", "+00:00")).astimezone(START.tzinfo).strftime("%H")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=6)
    ap.add_argument("--first", type=int, default=20261123)
    ap.add_argument("--detail", action="store_true")
    ap.add_argument("--oracle", type=int, default=0, help="the oracle-model floor with this many draws per ticket")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--blind", action="store_true", help="the oracle does not know each citizen's procedure")
    ap.add_argument("--calibrate", type=int, default=0,
                    help=f"derive the range's factors from this many days from seed {CALIBRATION_FIRST}")
    args = ap.parse_args()
    if args.calibrate:
        pairs = []
        for k in range(args.calibrate):
            db = simulate(CALIBRATION_FIRST + k)
            pairs.extend((r["est"], r["wait"]) for r in rows(db))
            shutil.rmtree(db.parent, ignore_errors=True)
        table = calibrate(pairs)
        print(f"{len(pairs)} tickets over {args.calibrate} days; WAIT_RANGE = (")
        print("    " + ", ".join(f"({a:g}, {lo:g}, {hi:g})" for a, lo, hi in table) + ",\n)")
        return
    if args.oracle:
        oracle_main([args.first + k for k in range(args.seeds)], args.oracle, args.jobs, args.blind)
        return
    pooled = []
    per_seed = []
    days = {}
    for k in range(args.seeds):
        seed = args.first + k
        db = simulate(seed)
        conn = sqlite3.connect(db)
        figures = estimate_errors(conn)
        conn.close()
        per_seed.append(figures["estimate_median_abs_error_pct_waits_over_5_min"])
        print(f"seed {seed}: {figures}")
        days[seed] = rows(db)
        pooled.extend(days[seed])
    print(f"per seed median |err| (waits > 5 min): {per_seed}; mean {statistics.mean(per_seed):.1f} %")
    long = [r for r in pooled if r["wait"] >= 300]
    print(f"pooled: {100 * statistics.median(abs(r['est'] - r['wait']) / r['wait'] for r in long):.1f} % "
          f"over {len(long)} tickets; all tickets median |err| "
          f"{statistics.median(abs(r['est'] - r['wait']) / 60 for r in pooled):.2f} min")
    print(f"printed range: {range_figures(days)}")
    if args.detail:
        breakdown(pooled)


if __name__ == "__main__":
    main()
