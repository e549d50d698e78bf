"""The synthetic history passes the same consistency checks as real data, and reports read it."""

from __future__ import annotations

import sqlite3

import pytest

from center import history, reports
from center.config.read import load_config
from center.reports import raw
from center.storage.store import Store
from tests.conftest import DEMO_CONFIG

END = "2026-11-20"  # a Friday: Wednesday, Thursday, Friday


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    path = tmp_path_factory.mktemp("history") / "h.sqlite3"
    assert history.main(["--db", str(path), "--config", str(DEMO_CONFIG), "--days", "3", "--end", END,
                         "--site", "main", "--quiet", "--seed", "7"]) == 0
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    yield path, conn
    conn.close()


def test_generates_a_plausible_volume_for_one_site(db):
    _, conn = db
    per_day = dict(conn.execute("SELECT service_day, count(*) FROM tickets GROUP BY 1").fetchall())
    assert set(per_day) == {"2026-11-18", "2026-11-19", "2026-11-20"}
    assert all(150 <= n <= 400 for n in per_day.values())  # ~248 expected at "main"
    assert {r[0] for r in conn.execute("SELECT DISTINCT site FROM tickets")} == {"main"}


def test_every_ticket_ends_in_a_final_status_and_counts_sum(db):
    path, conn = db
    active = "SELECT count(*) FROM tickets WHERE status IN ('waiting','called','serving')"
    assert conn.execute(active).fetchone()[0] == 0
    with Store(path).read() as c:
        rep = reports.report(c, load_config(DEMO_CONFIG), reports.Filters("2026-11-18", END, site="main"))
    s = rep["summary"]
    assert s["served"] + s["no_show"] + s["cancelled"] + s["transferred"] + s["left"] == s["entries"]
    assert s["issued"] == conn.execute("SELECT count(*) FROM tickets").fetchone()[0]
    assert sum(map(sum, rep["heatmap"]["counts"])) == s["issued"]
    assert sum(d["issued"] for d in rep["trend"]) == s["issued"]


def test_wait_and_service_times_match_the_timestamps(db):
    _, conn = db
    bad_wait = conn.execute(
        "SELECT count(*) FROM tickets WHERE called_at IS NOT NULL AND "
        "abs(wait_s - (julianday(called_at) - julianday(issued_at)) * 86400) > 0.01").fetchone()[0]
    bad_service = conn.execute(
        "SELECT count(*) FROM tickets WHERE status = 'served' AND "
        "abs(service_s - (julianday(ended_at) - julianday(started_at)) * 86400) > 0.01").fetchone()[0]
    assert (bad_wait, bad_service) == (0, 0)
    assert conn.execute("SELECT count(*) FROM tickets WHERE called_at < issued_at OR started_at < called_at "
                        "OR ended_at < started_at").fetchone()[0] == 0


def test_procedures_fit_inside_the_service_time(db):
    _, conn = db
    rows = conn.execute("SELECT t.id, t.service_s, sum(p.seconds) AS procs, count(p.id) AS n FROM tickets t "
                        "LEFT JOIN ticket_procedures p ON p.ticket_id = t.id WHERE t.status = 'served' "
                        "GROUP BY t.id").fetchall()
    assert rows and all(r["n"] >= 1 and r["procs"] <= r["service_s"] + 0.01 for r in rows)
    assert conn.execute("SELECT count(*) FROM ticket_procedures p JOIN tickets t ON t.id = p.ticket_id "
                        "WHERE t.status != 'served' OR p.service != t.service").fetchone()[0] == 0


def test_a_counter_serves_one_citizen_at_a_time(db):
    _, conn = db
    overlaps = conn.execute(
        "SELECT count(*) FROM tickets a JOIN tickets b ON a.counter_id = b.counter_id AND a.id < b.id "
        "AND a.called_at < b.ended_at AND b.called_at < a.ended_at").fetchone()[0]
    assert overlaps == 0


def test_numbers_are_unique_and_sequences_consistent(db):
    _, conn = db
    assert conn.execute("SELECT count(*) FROM (SELECT 1 FROM tickets GROUP BY site, service_day, number "
                        "HAVING count(*) > 1)").fetchone()[0] == 0
    for site, service, day, last in conn.execute("SELECT site, service, service_day, last_seq FROM day_sequences"):
        n, mx = conn.execute("SELECT count(*), max(seq) FROM tickets WHERE site = ? AND service = ? AND "
                             "service_day = ?", (site, service, day)).fetchone()
        assert n == mx == last


def test_events_tell_the_same_story_as_the_tickets(db):
    _, conn = db
    assert conn.execute("SELECT count(*) FROM tickets t WHERE NOT EXISTS (SELECT 1 FROM ticket_events e WHERE "
                        "e.ticket_id = t.id AND e.kind = 'issued' AND e.at = t.issued_at)").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM tickets t WHERE t.called_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM "
                        "ticket_events e WHERE e.ticket_id = t.id AND e.kind = 'called' AND e.at = t.called_at)"
                        ).fetchone()[0] == 0
    for status, kind in (("served", "finished"), ("no_show", "no_show"), ("left", "left"),
                         ("cancelled", "cancelled")):
        assert conn.execute(f"SELECT count(*) FROM tickets t WHERE status = '{status}' AND NOT EXISTS (SELECT 1 "  # noqa: S608
                            f"FROM ticket_events e WHERE e.ticket_id = t.id AND e.kind = '{kind}' "
                            "AND e.at = t.ended_at)").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM ratings r JOIN tickets t ON t.id = r.ticket_id "
                        "WHERE t.status != 'served'").fetchone()[0] == 0


def test_issue_times_are_within_local_opening_hours(db):
    _, conn = db
    minutes = [r[0] for r in conn.execute(
        "SELECT ((CAST(substr(issued_at, 12, 2) AS INTEGER) + 7) % 24) * 60 + CAST(substr(issued_at, 15, 2) AS INTEGER)"
        " FROM tickets")]
    assert all(7 * 60 + 30 <= m < 11 * 60 + 30 or 13 * 60 + 30 <= m < 16 * 60 + 45 for m in minutes)


def test_counters_open_and_close_every_day(db):
    _, conn = db
    kinds = conn.execute("SELECT kind, count(*) FROM counter_events GROUP BY kind").fetchall()
    counts = dict(kinds)
    assert counts["open"] == counts["close"] and counts["pause"] == counts["resume"]
    with Store(db[0]).read() as c:
        adv = reports.staffing(c, load_config(DEMO_CONFIG), reports.Filters("2026-11-18", END, site="main"))
    nine = next(h for h in adv["hours"] if h["hour"] == 9)
    assert 0 < nine["had"] <= 6 and nine["pooled"] >= 1 and nine["dedicated"] >= nine["pooled"]


@pytest.mark.parametrize("filters", [{"site": "main", "group": "service"}, {"group": "site"},
                                     {"site": "main", "service": "HT", "group": "site"}, {"site": "main"}])
def test_index_walk_percentiles_equal_the_ranking_pass(db, monkeypatch, filters):
    path, _ = db
    config = load_config(DEMO_CONFIG)
    with Store(path).read() as c:
        fast = reports.report(c, config, reports.Filters("2026-11-18", END, **filters))
        monkeypatch.setattr(raw, "USE_RANK_INDEXES", False)
        slow = reports.report(c, config, reports.Filters("2026-11-18", END, **filters))
    keys = ("wait_median_s", "wait_p90_s", "service_median_s", "service_p90_s")
    assert [fast["summary"][k] for k in keys] == [slow["summary"][k] for k in keys]
    assert [[r[k] for k in keys] for r in fast["rows"]] == [[r[k] for k in keys] for r in slow["rows"]]
    assert fast["summary"]["wait_median_s"] is not None
