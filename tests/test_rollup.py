"""Daily roll-ups: the report read from them equals the raw report (counts, sums, means exactly; medians
and p90 within one histogram bucket), today stays raw, and late edits of a rolled-up day are noticed."""

from __future__ import annotations

import copy
import random

import pytest

from center import history, reports
from center.config.read import load_config
from center.reports import percentiles, rollup_build, rollup_plan
from center.storage.store import Store
from tests.conftest import DEMO_CONFIG
from tests.manager_support import DAY, build_fixed_day

PCT = ("wait_median_s", "wait_p90_s", "service_median_s", "service_p90_s")
NEXT_DAY = "2026-11-24"


def _rows(rep):
    return [rep["summary"], *rep["rows"], *rep["procedures"]]


def _without_percentiles(rep):
    rep = copy.deepcopy(rep)
    for key in ("generated_at", "source"):
        rep.pop(key, None)
    for row in _rows(rep):
        for k in PCT:
            row.pop(k, None)
    return rep


def assert_same_report(fast, slow):
    assert fast["source"] == "rollup" and "source" not in slow
    assert _without_percentiles(fast) == _without_percentiles(slow)
    for a, b in zip(_rows(fast), _rows(slow), strict=True):
        for k in PCT:
            if k not in b:
                continue
            if b[k] is None:
                assert a[k] is None
                continue
            bound = reports.bucket_error_s(max(a[k], b[k])) + 0.1  # 0.1: both are rounded to 0.1 s
            assert abs(a[k] - b[k]) <= bound, (k, a, b)


def both(store, config, f, today):
    with store.read() as conn:
        fast = reports.report(conn, config, f, today=today, rollups=True)
        slow = reports.report(conn, config, f, today=today, rollups=False)
    return fast, slow


@pytest.mark.parametrize("group", reports.GROUPS)
def test_fixed_day_from_rollups_equals_raw(engine, clock, group):
    build_fixed_day(engine, clock)
    built = reports.ensure_rollups(engine.store, engine.config, DAY, DAY, today=NEXT_DAY)
    assert built["missing"] >= 1
    fast, slow = both(engine.store, engine.config, reports.Filters(DAY, DAY, group=group), NEXT_DAY)
    assert_same_report(fast, slow)
    assert fast["summary"]["issued"] == 6 and fast["summary"]["wait_mean_s"] == 1284.0


def test_fixed_day_filters_by_site_service_counter_staff(engine, clock):
    build_fixed_day(engine, clock)
    reports.ensure_rollups(engine.store, engine.config, DAY, DAY, today=NEXT_DAY)
    for filters in ({"site": "main"}, {"service": "HT"}, {"counter": "main-1"}, {"staff": "staff2", "group": "hour"},
                    {"site": "branch"}):
        assert_same_report(*both(engine.store, engine.config, reports.Filters(DAY, DAY, **filters), NEXT_DAY))


def test_today_is_never_rolled_up(engine, clock):
    build_fixed_day(engine, clock)
    reports.ensure_rollups(engine.store, engine.config, DAY, DAY, today=DAY)
    with engine.store.read() as conn:
        assert conn.execute("SELECT count(*) FROM rollup_days").fetchone()[0] == 0
        rep = reports.report(conn, engine.config, reports.Filters(DAY, DAY), today=DAY, rollups=True)
    assert "source" not in rep and rep["summary"]["issued"] == 6  # nothing rolled up: the raw path


@pytest.fixture(scope="module")
def hist_db(tmp_path_factory):
    path = tmp_path_factory.mktemp("rollup") / "h.sqlite3"
    assert history.main(["--db", str(path), "--config", str(DEMO_CONFIG), "--days", "5", "--end", "2026-11-20",
                         "--quiet", "--seed", "3"]) == 0
    config = load_config(DEMO_CONFIG)
    store = Store(path)
    reports.ensure_rollups(store, config, "2026-11-16", "2026-11-20", today="2026-11-20")
    yield store, config
    store.close()


@pytest.mark.parametrize("group", reports.GROUPS)
@pytest.mark.parametrize("filters", [{}, {"site": "main"}, {"site": "main", "counter": "main-2"}])
def test_generated_history_rollups_plus_raw_today_equal_raw(hist_db, group, filters):
    store, config = hist_db
    # 2026-11-20 is "today": read raw; the four days before come from the roll-ups
    fast, slow = both(store, config, reports.Filters("2026-11-16", "2026-11-20", group=group, **filters), "2026-11-20")
    assert_same_report(fast, slow)
    assert fast["summary"]["issued"] > 100 and fast["summary"]["wait_median_s"] is not None


def test_a_late_edit_of_a_rolled_up_day_is_rebuilt(tmp_path):
    path = tmp_path / "h.sqlite3"
    history.main(["--db", str(path), "--config", str(DEMO_CONFIG), "--days", "2", "--end", "2026-11-19",
                  "--site", "main", "--quiet"])
    config = load_config(DEMO_CONFIG)
    store = Store(path)
    today = "2026-11-20"
    with store.read() as conn:
        sites = rollup_build._all_sites(conn, config)
    assert reports.ensure_rollups(store, config, "2026-11-18", "2026-11-19", today=today)["missing"] == len(sites) * 2
    f = reports.Filters("2026-11-18", "2026-11-19")
    with store.write() as conn:  # a served ticket of a closed day turned into a no-show, with its event
        tid = conn.execute("SELECT id FROM tickets WHERE status = 'served' AND service_day = '2026-11-18' "
                           "LIMIT 1").fetchone()[0]
        conn.execute("UPDATE tickets SET status = 'no_show', service_s = NULL WHERE id = ?", (tid,))
        conn.execute("INSERT INTO ticket_events (ticket_id, at, kind, site) VALUES (?, '2026-11-20T01:00:00.000Z', "
                     "'no_show', 'main')", (tid,))
    with store.read() as conn:
        assert not reports.rollups_ready(conn, config, "2026-11-18", "2026-11-19")
        stale = reports.report(conn, config, f, today=today, rollups=True)
    assert "source" not in stale  # a stale roll-up is never read
    assert reports.ensure_rollups(store, config, "2026-11-18", "2026-11-19", today=today)["changed"] == 1
    fast, slow = both(store, config, f, today)
    assert_same_report(fast, slow)
    assert fast["summary"]["no_show"] == stale["summary"]["no_show"]
    store.close()


def test_verify_finds_an_edit_without_an_event(tmp_path):
    path = tmp_path / "h.sqlite3"
    history.main(["--db", str(path), "--config", str(DEMO_CONFIG), "--days", "1", "--end", "2026-11-19",
                  "--site", "main", "--quiet"])
    config = load_config(DEMO_CONFIG)
    store = Store(path)
    reports.ensure_rollups(store, config, "2026-11-19", "2026-11-19", today="2026-11-20")
    with store.write() as conn:
        conn.execute("DELETE FROM ratings WHERE ticket_id = (SELECT min(ticket_id) FROM ratings)")
    assert reports.verify_rollups(store, config, "2026-11-19", "2026-11-19") == [("main", "2026-11-19")]
    assert reports.verify_rollups(store, config, "2026-11-19", "2026-11-19") == []
    assert_same_report(*both(store, config, reports.Filters("2026-11-19", "2026-11-19"), "2026-11-20"))
    store.close()


def test_histogram_percentiles_stay_within_a_bucket_of_the_exact_ones():
    rng = random.Random(5)
    for n in (1, 2, 3, 10, 57, 1000):
        values = sorted(rng.lognormvariate(6, 1) for _ in range(n))
        h = [0] * reports.NB
        for v in values:
            h[max(i for i, lo in enumerate(reports.BUCKETS) if lo <= v)] += 1
        got = percentiles._hist_percentiles(h, n, max(values))
        for name, q in (("median", 0.5), ("p90", 0.9)):
            exact = percentiles._interp(dict(enumerate(values)), n, q)
            assert abs(got[name] - exact) <= reports.bucket_error_s(max(got[name], exact)), (n, name)


def test_a_site_report_needs_only_that_sites_rollups(tmp_path):
    path = tmp_path / "h.sqlite3"
    history.main(["--db", str(path), "--config", str(DEMO_CONFIG), "--days", "2", "--end", "2026-11-19", "--quiet"])
    config = load_config(DEMO_CONFIG)
    store = Store(path)
    built = reports.ensure_rollups(store, config, "2026-11-18", "2026-11-19", today="2026-11-20", site="main")
    assert built["missing"] == 2
    with store.read() as conn:
        assert reports.rollups_ready(conn, config, "2026-11-18", "2026-11-19", "main")
        assert not reports.rollups_ready(conn, config, "2026-11-18", "2026-11-19")  # branch is not rolled up
        whole = reports.report(conn, config, reports.Filters("2026-11-18", "2026-11-19"), today="2026-11-20",
                               rollups=True)
    assert "source" not in whole  # the all-sites report falls back to the raw rows
    assert_same_report(*both(store, config, reports.Filters("2026-11-18", "2026-11-19", site="main", group="counter"),
                             "2026-11-20"))
    store.close()


MONTHS_END = "2026-11-20"  # "today" of the monthly tests: its rows stay raw


@pytest.fixture(scope="module")
def months_db(tmp_path_factory):
    """Two sites, 2026-09-07 … 2026-11-20: September and October are whole rolled-up months."""
    path = tmp_path_factory.mktemp("months") / "h.sqlite3"
    assert history.main(["--db", str(path), "--config", str(DEMO_CONFIG), "--days", "75", "--end", MONTHS_END,
                         "--quiet", "--seed", "11"]) == 0
    config = load_config(DEMO_CONFIG)
    store = Store(path)
    reports.ensure_rollups(store, config, "2026-09-01", MONTHS_END, today=MONTHS_END)
    yield store, config
    store.close()


def _months_used(store, config, f):
    with store.read() as conn:
        yday = "2026-11-19"
        return rollup_plan._Plan(conn, config, f, f.date_from, min(f.date_to, yday)).months


@pytest.mark.parametrize("group", reports.GROUPS)
@pytest.mark.parametrize("filters", [{}, {"site": "main"}, {"site": "main", "counter": "main-2"}, {"service": "HT"},
                                     {"staff": "cb-main-1"}])
def test_period_rollups_with_mid_month_ends_equal_raw(months_db, group, filters):
    store, config = months_db
    # starts mid-September (daily roll-ups for the 12th–20th, then the last dekad), October whole (monthly),
    # the first dekad of November, the 11th–19th daily, ends today (raw)
    f = reports.Filters("2026-09-12", MONTHS_END, group=group, **filters)
    assert _months_used(store, config, f) == ["2026-09/3", "2026-10", "2026-11/1"]
    fast, slow = both(store, config, f, MONTHS_END)
    assert_same_report(fast, slow)
    assert fast["summary"]["issued"] > 0


@pytest.mark.parametrize("group", ["none", "service", "hour", "day", "staff"])
def test_period_rollups_for_whole_months_and_dekads_equal_raw(months_db, group):
    store, config = months_db
    f = reports.Filters("2026-09-01", "2026-10-31", group=group)
    assert _months_used(store, config, f) == ["2026-09", "2026-10"]
    assert_same_report(*both(store, config, f, MONTHS_END))
    g = reports.Filters("2026-09-30", "2026-11-01", group=group, site="branch")  # one day each side of October
    assert _months_used(store, config, g) == ["2026-10"]
    h = reports.Filters("2026-10-05", "2026-10-30", group=group)  # days, the middle dekad, days
    assert _months_used(store, config, h) == ["2026-10/2"]
    assert_same_report(*both(store, config, h, MONTHS_END))
    assert_same_report(*both(store, config, g, MONTHS_END))


def test_a_month_or_dekad_is_rolled_up_only_when_all_its_days_are(tmp_path):
    path = tmp_path / "h.sqlite3"
    history.main(["--db", str(path), "--config", str(DEMO_CONFIG), "--days", "40", "--end", "2026-10-31",
                  "--site", "main", "--quiet"])
    config = load_config(DEMO_CONFIG)
    store = Store(path)
    reports.ensure_rollups(store, config, "2026-10-02", "2026-10-31", today="2026-11-20", site="main")
    f = reports.Filters("2026-10-02", "2026-10-31", site="main", group="service")
    periods = "SELECT month FROM rollup_months WHERE site = 'main' ORDER BY 1"
    with store.read() as conn:  # October 1st is missing: neither October nor its first dekad
        assert [r[0] for r in conn.execute(periods)] == ["2026-10/2", "2026-10/3"]
    assert _months_used(store, config, f) == ["2026-10/2", "2026-10/3"]
    assert_same_report(*both(store, config, f, "2026-11-20"))
    reports.ensure_rollups(store, config, "2026-10-01", "2026-10-01", today="2026-11-20", site="main")
    with store.read() as conn:
        assert [r[0] for r in conn.execute(periods)] == ["2026-10", "2026-10/1", "2026-10/2", "2026-10/3"]
    assert _months_used(store, config, reports.Filters("2026-10-01", "2026-10-31", site="main")) == ["2026-10"]
    assert_same_report(*both(store, config, f, "2026-11-20"))
    store.close()


def test_a_late_edit_rebuilds_its_month(tmp_path):
    path = tmp_path / "h.sqlite3"
    history.main(["--db", str(path), "--config", str(DEMO_CONFIG), "--days", "31", "--end", "2026-10-31",
                  "--site", "main", "--quiet"])
    config = load_config(DEMO_CONFIG)
    store = Store(path)
    today = "2026-11-20"
    reports.ensure_rollups(store, config, "2026-10-01", "2026-10-31", today=today)
    f = reports.Filters("2026-10-01", "2026-10-31", site="main")
    with store.read() as conn:
        before = reports.report(conn, config, f, today=today, rollups=True)
    assert before["source"] == "rollup" and _months_used(store, config, f) == ["2026-10"]
    with store.write() as conn:  # a served ticket of mid-October turned into a no-show, with its event
        tid = conn.execute("SELECT id FROM tickets WHERE status = 'served' AND service_day = '2026-10-15' "
                           "LIMIT 1").fetchone()[0]
        conn.execute("UPDATE tickets SET status = 'no_show', service_s = NULL WHERE id = ?", (tid,))
        conn.execute("INSERT INTO ticket_events (ticket_id, at, kind, site) VALUES (?, '2026-11-20T01:00:00.000Z', "
                     "'no_show', 'main')", (tid,))
    assert reports.ensure_rollups(store, config, "2026-10-01", "2026-10-31", today=today)["changed"] == 1
    fast, slow = both(store, config, f, today)
    assert_same_report(fast, slow)
    assert fast["summary"]["no_show"] == before["summary"]["no_show"] + 1
    store.close()


def test_all_sites_day_sums_follow_a_rebuilt_day(months_db):
    store, config = months_db
    sums = ("SELECT service_day, hour, sum(issued), sum(served), sum(wait_n), total(wait_sum) FROM {} "
            "WHERE service_day BETWEEN '2026-10-01' AND '2026-10-31' GROUP BY 1, 2 ORDER BY 1, 2")
    with store.read() as conn:
        per_site = conn.execute(sums.format("rollup_day_sums")).fetchall()
        assert [tuple(r) for r in conn.execute(sums.format("rollup_all_day_sums"))] == [tuple(r) for r in per_site]
    with store.write() as conn:  # rebuilding one site's day drops that day's all-sites sums until ensure_rollups
        rollup_build._build_site_days(conn, config, "main", ["2026-10-15"])
        assert conn.execute("SELECT count(*) FROM rollup_all_days WHERE service_day = '2026-10-15'").fetchone()[0] == 0
    f = reports.Filters("2026-10-01", "2026-10-31", group="hour")
    assert_same_report(*both(store, config, f, MONTHS_END))  # per-site sums meanwhile
    reports.ensure_rollups(store, config, "2026-10-01", "2026-10-31", today=MONTHS_END)
    with store.read() as conn:
        assert conn.execute("SELECT count(*) FROM rollup_all_days WHERE service_day = '2026-10-15'").fetchone()[0] == 1
        assert [tuple(r) for r in conn.execute(sums.format("rollup_all_day_sums"))] == [tuple(r) for r in per_site]
    assert_same_report(*both(store, config, f, MONTHS_END))


def _report_and_sql(store, config, f, today):
    """The roll-up report and every SQL statement it ran (to see which tables it read)."""
    seen: list[str] = []
    with store.read() as conn:
        conn.set_trace_callback(seen.append)
        try:
            rep = reports.report(conn, config, f, today=today, rollups=True)
        finally:
            conn.set_trace_callback(None)
    return rep, "\n".join(seen)


def _day_hour_pass(sql):
    """The table of the (day × hour) pass (summary, trend, heat map)."""
    (line,) = [x for x in sql.splitlines() if x.startswith("SELECT service_day, hour, sum(")]
    return line.split(" FROM ")[1].split()[0]


def _raw(store, config, f, today):
    with store.read() as conn:
        return reports.report(conn, config, f, today=today, rollups=False)


@pytest.mark.parametrize("group", reports.GROUPS)
@pytest.mark.parametrize("service", ["HT", "CT"])
def test_one_service_over_all_sites_from_all_sites_service_sums_equals_raw(months_db, group, service):
    store, config = months_db
    # mid-month at both ends, with today raw; then a range ending on a past mid-month day (roll-ups only)
    for d0, d1, periods in (("2026-09-12", MONTHS_END, ["2026-09/3", "2026-10", "2026-11/1"]),
                            ("2026-09-08", "2026-11-13", ["2026-09/2", "2026-09/3", "2026-10", "2026-11/1"])):
        f = reports.Filters(d0, d1, group=group, service=service)
        assert _months_used(store, config, f) == periods
        fast, sql = _report_and_sql(store, config, f, MONTHS_END)
        assert _day_hour_pass(sql) == "rollup_all_service_sums"
        if group in ("day", "weekday"):
            assert "FROM rollup_all_service_hists" in sql and "FROM rollup_hists" not in sql
        assert_same_report(fast, _raw(store, config, f, MONTHS_END))
        assert fast["summary"]["issued"] > 0 and fast["filters"]["service"] == service


def _service_sums_match_cells(conn):
    cols = "sum(issued), sum(entries), sum(served), sum(no_show), sum(wait_n), total(wait_sum), max(wait_max)"
    sql = (f"SELECT service, service_day, hour, {cols} FROM {{}} GROUP BY 1, 2, 3 ORDER BY 1, 2, 3")
    a = [tuple(r) for r in conn.execute(sql.format("rollup_all_service_sums"))]
    b = [tuple(r) for r in conn.execute(sql.format("rollup_cells"))]
    return a == b and len(a) > 0


def test_all_sites_service_sums_follow_a_rebuilt_day(tmp_path):
    path = tmp_path / "h.sqlite3"
    history.main(["--db", str(path), "--config", str(DEMO_CONFIG), "--days", "12", "--end", "2026-10-31", "--quiet",
                  "--seed", "4"])
    config = load_config(DEMO_CONFIG)
    store = Store(path)
    today, day = "2026-11-20", "2026-10-27"
    reports.ensure_rollups(store, config, "2026-10-20", "2026-10-31", today=today)
    f = reports.Filters("2026-10-20", "2026-10-31", service="HT", group="day")
    with store.read() as conn:
        assert _service_sums_match_cells(conn)
        assert conn.execute("SELECT count(*) FROM rollup_all_service_days").fetchone()[0] == 12
    before, sql = _report_and_sql(store, config, f, today)
    assert _day_hour_pass(sql) == "rollup_all_service_sums"
    with store.read() as conn:
        tid, site = conn.execute("SELECT id, site FROM tickets WHERE status = 'served' AND service = 'HT' "
                                 "AND service_day = ? ORDER BY id LIMIT 1", (day,)).fetchone()
    with store.write() as conn:  # rebuilding a site's day drops that day's all-sites sums: per-site rows meanwhile
        rollup_build._build_site_days(conn, config, site, [day])
        assert conn.execute("SELECT count(*) FROM rollup_all_service_sums WHERE service_day = ?", (day,)
                            ).fetchone()[0] == 0
    meanwhile, sql = _report_and_sql(store, config, f, today)
    assert _day_hour_pass(sql) == "rollup_cells"
    assert_same_report(meanwhile, _raw(store, config, f, today))
    with store.write() as conn:  # that served HT ticket turned into a no-show, with its event
        conn.execute("UPDATE tickets SET status = 'no_show', service_s = NULL WHERE id = ?", (tid,))
        conn.execute("INSERT INTO ticket_events (ticket_id, at, kind, site) VALUES (?, '2026-11-20T01:00:00.000Z', "
                     "'no_show', ?)", (tid, site))
    assert reports.ensure_rollups(store, config, "2026-10-20", "2026-10-31", today=today)["changed"] == 1
    with store.read() as conn:
        assert _service_sums_match_cells(conn)
    after, sql = _report_and_sql(store, config, f, today)
    assert _day_hour_pass(sql) == "rollup_all_service_sums"
    assert_same_report(after, _raw(store, config, f, today))
    assert after["summary"]["no_show"] == before["summary"]["no_show"] + 1
    row = {r["key"]: r for r in after["trend"]}[day]
    assert row["no_show"] == {r["key"]: r for r in before["trend"]}[day]["no_show"] + 1
    store.close()


@pytest.mark.parametrize("group", ["none", "counter", "service", "day"])
def test_a_counter_report_without_a_site_reads_only_its_sites_rollups(tmp_path_factory, group):
    path = tmp_path_factory.getbasetemp() / "counter-only-main.sqlite3"
    if not path.exists():
        history.main(["--db", str(path), "--config", str(DEMO_CONFIG), "--days", "3", "--end", "2026-11-19",
                      "--quiet"])
    config = load_config(DEMO_CONFIG)
    store = Store(path)
    reports.ensure_rollups(store, config, "2026-11-17", "2026-11-19", today="2026-11-20", site="main")  # main only
    f = reports.Filters("2026-11-17", "2026-11-20", counter="main-2", group=group)
    fast, _ = _report_and_sql(store, config, f, "2026-11-20")
    assert fast["source"] == "rollup" and fast["filters"]["site"] is None  # branch is not rolled up: not needed
    assert_same_report(fast, _raw(store, config, f, "2026-11-20"))
    assert fast["summary"]["served"] > 0
    store.close()


@pytest.mark.parametrize("filters", [{"staff": "cb-main-1"}, {"counter": "main-2", "staff": "cb-main-2"}])
@pytest.mark.parametrize("group", ["none", "site", "hour", "day"])
def test_a_staff_member_of_one_site_reads_that_sites_rollups(months_db, group, filters):
    store, config = months_db
    f = reports.Filters("2026-09-12", MONTHS_END, group=group, **filters)
    fast, sql = _report_and_sql(store, config, f, MONTHS_END)
    assert "site = 'main'" in [x for x in sql.splitlines() if x.startswith("SELECT service_day, hour, sum(")][0]
    assert fast["filters"]["site"] is None
    assert_same_report(fast, _raw(store, config, f, MONTHS_END))


def test_a_staff_member_at_two_sites(tmp_path):
    path = tmp_path / "h.sqlite3"
    history.main(["--db", str(path), "--config", str(DEMO_CONFIG), "--days", "4", "--end", "2026-11-20", "--quiet",
                  "--seed", "6"])
    config = load_config(DEMO_CONFIG)
    store = Store(path)
    today = "2026-11-20"
    reports.ensure_rollups(store, config, "2026-11-17", "2026-11-19", today=today)
    with store.write() as conn:  # today (raw rows): the staff member of main also serves a citizen at the branch
        conn.execute("UPDATE tickets SET staff = 'cb-main-1' WHERE id = (SELECT min(id) FROM tickets WHERE "
                     "site = 'branch' AND service_day = ? AND status = 'served')", (today,))
    f = reports.Filters("2026-11-17", today, staff="cb-main-1", group="site")
    fast, sql = _report_and_sql(store, config, f, today)
    assert "site = 'main'" in [x for x in sql.splitlines() if x.startswith("SELECT service_day, hour, sum(")][0]
    assert_same_report(fast, _raw(store, config, f, today))
    assert [r["key"] for r in fast["rows"]] == ["branch", "main"] and fast["rows"][0]["served"] == 1
    with store.write() as conn:  # and on a rolled-up day: then every site's roll-ups are read
        tid = conn.execute("SELECT min(id) FROM tickets WHERE site = 'branch' AND service_day = '2026-11-18' "
                           "AND status = 'served'").fetchone()[0]
        conn.execute("UPDATE tickets SET staff = 'cb-main-1' WHERE id = ?", (tid,))
        conn.execute("INSERT INTO ticket_events (ticket_id, at, kind, site) VALUES (?, '2026-11-20T01:00:00.000Z', "
                     "'note', 'branch')", (tid,))
    assert reports.ensure_rollups(store, config, "2026-11-17", "2026-11-19", today=today)["changed"] == 1
    fast, sql = _report_and_sql(store, config, f, today)
    assert "site =" not in [x for x in sql.splitlines() if x.startswith("SELECT service_day, hour, sum(")][0]
    assert_same_report(fast, _raw(store, config, f, today))
    assert fast["rows"][0]["key"] == "branch" and fast["rows"][0]["served"] == 2
    store.close()
