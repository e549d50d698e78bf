"""Reports on generated history: a one-site yearly report, and a province-size yearly report.

Generates one year for the demo center (two sites, ~80,000 tickets) with `center.history`, then times
`center.statistics.report` for site "main" over the whole year for each grouping (median of 5 runs),
the staffing advice, and the same report through the HTTP API of a real server. The province part
generates XEPHANG_BENCH_PROVINCE sites (default 10, ~1 million tickets; the issue's province is 100
sites, ~10 million, about 30 minutes to generate) and times the all-sites yearly report.
"""

from __future__ import annotations

import os
import statistics as pystats
import tempfile
import time
from datetime import date
from pathlib import Path

from .common import CONFIG

GROUPS = ("none", "service", "counter", "staff", "hour", "weekday", "day", "procedure")
END = date(2026, 11, 20)
START = date(2025, 11, 21)


def _time(fn, runs: int = 5) -> float:
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    return round(pystats.median(samples), 1)


def run() -> dict:
    import shutil

    tmp = Path(tempfile.mkdtemp(prefix="xephang-bench-reports-"))
    try:
        return _run(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # the province database is over a gigabyte


def _run(tmp: Path) -> dict:
    from center import history
    from center import statistics as st
    from center.config import load_config
    from center.store import Store

    config = load_config(CONFIG)
    out: dict = {}
    db = tmp / "year.sqlite3"
    t = time.perf_counter()
    history.main(["--db", str(db), "--config", str(CONFIG), "--days", "365", "--end", END.isoformat(), "--quiet"])
    out["demo_generate_s"] = round(time.perf_counter() - t, 1)
    store = Store(db)
    with store.read() as conn:
        out["demo_tickets"] = conn.execute("SELECT count(*) FROM tickets").fetchone()[0]
        out["main_site_tickets"] = conn.execute("SELECT count(*) FROM tickets WHERE site = 'main'").fetchone()[0]
        one_site = {}
        for g in GROUPS:
            f = st.Filters(START.isoformat(), END.isoformat(), site="main", group=g)
            one_site[f"group={g} (ms)"] = _time(lambda f=f: st.report(conn, config, f))
        out["one-site yearly report, median of 5 (target ≤ 300 ms)"] = one_site
        f = st.Filters(START.isoformat(), END.isoformat(), site="main")
        out["staffing_advice_year_ms"] = _time(lambda: st.staffing(conn, config, f))
        f = st.Filters(START.isoformat(), END.isoformat(), group="site")
        out["both_sites_yearly_report_ms"] = _time(lambda: st.report(conn, config, f))
    store.close()
    out["http_one_site_yearly_report_ms"] = _http(db)

    sites = int(os.environ.get("XEPHANG_BENCH_PROVINCE", "10"))
    if sites > 0:
        pdb = tmp / "province.sqlite3"
        t = time.perf_counter()
        history.main(["--db", str(pdb), "--config", str(CONFIG), "--days", "365", "--end", END.isoformat(),
                      "--province", str(sites), "--quiet"])
        province = {"sites": sites, "generate_s": round(time.perf_counter() - t, 1)}
        store = Store(pdb)
        with store.read() as conn:
            province["tickets"] = conn.execute("SELECT count(*) FROM tickets").fetchone()[0]
            f = st.Filters(START.isoformat(), END.isoformat(), group="site")
            province["all-sites yearly report by site (ms)"] = _time(lambda: st.report(conn, config, f), runs=3)
            f = st.Filters(START.isoformat(), END.isoformat(), site="p001", group="service")
            province["one site of the province, yearly (ms)"] = _time(lambda: st.report(conn, config, f))
        store.close()
        out["province (target ≤ 3 s for 100 sites)"] = province
    return out


def _http(db: Path) -> float:
    """The JSON report through a real server process, as the report page's numbers are fetched."""
    import subprocess
    import sys

    import requests

    from center.auth import Accounts
    from center.store import Store

    from .common import ROOT, free_port

    store = Store(db)
    accounts = Accounts(store)
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
        requests.get(url + q, headers=h, timeout=60).raise_for_status()
        return _time(lambda: requests.get(url + q, headers=h, timeout=60).raise_for_status())
    finally:
        import signal

        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(15)


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2, ensure_ascii=False))
