"""The overview and a report page in real Chromium: live updates, charts drawn, screenshots for docs/."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect

from center import history
from tests.conftest import DEMO_CONFIG, PASSWORD, Server, prepare_accounts

DOCS = Path(__file__).resolve().parent.parent / "docs"
pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """A real server on 30 generated days of history, with citizens waiting and counters busy today."""
    db = tmp_path_factory.mktemp("manager-browser") / "center.sqlite3"
    tokens = prepare_accounts(db)
    end = date.today() - timedelta(days=1)
    history.main(["--db", str(db), "--config", str(DEMO_CONFIG), "--days", "30", "--end", end.isoformat(),
                  "--quiet"])
    server = Server(db=db, config=DEMO_CONFIG, tokens=tokens).start()
    for service in ("CT", "CT", "HT", "CT", "TKQ", "CC", "CT", "HD", "HT", "CT"):
        assert server.post("/api/tickets", who="staff1", json={"site": "main", "service": service}).ok
    assert server.post("/api/counters/main-1/call-next", who="staff1").ok
    assert server.post("/api/counters/main-1/start", who="staff1").ok
    assert server.post("/api/counters/main-3/call-next", who="staff2").ok
    assert server.post("/api/counters/main-2/take", who="manager").ok
    assert server.post("/api/counters/main-2/pause", who="manager", json={"reason": "meeting"}).ok
    yield server, end
    server.stop()


def sign_in(page, server, user="manager"):
    page.goto(server.url + "/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")


def test_overview_updates_live_and_screenshot(page, live):
    server, _ = live
    sign_in(page, server)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(server.url + "/manager/?site=main")
    page.wait_for_selector('[data-counter="main-1"].serving')
    assert "Đang phục vụ số" in page.text_content('[data-counter="main-1"]')
    assert "họp" in page.text_content('[data-counter="main-2"]')
    waiting_before = int(page.text_content('#services tr[data-service="CT"] td:nth-child(2)'))
    assert server.post("/api/tickets", who="staff1", json={"site": "main", "service": "CT"}).ok
    expect(page.locator('#services tr[data-service="CT"] td:nth-child(2)')).to_have_text(str(waiting_before + 1),
                                                                                        timeout=15000)
    page.screenshot(path=str(DOCS / "manager.png"), full_page=True)


def test_report_page_draws_charts_and_screenshot(page, live):
    server, end = live
    sign_in(page, server)
    page.set_viewport_size({"width": 1280, "height": 900})
    start = end - timedelta(days=29)
    page.goto(server.url + f"/manager/reports?from={start}&to={end}&site=main&group=service")
    page.wait_for_function("() => window.Chart && Object.keys(Chart.instances).length >= 5")
    rows = page.locator("#rows-table tbody tr").count()
    assert rows >= 5
    assert page.text_content("#summary .kpi .v") != "0"
    page.screenshot(path=str(DOCS / "report.png"), full_page=True)


def test_staff_member_cannot_open_the_report_page(page, live):
    server, _ = live
    sign_in(page, server, "staff1")
    resp = page.goto(server.url + "/manager/reports")
    assert resp.status == 403
    assert "không có quyền" in page.text_content("main")
