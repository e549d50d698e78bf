"""Issue 13 items 9–11 and 14 where a person sees them, in real Chromium against a real server: durations on
the report and printed pages, the overview's alerts and today's figures, the audit log and device pages in
Vietnamese (English when switched), and the start page's links."""

from __future__ import annotations

import json
import re
import sqlite3
from contextlib import closing

import pytest
from playwright.sync_api import expect

from tests.conftest import DEMO_CONFIG, PASSWORD, FakeClock, Server, prepare_accounts
from tests.manager_support import DAY, STAFF1

pytestmark = pytest.mark.browser
STAFF2 = STAFF1.__class__("staff2", "staff")
BOUNDARIES = [0, 59.4, 59.5, 119.5, 1619.4, 1619.5, 1619.6, 3599.4, 3599.5, 3599.6, 3600, 7199.5, None, -3]


def build_day(engine, clock) -> None:
    """Two Chứng thực citizens called after 1,619 s and 1,620 s (mean and median 1,619.5 s: "26:60" before), a
    transfer keeping its place, a failed print, a test print and a day closed by the system."""
    t1 = engine.issue("main", "CT")["id"]
    clock.advance(seconds=1)
    engine.issue("main", "CT")
    engine.issue("main", "HT")
    clock.advance(seconds=1618)  # 09:26:59
    engine.take_counter("main-1", STAFF1)
    assert engine.call_next("main-1", STAFF1)["id"] == t1
    clock.advance(seconds=2)
    engine.take_counter("main-2", STAFF2)
    engine.call_next("main-2", STAFF2)
    clock.advance(minutes=4)
    engine.finish("main-1", STAFF1, ["CT-BS"])
    engine.transfer("main-2", STAFF2, service="HT", keep_place=True)
    clock.advance(minutes=1)
    now = clock().strftime("%Y-%m-%dT%H:%M:%S.000Z")
    with engine.store.write() as conn:
        conn.execute("INSERT INTO ticket_events (ticket_id, at, kind, site, counter_id, staff, data) "
                     "VALUES (?,?,?,?,NULL,?,?)",
                     (t1, now, "print_failed", "main", "main-kiosk-1", json.dumps(
                         {"kiosk": "main-kiosk-1", "job": 7, "error": "paper_out", "message": "Máy in hết giấy",
                          "health": {"online": True, "paper": "out"}}, ensure_ascii=False)))
        conn.execute("INSERT INTO audit_log (at, actor, role, action, target, detail) VALUES (?,?,?,?,?,?)",
                     (now, "admin", "admin", "printer.test", "main-kiosk-1",
                      json.dumps({"ok": True, "status": "printed", "driver": "file"})))
        conn.execute("INSERT INTO audit_log (at, actor, role, action, target, detail) VALUES (?,?,?,?,?,?)",
                     (now, "admin", "admin", "user.role", "staff2", json.dumps({"role": "manager"})))
    clock.advance(minutes=30)
    engine.close_day("main")


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    db = tmp_path_factory.mktemp("manager-ops-browser") / "center.sqlite3"
    tokens = prepare_accounts(db)
    from center.config.read import load_config
    from center.queue.engine import Engine
    from center.storage.store import Store

    clock = FakeClock()
    store = Store(db)
    build_day(Engine(store, load_config(DEMO_CONFIG), clock=clock), clock)
    store.close()
    server = Server(db=db, config=DEMO_CONFIG, tokens=tokens).start()
    yield server
    server.stop()


def sign_in(page, server, user="manager"):
    page.goto(server.url + "/login?lang=vi")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()


# ---------------------------------------------------------------------- 9


def test_reports_and_printed_reports_show_27_00_never_26_60(page, srv):
    sign_in(page, srv)
    page.goto(srv.url + f"/manager/reports?from={DAY}&to={DAY}&site=main&group=service")
    mean = page.locator("#summary .kpi").nth(6)
    expect(mean).to_contain_text("Chờ trung bình")
    expect(mean.locator(".v")).to_have_text("27:00")
    ct = page.locator('#rows-table tr[data-key="CT"] td')
    assert [ct.nth(i).text_content() for i in (7, 8)] == ["27:00", "27:00"]  # mean, median
    assert not re.search(r"\d:60\b", page.text_content("main"))
    for path in (f"/manager/reports/print?period=day&date={DAY}&site=main",
                 f"/manager/reports/print?period=month&month={DAY[:7]}&site=main"):
        page.goto(srv.url + path)
        waits = page.locator("#print-summary tr").nth(6).locator("td").nth(1)
        expect(waits).to_have_text(re.compile(r"^27:00 / 27:00 / "))
        assert not re.search(r"\d:60\b", page.text_content("main")), path


def test_the_javascript_duration_is_the_twin_of_the_python_one(page, srv):
    from center.reports import fmt_duration

    sign_in(page, srv)
    page.goto(srv.url + "/manager/?site=main")
    shown = page.evaluate("(xs) => xs.map((x) => xephang.duration(x))", BOUNDARIES)
    assert shown == [fmt_duration(x) for x in BOUNDARIES]
    assert shown[2] == "1:00" and shown[9] == "1:00:00"


# ---------------------------------------------------------------------- 10


def test_overview_alerts_an_elderly_citizen_nobody_serves_and_shows_todays_figures(page, srv):
    r = srv.post("/api/tickets", who="main-kiosk-1", json={"site": "main", "service": "CT"})
    assert r.ok, r.text
    ticket = r.json()["id"]
    for action in ("take", "call-next", "start"):
        assert srv.post(f"/api/counters/main-1/{action}", who="staff1").ok, action
    assert srv.post("/api/counters/main-1/finish", who="staff1", json={"procedures": ["CT-BS"]}).ok
    rated = srv.post("/counter/main-1/rating", who="staff1", json={"ticket": ticket, "level": "very_satisfied"})
    assert rated.status_code == 201, rated.text
    assert srv.post("/api/tickets", who="main-kiosk-1",
                    json={"site": "main", "service": "HT", "priority": "elderly"}).ok
    sign_in(page, srv)
    page.goto(srv.url + "/manager/?site=main")
    alert = page.locator('#alerts li[data-kind="unserved"]')
    expect(alert).to_contain_text("Tư pháp – Hộ tịch: 1 người đang chờ, trong đó 1 người ưu tiên")
    expect(alert).to_contain_text("không có quầy nào đang mở")
    assert page.locator("#alerts li.none").count() == 0
    expect(page.locator('[data-kpi="service-level"] .v')).to_have_text("100.0%")
    expect(page.locator('[data-kpi="service-level"] .l')).to_contain_text("Mức phục vụ hôm nay")
    expect(page.locator('[data-kpi="satisfied"] .v')).to_have_text("100.0%")
    expect(page.locator('[data-kpi="satisfied"] .l')).to_contain_text("Hài lòng hôm nay (1 lượt đánh giá)")
    # A counter serving civil status opens: the alert goes at the next refresh.
    assert srv.post("/api/counters/main-3/take", who="staff2").ok
    expect(page.locator('#alerts li[data-kind="unserved"]')).to_have_count(0, timeout=15000)
    assert srv.post("/api/counters/main-3/release", who="staff2").ok
    assert srv.post("/api/counters/main-1/release", who="staff1").ok


# ---------------------------------------------------------------------- 11


def audit_rows(page) -> dict[str, str]:
    page.wait_for_selector("#audit tbody tr[data-action]")
    out = {}
    for row in page.locator("#audit tbody tr[data-action]").all():
        out.setdefault(row.get_attribute("data-action"), " | ".join(row.locator("td").all_text_contents()))
    return out


def test_audit_details_read_in_vietnamese_and_in_english(page, srv):
    sign_in(page, srv)
    page.goto(srv.url + f"/manager/audit?date={DAY}")
    rows = audit_rows(page)
    assert "giữ thứ tự trong hàng chờ mới" in rows["transferred"] and "Tư pháp – Hộ tịch" in rows["transferred"]
    assert "Máy in hết giấy" in rows["print_failed"] and "Kiosk sảnh chính" in rows["print_failed"]
    assert "thành công" in rows["printer.test"] and "máy in: file" in rows["printer.test"]
    assert "vai trò: quản lý" in rows["user.role"]
    assert "hệ thống" in rows["cancelled"] and "lý do: hết giờ làm việc" in rows["cancelled"]
    assert "Chứng thực bản sao từ bản chính" in rows["finished"]
    assert rows["counter_close"].endswith("hết giờ làm việc, đóng ngày")
    everything = " ".join(rows.values())
    for raw in ("keep_place", "true", "{", "system", "closed", "paper_out", "to_ticket", "CT-BS"):
        assert raw not in everything, raw
    page.goto(srv.url + f"/manager/audit?date={DAY}&lang=en")
    rows = audit_rows(page)
    assert "keeps the place in the new queue" in rows["transferred"]
    assert "The printer is out of paper" in rows["print_failed"]
    assert "role: manager" in rows["user.role"] and "succeeded" in rows["printer.test"]
    assert "system" in rows["cancelled"] and "reason: end of the day" in rows["cancelled"]
    assert rows["counter_close"].endswith("end of the day")
    page.goto(srv.url + "/manager/?lang=vi")


def test_role_names_and_device_token_times_are_for_people(page, srv):
    sign_in(page, srv, "admin")
    page.goto(srv.url + "/manager/admin/devices")
    expect(page.locator("header .who")).to_have_text("admin (quản trị)")
    kiosk = page.locator("#tokens tr", has_text="main-kiosk-1")
    cells = kiosk.locator("td").all_text_contents()
    assert cells[1] == "kiosk lấy số" and cells[2] == "Điểm tiếp nhận số 1 – Trụ sở phường"
    created = cells[3]
    assert re.fullmatch(r"\d{2}:\d{2}:\d{2} \d{2}/\d{2}/\d{4}", created), created
    with closing(sqlite3.connect(srv.db)) as conn:
        stored = conn.execute("SELECT created_at FROM tokens WHERE name = 'main-kiosk-1'").fetchone()[0]
    from datetime import datetime
    from zoneinfo import ZoneInfo

    local = datetime.fromisoformat(stored.replace("Z", "+00:00")).astimezone(ZoneInfo("Asia/Ho_Chi_Minh"))
    assert created == local.strftime("%H:%M:%S %d/%m/%Y")
    assert not re.search(r"\d{4}-\d{2}-\d{2}T", page.text_content("#tokens"))
    assert "quản lý" in page.locator("#tokens tr", has_text="manager").locator("td").nth(1).text_content()
    page.goto(srv.url + "/manager/admin/users")
    options = page.locator("#add-user select[name=role] option").all_text_contents()
    assert options == ["quản trị", "quản lý", "cán bộ"]
    page.goto(srv.url + "/manager/admin/users?lang=en")
    expect(page.locator("header .who")).to_have_text("admin (administrator)")
    page.goto(srv.url + "/manager/?lang=vi")


# ---------------------------------------------------------------------- 14


def test_start_page_says_where_device_links_come_from_and_links_every_counter_screen(page, srv):
    page.goto(srv.url + "/?lang=vi")
    note = page.locator("#device-links-note")
    expect(note).to_contain_text("#token=")
    expect(note.locator("a")).to_have_attribute("href", "/manager/admin/devices")
    kiosk = page.locator('a[href="/kiosk/main-kiosk-1"]')
    expect(kiosk).to_have_attribute("data-needs-token", "")
    counter = page.locator('li[data-counter="main-3"]')
    expect(counter.locator('a[href="/counter/main-3/top"]')).to_have_text("màn hình trên quầy")
    expect(counter.locator('a[href="/counter/main-3/rating"]')).to_have_text("bảng đánh giá")
    counter.locator('a[href="/counter/main-3/rating"]').click()
    page.wait_for_load_state()
    assert page.url.endswith("/counter/main-3/rating")
