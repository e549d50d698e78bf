"""Every report figure against values worked out by hand on the fixed day of tests/manager_support.py."""

from __future__ import annotations

import pytest

from center import reports
from center.reports import erlang
from tests.manager_support import DAY, build_fixed_day


@pytest.fixture
def day(engine, clock):
    ids = build_fixed_day(engine, clock)
    return engine, ids


def run(engine, group="none", **filters):
    with engine.store.read() as conn:
        return reports.report(conn, engine.config, reports.Filters(DAY, DAY, group=group, **filters))


def test_counts_by_outcome(day):
    s = run(day[0], site="main")["summary"]
    assert (s["issued"], s["entries"]) == (6, 7)  # T4' continues T4: not a new ticket
    assert (s["served"], s["no_show"], s["cancelled"], s["transferred"], s["left"]) == (3, 1, 1, 1, 1)
    assert s["served"] + s["no_show"] + s["cancelled"] + s["transferred"] + s["left"] + s["open"] == s["entries"]


def test_waiting_time_mean_median_p90_max(day):
    s = run(day[0])["summary"]
    # waits 600, 780, 1560, 1620, 1860
    assert s["wait_n"] == 5
    assert s["wait_mean_s"] == 1284.0
    assert s["wait_median_s"] == 1560.0
    assert s["wait_p90_s"] == 1764.0  # position 3.6: 1620 + 0.6·240
    assert s["wait_max_s"] == 1860.0


def test_service_time_mean_median_p90_max(day):
    s = run(day[0])["summary"]
    # served 240, 360, 720
    assert s["service_n"] == 3
    assert (s["service_mean_s"], s["service_median_s"], s["service_p90_s"], s["service_max_s"]) == (
        440.0, 360.0, 648.0, 720.0)


def test_service_level_counts_abandoned_citizens_as_missed(day):
    s = run(day[0])["summary"]
    # within target: T1 (600 ≤ 900), T2 (780 ≤ 900); missed: T3, T4, T4', left T5, cancelled T6
    assert (s["sl_within"], s["sl_total"], s["service_level"]) == (2, 7, 0.2857)


def test_grouped_by_service(day):
    rows = {r["key"]: r for r in run(day[0], group="service")["rows"]}
    assert set(rows) == {"CT", "HT", "CC", "TKQ"}
    ct, ht = rows["CT"], rows["HT"]
    assert (ct["issued"], ct["served"], ct["transferred"]) == (3, 2, 1)
    assert (ct["wait_mean_s"], ct["wait_median_s"], ct["wait_p90_s"], ct["wait_max_s"]) == (1000.0, 780.0, 1452.0,
                                                                                         1620.0)
    assert (ct["service_mean_s"], ct["service_level"]) == (300.0, 0.6667)
    assert (ht["issued"], ht["entries"], ht["served"], ht["no_show"], ht["service_level"]) == (1, 2, 1, 1, 0.0)
    assert ht["wait_mean_s"] == 1710.0
    assert rows["CC"]["left"] == 1 and rows["TKQ"]["cancelled"] == 1


def test_grouped_by_staff_counter_hour_weekday(day):
    eng = day[0]
    staff = {r["key"]: r for r in run(eng, group="staff")["rows"]}
    assert staff["staff1"]["served"] == 2 and staff["staff1"]["wait_mean_s"] == 690.0
    assert staff["staff2"]["entries"] == 3 and staff["staff2"]["served"] == 1
    counters = {r["key"]: r for r in run(eng, group="counter")["rows"]}
    assert counters["main-1"]["service_mean_s"] == 300.0 and counters["main-3"]["no_show"] == 1
    hours = run(eng, group="hour")["rows"]
    assert [(r["key"], r["issued"]) for r in hours] == [(9, 6)]  # 09:xx local, not 02:xx UTC
    weekdays = run(eng, group="weekday")["rows"]
    assert [(r["key"], r["label"]) for r in weekdays] == [(0, "Thứ Hai")]


def test_filters_by_service_staff_and_procedure(day):
    eng = day[0]
    assert run(eng, service="HT")["summary"]["entries"] == 2
    assert run(eng, staff="staff1")["summary"]["served"] == 2
    only = run(eng, procedure="CT-CK")
    assert only["summary"]["entries"] == 1 and only["summary"]["service_mean_s"] == 360.0
    assert [p["key"] for p in only["procedures"]] == ["CT-CK"]
    assert run(eng, site="branch")["summary"]["entries"] == 0


def test_service_time_per_procedure(day):
    procs = {p["key"]: p for p in run(day[0])["procedures"]}
    assert (procs["CT-BS"]["n"], procs["CT-BS"]["service_mean_s"], procs["CT-BS"]["service_median_s"],
            procs["CT-BS"]["service_p90_s"], procs["CT-BS"]["service_max_s"]) == (2, 220.0, 220.0, 236.0, 240.0)
    assert procs["CT-CK"]["service_mean_s"] == 160.0 and procs["HT-KS"]["service_mean_s"] == 720.0
    by_proc = run(day[0], group="procedure")["rows"]
    assert [r["key"] for r in by_proc] == ["CT-BS", "CT-CK", "HT-KS"]


def test_satisfaction_shares(day):
    sat = run(day[0])["satisfaction"]
    overall = sat["overall"][0]
    assert overall["total"] == 3
    assert {lv: v["share"] for lv, v in overall["levels"].items()} == {
        "very_satisfied": 0.3333, "satisfied": 0.3333, "unsatisfied": 0.3333}
    counter = {r["key"]: r for r in sat["by_counter"]}
    assert counter["main-1"]["levels"]["very_satisfied"]["share"] == 0.5
    assert counter["main-3"]["levels"] == {"unsatisfied": {"n": 1, "share": 1.0}}
    staff = {r["key"]: r["total"] for r in sat["by_staff"]}
    assert staff == {"staff1": 2, "staff2": 1}
    proc = {r["key"]: r for r in sat["by_procedure"]}
    assert proc["CT-BS"]["total"] == 2 and proc["CT-CK"]["levels"]["satisfied"]["n"] == 1
    assert proc["HT-KS"]["levels"]["unsatisfied"]["share"] == 1.0


def test_heatmap_and_trend(day):
    rep = run(day[0])
    heat = rep["heatmap"]
    assert heat["counts"][0][9] == 6 and sum(map(sum, heat["counts"])) == 6
    assert heat["days"][0] == 1 and heat["mean_per_day"][0][9] == 6
    assert rep["trend"] == [{"key": DAY, "issued": 6, "served": 3, "no_show": 1, "wait_mean_s": 1284.0,
                             "service_level": 0.2857}]


def test_staffing_advice_beside_actual(day):
    eng = day[0]
    with eng.store.read() as conn:
        adv = reports.staffing(conn, eng.config, reports.Filters(DAY, DAY, site="main"), target_sl=0.8, now=eng.clock())
    (h,) = adv["hours"]
    assert h["hour"] == 9 and h["arrivals_per_hour"] == 7.0  # 7 queue entries in one day
    # main-1 open 09:10–10:00 and main-3 09:30–10:00: 80 counter-minutes in that hour
    assert h["had"] == pytest.approx(80 / 60, abs=0.01)
    assert h["measured_service_level"] == 0.2857
    aht = (3 * 300 + 2 * 720 + 600 + 150) / 7  # measured CT, HT; defaults for CC, TKQ
    assert h["aht_s"] == pytest.approx(aht, abs=0.05)
    expected = erlang.counters_needed(7, aht, h["target_wait_s"], 0.8)
    assert h["pooled"] == expected.counters
    assert h["dedicated_by_service"] == {"CC": 1, "CT": 1, "HT": 1, "TKQ": 1}
    assert h["dedicated"] >= h["pooled"]


def test_bad_filters_are_refused():
    from center.errors import Invalid

    with pytest.raises(Invalid):
        reports.Filters("2026-11-30", "2026-11-01").check()
    with pytest.raises(Invalid):
        reports.Filters("2026-13-01", "2026-13-02").check()
    with pytest.raises(Invalid):
        reports.Filters(DAY, DAY, group="colour").check()


def test_share_satisfied_uses_the_configured_levels(day):
    rep = run(day[0])
    assert [lv["code"] for lv in rep["rating_levels"]] == ["very_satisfied", "satisfied", "unsatisfied"]
    overall = rep["satisfaction"]["overall"][0]
    assert (overall["satisfied"], overall["satisfied_share"]) == (2, 0.6667)
    counter = {r["key"]: r for r in rep["satisfaction"]["by_counter"]}
    assert counter["main-1"]["satisfied_share"] == 1.0 and counter["main-3"]["satisfied_share"] == 0.0


def test_live_overview_alerts(engine, clock):
    from center.queue.actors import Actor
    from center.queue.clock import to_iso

    staff = Actor("staff1", "staff")
    assert reports.live_overview(engine, "main")["alerts"] == []
    engine.issue("main", "TKQ")  # target 10 min
    engine.take_counter("main-2", staff)
    engine.pause("main-2", staff, "meeting")
    clock.advance(minutes=11)
    kinds = {a["kind"] for a in reports.live_overview(engine, "main")["alerts"]}
    assert kinds == {"wait", "unserved"}  # paused 11 min: not yet too long; no open counter serves TKQ
    clock.advance(minutes=5)
    now = engine.clock()
    with engine.store.write() as conn:
        t = conn.execute("SELECT id FROM tickets LIMIT 1").fetchone()[0]
        conn.execute("INSERT INTO print_jobs (ticket_id, kiosk, status, error, created_at, updated_at) "
                     "VALUES (?, 'main-kiosk-1', 'failed', 'paper out', ?, ?)",
                     (t, to_iso(now), to_iso(now)))
    state = reports.live_overview(engine, "main")
    assert {a["kind"] for a in state["alerts"]} == {"wait", "pause", "printer", "unserved"}
    printer = next(a for a in state["alerts"] if a["kind"] == "printer")
    assert printer["message"] == "Máy in Kiosk sảnh chính lỗi (1 lần in hỏng)"  # its configured name, not its id
    assert state["longest_wait_s"] == 16 * 60
    main2 = next(c for c in state["counters"] if c["id"] == "main-2")
    assert main2["status"] == "paused" and main2["since_s"] == 16 * 60
