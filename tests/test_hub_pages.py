"""Issue 16, the province pages: who sees what, and a center's figures at the hub equal its own report."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests
from playwright.sync_api import expect

from tests.conftest import PASSWORD, cli
from tests.hub_pages_support import add_hub_user, center_server, hub_session
from tests.hub_support import HubServer, center_with_hub, hub_cli, hub_config
from tests.pg_support import pg, pg_db  # noqa: F401 - fixtures
from tests.sync_support import serve_citizens

DOCS = Path(__file__).resolve().parent.parent / "docs"
FIGURES = ("issued", "served", "no_show", "wait_mean_s", "wait_median_s", "wait_p90_s", "service_level")


def _today() -> str:
    return datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).date().isoformat()


def _post(center, path: str, who: str, body: dict | None = None) -> dict:
    r = requests.post(center.url + path, json=body or {}, headers={"Authorization": f"Bearer {center.tokens[who]}"},
                      timeout=10)
    assert r.status_code in (200, 201), (path, r.text)
    return r.json()


def _center_day(center) -> None:
    """A day with every outcome: served (two services, several waits), rated both ways, no-show, left, waiting."""
    staff1, staff2 = center.tokens["staff1"], center.tokens["staff2"]
    serve_citizens(center, "main", "main-1", "main-kiosk-1", 3, staff1)
    serve_citizens(center, "main", "main-2", "main-kiosk-1", 2, staff2, service="HT", procedure="HT-KS")
    tid = _post(center, "/api/tickets", "staff1", {"site": "main", "service": "CT"})["id"]
    time.sleep(0.3)
    for step, body in (("call-next", {}), ("start", {}), ("finish", {"procedures": ["CT-BS"]})):
        _post(center, f"/api/counters/main-1/{step}", "staff1", body)
    _post(center, "/counter/main-1/rating", "staff1", {"ticket": tid, "level": "unsatisfied", "reasons": ["slow"]})
    _post(center, "/api/tickets", "staff1", {"site": "main", "service": "CT"})
    _post(center, "/api/counters/main-1/call-next", "staff1")
    _post(center, "/api/counters/main-1/no-show", "staff1")
    left = _post(center, "/api/tickets", "staff1", {"site": "main", "service": "HT"})["id"]
    _post(center, f"/api/tickets/{left}/left", "staff1")
    for _ in range(2):  # still waiting: the live panel shows them
        _post(center, "/api/tickets", "staff1", {"site": "main", "service": "CT"})


@pytest.fixture(scope="module")
def world(tmp_path_factory, accounts_template, pg_db):  # noqa: F811
    """A hub with a province user and a center manager of tanlap; center hoabinh pushing a real day."""
    tmp = tmp_path_factory.mktemp("hub-pages")
    hub = HubServer(hub_config(tmp, pg_db)).start()
    add_hub_user(hub.config, "tinh", "province")
    add_hub_user(hub.config, "tanlap-manager", "center", center="tanlap")
    cfg = center_with_hub(tmp, hub.url)
    center = center_server(tmp, accounts_template, cfg)
    try:
        _center_day(center)
        token = hub_cli(hub.config, "token", "hoabinh").strip().splitlines()[-1]
        cli(center.db, "sync", "join", "--config", str(cfg), stdin=token + "\n")
        prov = hub_session(hub.url, "tinh")
        own = center.get(f"/manager/api/report?from={_today()}&to={_today()}", who="manager").json()["summary"]
        deadline = time.monotonic() + 60
        while True:  # until the hub holds the center's final states
            got = prov.get(hub.url + "/hub/api/report?center=hoabinh", timeout=10).json()["summary"]
            if all(got[k] == own[k] for k in ("issued", "served", "no_show")) or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        time.sleep(1)  # and its last pass (ratings after the tickets)
        yield hub, center, prov
    finally:
        center.stop()
        hub.stop()


def test_anonymous_is_sent_to_sign_in_or_refused(world):
    hub, _, _ = world
    for path in ("/hub/api/live", "/hub/api/report", "/hub/reports.csv", "/hub/reports.xlsx"):
        r = requests.get(hub.url + path, timeout=10, allow_redirects=False)
        assert r.status_code == 401 and r.json()["error"] == "unauthorized", (path, r.text)
    for path in ("/hub/", "/hub/reports"):
        r = requests.get(hub.url + path, timeout=10, allow_redirects=False)
        assert r.status_code == 302 and "/hub/login" in r.headers["Location"], path
    r = requests.get(hub.url + "/", timeout=10)  # the address IT types leads to the panel, by way of sign-in
    assert r.status_code == 200 and "/hub/login" in r.url
    assert "script-src 'self'" in r.headers["Content-Security-Policy"] and r.headers["Cache-Control"] == "no-store"
    booking = requests.get(hub.url + "/dat-lich", timeout=10)  # the public page: the same set, no referrer
    assert "frame-ancestors 'none'" in booking.headers["Content-Security-Policy"]
    assert booking.headers["Referrer-Policy"] == "no-referrer"
    bad = requests.Session()
    bad.get(hub.url + "/hub/login", timeout=10)
    r = bad.post(hub.url + "/hub/login", data={"username": "tinh", "password": PASSWORD}, timeout=10)
    assert r.status_code == 403  # no CSRF token


def test_a_center_manager_sees_only_their_center(world):
    hub, _, prov = world
    s = hub_session(hub.url, "tanlap-manager")
    assert s.get(hub.url + "/hub/api/report?center=hoabinh", timeout=10).status_code == 403
    assert s.get(hub.url + "/hub/reports.csv?center=hoabinh", timeout=10).status_code == 403
    assert s.get(hub.url + "/hub/api/live?center=hoabinh", timeout=10).status_code == 403
    rep = s.get(hub.url + "/hub/api/report", timeout=10).json()
    assert [c["id"] for c in rep["centers"]] == ["tanlap"] and rep["summary"]["issued"] == 0
    assert all(r["key"] == "tanlap" for r in rep["rows"])
    csv = s.get(hub.url + "/hub/reports.csv", timeout=10).text
    assert "Hòa Bình" not in csv and "hoabinh" not in csv
    live = s.get(hub.url + "/hub/api/live", timeout=10).json()
    assert [c["center"] for c in live["centers"]] == ["tanlap"]
    page = s.get(hub.url + "/hub/reports", timeout=10).text
    assert "Hòa Bình" not in page
    # the province sees both
    assert {c["center"] for c in prov.get(hub.url + "/hub/api/live", timeout=10).json()["centers"]} == {
        "hoabinh", "tanlap"}


def test_a_centers_figures_at_the_hub_equal_its_own_report(world):
    hub, center, prov = world
    day = _today()
    own = center.get(f"/manager/api/report?from={day}&to={day}&group=service", who="manager").json()
    hub_rep = prov.get(hub.url + f"/hub/api/report?from={day}&to={day}&center=hoabinh&group=service",
                       timeout=10).json()
    assert own["summary"]["no_show"] == 1 and own["summary"]["left"] == 1 and own["summary"]["served"] == 6
    for k in FIGURES:
        assert hub_rep["summary"][k] == own["summary"][k], k
    assert hub_rep["summary"]["satisfied_share"] == own["satisfaction"]["overall"][0]["satisfied_share"] < 1
    theirs = {r["key"]: r for r in own["rows"]}
    ours = {r["key"]: r for r in hub_rep["rows"]}
    assert set(ours) == set(theirs) == {"CT", "HT"}
    for service, row in theirs.items():
        for k in FIGURES:
            assert ours[service][k] == row[k], (service, k)
        per = center.get(f"/manager/api/report?from={day}&to={day}&service={service}", who="manager").json()
        sat = per["satisfaction"]["overall"]
        assert ours[service]["satisfied_share"] == (sat[0]["satisfied_share"] if sat else None), service
    procs = prov.get(hub.url + "/hub/api/report?center=hoabinh&group=procedure", timeout=10).json()["rows"]
    by_proc = {p["key"]: p for p in own["procedures"]}
    for p in procs:
        assert p["proc_mean_s"] == by_proc[p["key"]]["service_mean_s"], p["key"]
        assert p["proc_median_s"] == by_proc[p["key"]]["service_median_s"], p["key"]


def test_csv_and_xlsx_have_vietnamese_headers_and_english_on_request(world):
    hub, _, prov = world
    r = prov.get(hub.url + "/hub/reports.csv?group=service", timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/csv")
    text = r.content.decode("utf-8-sig")
    assert "Số cấp" in text and "Chờ trung vị (giây)" in text and "Xếp hạng trung tâm" in text
    assert "Issued" in prov.get(hub.url + "/hub/reports.csv?lang=en", timeout=10).text
    x = prov.get(hub.url + "/hub/reports.xlsx?lang=vi", timeout=10)
    assert x.status_code == 200 and x.content[:2] == b"PK"


def test_live_panel_counts_waiting_citizens(world):
    hub, _, prov = world
    live = {c["center"]: c for c in prov.get(hub.url + "/hub/api/live", timeout=10).json()["centers"]}
    assert live["hoabinh"]["waiting"] == 2 and live["hoabinh"]["longest_wait_s"] >= 0
    assert live["hoabinh"]["last_contact_s"] is not None and live["hoabinh"]["last_contact_s"] < 60
    assert live["tanlap"]["last_contact_s"] is None
    kinds = {(a["center"], a["kind"]) for a in prov.get(hub.url + "/hub/api/live", timeout=10).json()["alerts"]}
    assert ("tanlap", "silent") in kinds and ("hoabinh", "silent") not in kinds


@pytest.mark.browser
def test_province_signs_in_sees_the_panel_and_a_chart(page, world):
    hub, _, _ = world
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(hub.url + "/hub/")
    page.fill("input[name=username]", "tinh")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator('#live tr[data-center="hoabinh"] td.waiting')).to_have_text("2", timeout=15000)
    expect(page.locator("#alerts .alert-silent")).to_have_count(1)
    page.screenshot(path=str(DOCS / "hub-panel.png"), full_page=True)
    page.goto(hub.url + "/hub/reports?group=service")
    page.wait_for_function("typeof Chart !== 'undefined' && !!Chart.getChart(document.getElementById('chart-rows'))",
                           timeout=15000)
    assert page.locator("canvas#chart-rows").count() == 1
    assert "Chứng thực" in page.text_content("#rows")


def test_a_ticket_called_then_cancelled_at_closing_counts_once_in_the_service_level(world, pg_db):  # noqa: F811
    """The center's denominator is "called or left/cancelled": hub_daily's waited + cancelled would count it twice."""
    import psycopg

    from center.hub.schema import partition_ddl
    from center.hub.summary import rebuild

    hub, _, prov = world
    day = "2020-01-15"
    rows = [(1, "served", 60.0), (2, "cancelled", 1200.0), (3, "cancelled", None), (4, "left", None)]
    with psycopg.connect(pg_db, autocommit=True) as conn:
        conn.execute(partition_ddl("tickets", datetime.fromisoformat(day).date()))
        for tid, status, wait in rows:
            conn.execute("INSERT INTO tickets (center, id, site, service, service_day, status, issued_at, queue_at, "
                         "wait_s) VALUES ('tanlap', %s, 'tl-main', 'CT', %s, %s, %s, %s, %s)",
                         (tid, day, status, f"{day}T02:00:00Z", f"{day}T02:00:00Z", wait))
        with conn.transaction():
            rebuild(conn, "tanlap", [datetime.fromisoformat(day).date()])
    s = prov.get(hub.url + f"/hub/api/report?from={day}&to={day}&center=tanlap", timeout=10).json()["summary"]
    assert (s["sl_within"], s["sl_total"], s["service_level"]) == (1, 4, 0.25)
    assert (s["wait_median_s"], s["wait_p90_s"], s["wait_mean_s"]) == (630.0, 1086.0, 630.0)
