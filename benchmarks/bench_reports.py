"""Reports on generated history: a one-site yearly report, and a province-size yearly report.

Databases are generated once with `center.history` and cached under var/bench/ (with a .json of how long
generating and rolling up took), so reruns only time the reports:
- demo-year.sqlite3: one year of the demo center (two sites, ~80,000 tickets);
- province-N.sqlite3: one year of N synthetic sites (N = XEPHANG_BENCH_PROVINCE, default 20, ~100,000
  tickets a site; the issue's province is 100 sites, ~10 million tickets).
Each report is timed through `center.reports.report` (median of a few runs) after the daily and monthly
roll-ups are built (`ensure_rollups`, timed when it built something), plus the raw path for comparison and
the HTTP API of a real server.
"""

from __future__ import annotations

import json
import os
import statistics as pystats
import time
from datetime import date, timedelta
from pathlib import Path

from .common import CONFIG, ROOT

GROUPS = ("none", "service", "counter", "staff", "hour", "weekday", "day", "procedure")
END = date(2026, 11, 20)
START = date(2025, 11, 21)
TODAY = (END + timedelta(days=1)).isoformat()  # the whole year is closed days
CACHE = ROOT / "var" / "bench"


def _time(fn, runs: int = 5) -> float:
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    return round(pystats.median(samples), 1)


def _database(name: str, extra: list[str]) -> tuple[Path, dict]:
    """The cached database (generated and rolled up on first use) and what that took."""
    from center import history
    from center import reports as st
    from center.config.read import load_config
    from center.storage.store import Store

    CACHE.mkdir(parents=True, exist_ok=True)
    db, meta_path = CACHE / f"{name}.sqlite3", CACHE / f"{name}.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() and db.exists() else {}
    if "generate_s" not in meta:
        for p in CACHE.glob(f"{name}.sqlite3*"):
            p.unlink()
        t = time.perf_counter()
        history.main(["--db", str(db), "--config", str(CONFIG), "--days", "365", "--end", END.isoformat(), "--quiet",
                      *extra])
        meta = {"generate_s": round(time.perf_counter() - t, 1)}
        meta_path.write_text(json.dumps(meta))
    # Roll-ups built on first use, and rebuilt when their format changed since (a check only, when fresh).
    store = Store(db)
    built = st.ensure_rollups(store, load_config(CONFIG), START.isoformat(), END.isoformat(), today=TODAY)
    store.close()
    if built["built"] or "rollup_build_s" not in meta:
        meta.update(rollup_build_s=built["seconds"], rollup_site_days=built["built"])
        meta_path.write_text(json.dumps(meta))
    meta["db_mb"] = round(sum(p.stat().st_size for p in CACHE.glob(f"{name}.sqlite3*")) / 1e6, 1)
    return db, meta


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg()) + f" (load average 1/5/15 min, {os.cpu_count()} cores)"
    except OSError:
        return "unknown"


def run() -> dict:
    from center import reports as st
    from center.config.read import load_config
    from center.storage.store import Store

    config = load_config(CONFIG)
    out: dict = {"machine_load_at_start": _load()}
    db, meta = _database("demo-year", [])
    out["demo"] = meta
    store = Store(db)
    with store.read() as conn:
        meta["tickets"] = conn.execute("SELECT count(*) FROM tickets").fetchone()[0]
        meta["main_site_tickets"] = conn.execute("SELECT count(*) FROM tickets WHERE site = 'main'").fetchone()[0]
        one_site = {}
        for g in GROUPS:
            f = st.Filters(START.isoformat(), END.isoformat(), site="main", group=g)
            one_site[f"group={g} (ms)"] = _time(lambda f=f: st.report(conn, config, f, today=TODAY))
        out["one-site yearly report from roll-ups, median of 5 (target ≤ 300 ms)"] = one_site
        f = st.Filters(START.isoformat(), END.isoformat(), site="main", group="service")
        out["same, raw path (no roll-ups), group=service (ms)"] = _time(
            lambda: st.report(conn, config, f, today=TODAY, rollups=False), runs=3)
        f = st.Filters(START.isoformat(), END.isoformat(), site="main")
        out["staffing_advice_year_ms"] = _time(lambda: st.staffing(conn, config, f))
        f = st.Filters(START.isoformat(), END.isoformat(), group="site")
        out["both_sites_yearly_report_ms"] = _time(lambda: st.report(conn, config, f, today=TODAY))
    store.close()
    out["http_one_site_yearly_report_ms"] = _http(db)

    sites = int(os.environ.get("XEPHANG_BENCH_PROVINCE", "20"))
    if sites > 0:
        pdb, province = _database(f"province-{sites}", ["--province", str(sites)])
        province["sites"] = sites
        store = Store(pdb)
        with store.read() as conn:
            province["tickets"] = conn.execute("SELECT count(*) FROM tickets").fetchone()[0]
            for g in ("site", *GROUPS):
                f = st.Filters(START.isoformat(), END.isoformat(), group=g)
                province[f"all-sites yearly report group={g} (ms)"] = _time(
                    lambda f=f: st.report(conn, config, f, today=TODAY), runs=3)
            for g in ("service", "hour"):
                f = st.Filters(START.isoformat(), END.isoformat(), site="p001", group=g)
                province[f"one site of the province, yearly, group={g} (ms)"] = _time(
                    lambda f=f: st.report(conn, config, f, today=TODAY))
            for g in ("site", *GROUPS):
                f = st.Filters(START.isoformat(), END.isoformat(), service="HT", group=g)
                province[f"all-sites yearly report, one service, group={g} (ms)"] = _time(
                    lambda f=f: st.report(conn, config, f, today=TODAY), runs=3)
            # a counter's or staff member's report reads the roll-ups of its one site (found in config.toml, the
            # counters table, or the roll-ups: the generated province's counters are only in the latter)
            for label, kw in (("one counter, no site given", {"counter": "p001-2"}),
                              ("one staff member, no site given", {"staff": "cb-p001-2"}),
                              ("one site and one service", {"site": "p001", "service": "HT"})):
                for g in ("none", "hour", "day"):
                    f = st.Filters(START.isoformat(), END.isoformat(), group=g, **kw)
                    province[f"all-sites yearly report, {label}, group={g} (ms)"] = _time(
                        lambda f=f: st.report(conn, config, f, today=TODAY), runs=3)
        store.close()
        out[f"province of {sites} sites (target ≤ 3 s for 100 sites)"] = province
    out["machine_load_at_end"] = _load()
    return out


def _http(db: Path) -> float:
    """The JSON report through a real server process, as the report page's numbers are fetched."""
    import subprocess
    import sys

    import requests

    from center.storage.store import Store
    from center.web.auth import Accounts

    from .common import free_port

    store = Store(db)
    accounts = Accounts(store)
    with store.read() as conn:
        exists = conn.execute("SELECT 1 FROM users WHERE username = 'bench-manager'").fetchone()
    if not exists:
        accounts.add_user("bench-manager", "manager", "bench-password-123")
    token = accounts.create_token(user="bench-manager")
    store.close()
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "center", "--db", str(db), "serve", "--config", str(CONFIG),
                             "--host", "127.0.0.1", "--port", str(port)], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(url + "/api/health", timeout=1).ok:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        h = {"Authorization": f"Bearer {token}"}
        q = f"/manager/api/report?site=main&from={START}&to={END}&group=service"
        requests.get(url + q, headers=h, timeout=120).raise_for_status()
        return _time(lambda: requests.get(url + q, headers=h, timeout=60).raise_for_status())
    finally:
        import signal

        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(15)


if __name__ == "__main__":
    print(json.dumps(run(), indent=2, ensure_ascii=False))
