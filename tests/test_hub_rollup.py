"""Issue 16: a report over more than a month at the hub reads roll-ups (center/hub/rollup.py), and its figures
are the center's own long-range report's; they never depend on whether the months were rolled up yet."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from pathlib import Path

import psycopg
import pytest

from center import history
from center import reports as center_reports
from center.config.read import load_config
from center.hub import ingest, reports, rollup, rollup_read
from center.hub.app import _store_labels
from center.hub.config import load_hub_config
from center.reports.percentiles import bucket_error_s
from center.storage import outbox
from center.storage.store import Store
from center.sync import labels
from tests.conftest import DEMO_CONFIG
from tests.hub_support import hub_cli, hub_config
from tests.pg_support import pg, pg_db  # noqa: F401 - fixtures

D0, D1 = "2026-08-22", "2026-10-05"  # the end of August, all of September, the start of October
FIGURES = ("issued", "served", "no_show", "wait_mean_s", "wait_median_s", "wait_p90_s", "service_level",
           "satisfied_share")
TODAY = date(2026, 12, 1)  # the history's months are over


@pytest.fixture(scope="module")
def world(tmp_path_factory, pg_db):  # noqa: F811
    """The demo center's generated history (Aug 20 – Oct 6) pushed to a hub in batches, as its link would."""
    tmp = tmp_path_factory.mktemp("hub-rollup")
    cfg = load_hub_config(hub_config(tmp, pg_db))
    config = load_config(DEMO_CONFIG)
    store = Store(tmp / "center.sqlite3")
    with store.write() as conn:
        outbox.link(conn, "hoabinh", None)
    history.generate(store, config, days=48, end=date(2026, 10, 6), seed=16, progress=False)
    with psycopg.connect(pg_db, autocommit=True) as conn:
        ingest.ensure_schema(conn)
        _push(conn, cfg, store, config)
    return cfg, store, config, pg_db


def _push(conn, cfg, store: Store, config, after: int = 0) -> int:
    now = datetime.now(UTC)
    _store_labels(conn, "hoabinh", labels.build(config), now)
    while True:
        with store.connection() as c:
            batch = outbox.collect(c, "hoabinh", after, 250)
        if not batch.records():
            return after
        ingest.receive(conn, cfg, cfg.center("hoabinh"), batch, size=0, now=now, clock_offset_s=None)
        after = batch.to


def _hub(dsn: str, cfg, **filters) -> dict:
    f = reports.HubFilters(**{"date_from": D0, "date_to": D1, **filters})
    with psycopg.connect(dsn, autocommit=True) as conn:
        return reports.report(conn, cfg, [cfg.center("hoabinh")], f)


def _own(store: Store, config, d0: str = D0, **filters) -> dict:
    center_reports.ensure_rollups(store, config, d0, D1)
    with store.read() as conn:
        return center_reports.report(conn, config, center_reports.Filters(d0, D1, **filters))


def _refresh(dsn: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return rollup.refresh(conn, TODAY)


def _same(hub_row: dict, own_row: dict, what) -> None:
    for k in FIGURES:
        if k in own_row:
            assert hub_row[k] == own_row[k], (what, k, hub_row[k], own_row[k])


def test_the_months_are_rolled_up_once_each_and_then_clean(world):
    cfg, _, _, dsn = world
    assert _refresh(dsn) == 3  # August, September, October
    assert _refresh(dsn) == 0
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT count(*) FROM hub_rollup_months WHERE dirty").fetchone()[0] == 0
        grains = dict(conn.execute("SELECT grain, count(*) FROM hub_rollup GROUP BY 1").fetchall())
    assert grains["m"] > 0 and grains["d"] > 0


@pytest.mark.parametrize("group", ["service", "hour", "day"])
def test_long_range_figures_at_the_hub_equal_the_centers_own(world, group):
    cfg, store, config, dsn = world
    _refresh(dsn)
    hub_rep = _hub(dsn, cfg, group=group)
    own = _own(store, config, group=group)
    assert own["source"] == "rollup" and own["summary"]["issued"] > 1000
    _same(hub_rep["summary"], own["summary"], "summary")
    ours = {str(r["key"]): r for r in hub_rep["rows"]}
    theirs = {str(r["key"]): r for r in own["rows"]}
    assert set(ours) == set(theirs)
    for k, row in theirs.items():
        _same(ours[k], row, (group, k))


@pytest.mark.parametrize("filters", [{"service": "HT"}, {"site": "branch"}, {"site": "main", "service": "CT"}])
def test_filtered_long_range_figures_equal_the_centers_own(world, filters):
    """A site, a service, or both: other roll-up sets, and hub_daily for the days the day rows do not hold."""
    cfg, store, config, dsn = world
    _refresh(dsn)
    for group in ("hour", "service"):
        hub_rep = _hub(dsn, cfg, group=group, **filters)
        own = _own(store, config, group=group, **filters)
        assert own["summary"]["issued"] > 50
        _same(hub_rep["summary"], own["summary"], (filters, "summary"))
        theirs = {str(r["key"]): r for r in own["rows"]}
        assert {str(r["key"]) for r in hub_rep["rows"]} == set(theirs)
        for r in hub_rep["rows"]:
            _same(r, theirs[str(r["key"])], (filters, group, r["key"]))


def test_procedures_over_a_long_range_equal_the_centers_own(world):
    cfg, store, config, dsn = world
    _refresh(dsn)
    procs = {r["key"]: r for r in _hub(dsn, cfg, group="procedure")["rows"]}
    own = {p["key"]: p for p in _own(store, config, group="service")["procedures"]}
    assert set(procs) == set(own) and len(own) > 5
    for k, p in own.items():
        assert procs[k]["proc_n"] == p["n"], k
        for ours, theirs in (("proc_mean_s", "service_mean_s"), ("proc_median_s", "service_median_s"),
                             ("proc_p90_s", "service_p90_s")):
            assert procs[k][ours] == p[theirs], (k, ours)


def test_the_rolled_up_path_is_within_a_bucket_of_the_exact_one(world, monkeypatch):
    cfg, _, _, dsn = world
    _refresh(dsn)
    long = _hub(dsn, cfg, group="service")
    monkeypatch.setattr(rollup_read, "LONG_DAYS", 10**6)  # the exact path (≤ 31 days) over the same range
    exact = _hub(dsn, cfg, group="service")
    for a, b in ((long["summary"], exact["summary"]), *zip(long["rows"], exact["rows"], strict=True)):
        for k in ("issued", "served", "no_show", "wait_mean_s", "service_level", "satisfied_share"):
            assert a[k] == b[k], k
        for k in ("wait_median_s", "wait_p90_s"):
            assert abs(a[k] - b[k]) <= bucket_error_s(b[k]), (k, a[k], b[k])


def test_a_late_batch_into_a_rolled_up_month_counts_at_once(world):
    """A mobile team's day of August arrives in December: the month is dirty, its days are read instead, and
    the next refresh rolls it up again with the same figures."""
    cfg, store, config, dsn = world
    _refresh(dsn)
    whole = {"date_from": "2026-08-01"}  # August wholly inside the range: its month rows are read
    before = _hub(dsn, cfg, group="service", **whole)["summary"]
    with store.read() as conn:
        mark = conn.execute("SELECT max(seq) FROM sync_outbox").fetchone()[0]
    history.generate(store, config, days=1, end=date(2026, 8, 10), seed=99, progress=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        _push(conn, cfg, store, config, after=mark)
        assert conn.execute("SELECT dirty FROM hub_rollup_months WHERE month = '2026-08-01'").fetchone()[0]
    dirty = _hub(dsn, cfg, group="service", **whole)
    assert dirty["summary"]["issued"] > before["issued"]
    own = _own(store, config, group="service", d0="2026-08-01")
    _same(dirty["summary"], own["summary"], "dirty month")
    assert _refresh(dsn) == 1
    assert _hub(dsn, cfg, group="service", **whole) == dirty


def test_a_hub_made_before_the_histograms_rebuilds_its_summaries(world, tmp_path):
    """An older hub_daily (no histogram columns): at start its months are marked stale, the refresh rebuilds
    them from the tickets, and the figures are the same as before."""
    cfg, _, _, dsn = world
    _refresh(dsn)
    before = _hub(dsn, cfg, group="hour")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("ALTER TABLE hub_daily DROP COLUMN sl_total, DROP COLUMN wait_max, DROP COLUMN h3")
        conn.execute("DELETE FROM hub_rollup")
        ingest.ensure_schema(conn)
        assert conn.execute("SELECT count(*) FROM hub_rollup_months WHERE stale").fetchone()[0] == 3
    assert _refresh(dsn) == 3
    assert _hub(dsn, cfg, group="hour") == before


def test_the_hub_rolls_up_by_itself(world, tmp_path):
    """The server's own refresher thread (every XEPHANG_HUB_ROLLUP_S seconds) cleans dirty months."""
    cfg, _, _, dsn = world
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("UPDATE hub_rollup_months SET dirty = true")
    r = rollup.Refresher(lambda: psycopg.connect(dsn, autocommit=True), lambda: TODAY, every_s=0.05).start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with psycopg.connect(dsn) as conn:
                if not conn.execute("SELECT count(*) FROM hub_rollup_months WHERE dirty").fetchone()[0]:
                    break
            time.sleep(0.1)
        else:
            pytest.fail("the refresher did not roll the months up")
    finally:
        r.stopped.set()


def test_hub_refresh_rolls_up_at_once_from_the_command_line(world):
    cfg, _, _, dsn = world
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("UPDATE hub_rollup_months SET dirty = true")
    out = hub_cli(Path(cfg.source_path), "refresh")
    assert "3 month(s) rolled up" in out
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT count(*) FROM hub_rollup_months WHERE dirty").fetchone()[0] == 0


def test_booking_figures_over_a_long_range_count_every_booking_once(world):
    """The centers' bookings (made, kept, cancelled, no-show, late) over a long range come from the roll-ups:
    the same counts as the bookings themselves, before and after the months are rolled up again."""
    cfg, store, config, dsn = world
    _refresh(dsn)
    with store.read() as conn:
        mark = conn.execute("SELECT max(seq) FROM sync_outbox").fetchone()[0]
    statuses = ["checked_in"] * 5 + ["cancelled"] * 2 + ["no_show", "booked"]
    with store.write() as conn:
        for i in range(27):  # across August's end, all September and October's start
            day = (date(2026, 8, 23 + i * 2) if i < 5 else date(2026, 9, 1 + (i - 5)) if i < 25
                   else date(2026, 10, i - 22))
            conn.execute("INSERT INTO bookings (code, site, service, service_day, slot_at, slot_min, origin, status, "
                         "late, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 15, 'desk', ?, ?, ?, ?)",
                         (f"BK{i:04d}", "main" if i % 3 else "branch", "HT" if i % 2 else "CT", day.isoformat(),
                          f"{day}T02:00:00Z", statuses[i % 9], int(i % 9 == 0), f"{day}T01:00:00Z",
                          f"{day}T03:00:00Z"))
    with psycopg.connect(dsn, autocommit=True) as conn:
        _push(conn, cfg, store, config, after=mark)
        expected = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE status = 'checked_in'), count(*) FILTER (WHERE status = "
            "'cancelled'), count(*) FILTER (WHERE status = 'no_show'), count(*) FILTER (WHERE late = 1) FROM bookings "
            "WHERE service_day BETWEEN %s AND %s", (D0, D1)).fetchone()
    assert expected == (27, 15, 6, 3, 3)

    def got() -> tuple:
        b = _hub(dsn, cfg)["bookings"]["summary"]
        return b["made"], b["kept"], b["cancelled"], b["no_show"], b["late"]

    assert got() == expected  # September dirty: its days
    assert _refresh(dsn) >= 1
    assert got() == expected  # September rolled up again: its month row
    one = _hub(dsn, cfg, service="HT")["bookings"]["summary"]
    assert one["made"] == 13
