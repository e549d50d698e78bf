"""The raw path and the roll-up path answer a year the same way: both assemble their report through one function
(center/reports/assemble.py), and on a generated year every grouping gives equal figures (counts, sums, means,
service level, satisfaction, heat map and trend exactly; medians and p90 within one histogram bucket)."""

from __future__ import annotations

import pytest

from center import history, reports
from center.config.read import load_config
from center.reports import assemble, rollup_plan
from center.storage.store import Store
from tests.conftest import DEMO_CONFIG
from tests.test_rollup import assert_same_report, both

END = "2026-11-20"  # "today": read raw by the roll-up path
START = "2025-11-25"  # mid-dekad: six days, then eleven whole months, the first dekad of November, nine days


@pytest.fixture(scope="module")
def year_db(tmp_path_factory):
    """Two sites, a year of generated history ending today, every past day rolled up."""
    path = tmp_path_factory.mktemp("year") / "y.sqlite3"
    assert history.main(["--db", str(path), "--config", str(DEMO_CONFIG), "--days", "365", "--end", END,
                         "--quiet", "--seed", "5"]) == 0
    config = load_config(DEMO_CONFIG)
    store = Store(path)
    reports.ensure_rollups(store, config, "2025-11-01", END, today=END)
    yield store, config
    store.close()


@pytest.mark.parametrize("group", reports.GROUPS)
@pytest.mark.parametrize("filters", [{}, {"site": "main"}, {"service": "HT"}, {"counter": "main-2"}])
def test_a_generated_year_from_rollups_equals_raw_for_every_grouping(year_db, group, filters):
    store, config = year_db
    f = reports.Filters(START, END, group=group, **filters)
    with store.read() as conn:
        plan = rollup_plan._Plan(conn, config, f, START, "2026-11-19")
    assert len(plan.months) == 12 and plan.months[-1] == "2026-11/1"
    fast, slow = both(store, config, f, END)
    assert_same_report(fast, slow)
    assert fast["days"] == slow["days"] >= 250
    assert fast["summary"]["issued"] > 1000 and fast["summary"]["wait_median_s"] is not None
    assert fast["satisfaction"]["overall"] and fast["trend"][-1]["key"] == END


def test_both_paths_assemble_their_report_through_one_function(year_db, monkeypatch):
    store, config = year_db
    seen = []
    real = assemble.assemble_report

    def spy(*args, **kwargs):
        out = real(*args, **kwargs)
        seen.append(out.get("source", "raw"))
        return out

    monkeypatch.setattr(assemble, "assemble_report", spy)
    fast, slow = both(store, config, reports.Filters(START, END, group="service"), END)
    assert seen == ["rollup", "raw"]
    assert fast.keys() == slow.keys() | {"source"}
