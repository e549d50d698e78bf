"""The manager's audit log page (/manager/audit) in real Chromium against a real server."""

from __future__ import annotations

import re

import pytest
import requests
from playwright.sync_api import expect

from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


def sign_in(page, server, user="manager"):
    page.goto(server.url + "/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()


@pytest.fixture
def busy(server):
    """staff1 calls a citizen at counter main-1, serves them, then pauses the counter for a meeting."""
    t = server.post("/api/tickets", who="main-kiosk-1", json={"site": "main", "service": "CT"})
    assert t.ok, t.text
    assert server.post("/api/counters/main-1/call-next", who="staff1").ok
    assert server.post("/api/counters/main-1/no-show", who="staff1", json={}).ok
    r = server.post("/api/counters/main-1/pause", who="staff1", json={"reason": "meeting"})
    assert r.ok, r.text
    return server, t.json()["number"]


def test_manager_sees_a_staff_members_call_and_pause(page, busy):
    server, number = busy
    sign_in(page, server)
    page.goto(server.url + "/manager/audit")
    called = page.locator('#audit tr[data-action="called"][data-actor="staff1"]')
    expect(called).to_have_count(1, timeout=10000)
    expect(called).to_contain_text("Gọi số")
    expect(called).to_contain_text(number)
    expect(called).to_contain_text("Quầy")  # the counter's name, not its id
    paused = page.locator('#audit tr[data-action="counter_pause"][data-actor="staff1"]')
    expect(paused).to_have_count(1)
    expect(paused).to_contain_text("Tạm dừng quầy")
    expect(paused).to_contain_text("họp")
    # Local time (UTC+7): the ISO time stored in UTC is not what is shown.
    entry = server.get("/api/audit", who="manager", params={"staff": "staff1"}).json()["entries"][0]
    assert entry["at"][11:16] not in page.text_content('#audit tbody tr:first-child td:first-child')
    # Filtering by another staff member hides staff1's actions.
    page.select_option("select[name=staff]", "staff2")
    page.click("#audit-filters button[type=submit]")
    expect(page.locator("#audit tr.empty")).to_have_count(1, timeout=10000)
    expect(page.locator('#audit tr[data-actor="staff1"]')).to_have_count(0)
    # English via ?lang=en.
    page.goto(server.url + "/manager/audit?lang=en")
    expect(page.locator('#audit tr[data-action="counter_pause"]')).to_contain_text("Paused the counter",
                                                                                  timeout=10000)


def test_audit_page_is_linked_from_the_manager_navigation(page, server):
    sign_in(page, server)
    page.goto(server.url + "/manager/")
    page.click("nav.mgr-nav >> text=Nhật ký thao tác")
    expect(page).to_have_url(server.url + "/manager/audit")


def test_staff_get_403_and_anonymous_are_sent_to_sign_in(server):
    r = server.get("/manager/audit", who="staff1")
    assert r.status_code == 403
    r = requests.get(server.url + "/manager/audit", allow_redirects=False, timeout=10)
    assert r.status_code in (302, 303) and "/login" in r.headers["Location"]


def test_a_forced_release_shows_who_put_the_citizen_back_in_the_queue(page, server):
    t = server.post("/api/tickets", who="main-kiosk-1", json={"site": "main", "service": "CT"}).json()
    assert server.post("/api/counters/main-1/call-next", who="staff1").ok
    assert server.post("/api/counters/main-1/release", who="admin", json={"force": True}).ok
    sign_in(page, server)
    page.goto(server.url + "/manager/audit")
    back = page.locator('#audit tr[data-action="requeued"][data-actor="admin"]')
    expect(back).to_have_count(1, timeout=10000)
    expect(back).to_contain_text("Đưa số về hàng chờ")
    expect(back).to_contain_text(t["number"])
    released = page.locator('#audit tr[data-action="counter_release"][data-actor="admin"]')
    expect(released).to_contain_text("Buộc đóng quầy")
    expect(released).to_contain_text("quầy do: staff1")
    expect(released).to_contain_text("về lại chỗ trong hàng chờ")


def test_sign_ins_and_unknown_details_read_as_words_not_json(page, server):
    """A sign-in's detail is its address in words; a key the page does not know reads as its name, typed text
    stays text (escaped), and no raw JSON reaches the cell."""
    import json
    import sqlite3

    sign_in(page, server)  # records "login" with {"address": "127.0.0.1"}
    with sqlite3.connect(server.db) as conn:
        conn.execute("INSERT INTO audit_log (at, actor, role, action, target, detail) VALUES (?,?,?,?,?,?)",
                     (entry_time(server), "manager", "manager", "voice_pack.create", "7",
                      json.dumps({"lang": "vi", "name": "<b>Giọng</b> chị Lan", "mood": {"tone_level": 2},
                                  "extra_tags": ["a", "b"]}, ensure_ascii=False)))
    page.goto(server.url + "/manager/audit?staff=manager")
    login = page.locator('#audit tr[data-action="login"][data-actor="manager"]').first
    expect(login).to_contain_text("Đăng nhập", timeout=10000)
    cell = login.locator("td").nth(6)
    expect(cell).to_have_text("địa chỉ máy: 127.0.0.1")
    created = page.locator('#audit tr[data-action="voice_pack.create"]')
    expect(created).to_contain_text("Tạo bộ giọng")
    detail = created.locator("td").nth(6)
    expect(detail).to_contain_text("ngôn ngữ: vi")
    expect(detail).to_contain_text("tên: <b>Giọng</b> chị Lan")  # shown as typed: not bold, not markup
    expect(detail).to_contain_text("mood: tone level: 2")
    expect(detail).to_contain_text("extra tags: a, b")
    assert created.locator("b").count() == 0
    for cell_text in page.locator("#audit tbody td:nth-child(7)").all_text_contents():
        assert "{" not in cell_text and '"' not in cell_text, cell_text


def entry_time(server) -> str:
    """Now, as the audit log stores it (UTC ISO): the entry falls in today's page."""
    from datetime import UTC, datetime

    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def test_audit_times_are_in_vietnamese_date_order(page, server):
    sign_in(page, server)
    page.goto(server.url + "/manager/audit?staff=manager")
    first = page.locator('#audit tbody tr[data-action] td').first
    expect(first).to_have_text(re.compile(r"^\d{2}:\d{2}:\d{2} \d{2}/\d{2}/\d{4}$"), timeout=10000)


def test_an_early_no_show_reads_how_soon_and_whether_the_clerk_confirmed_it(page, server):
    """Issue 26 item 5: a no-show seconds after the call asks the clerk first; the audit log says how soon it came
    and that it was confirmed, in words (not `after_call_s: 0 · early: true`)."""
    t = server.post("/api/tickets", who="main-kiosk-1", json={"site": "main", "service": "CT"})
    assert t.ok, t.text
    assert server.post("/api/counters/main-1/call-next", who="staff1").ok
    r = server.post("/api/counters/main-1/no-show", who="staff1", json={"confirmed": True})
    assert r.ok, r.text
    sign_in(page, server)
    page.goto(server.url + "/manager/audit?staff=staff1")
    row = page.locator('#audit tr[data-action="no_show"][data-actor="staff1"]').first
    expect(row).to_contain_text("Vắng mặt", timeout=10000)
    detail = row.locator("td").nth(6)
    expect(detail).to_contain_text("báo vắng sớm")
    expect(detail).to_contain_text("cán bộ đã xác nhận")
    expect(detail).to_contain_text(re.compile(r"sau khi gọi: \d+ giây"))
    assert "after_call_s" not in detail.text_content() and "true" not in detail.text_content()


def test_a_pause_after_wrong_booking_codes_reads_in_words(page, server):
    """Issue 25: five wrong codes from a kiosk start a pause; the manager reads it as an action with its figures."""
    for n in range(5):
        r = server.post("/kiosk/main-kiosk-1/check-in", who="main-kiosk-1", json={"code": "ZZZZZ" + "23456"[n]})
        assert r.status_code in (404, 429), r.text
    sign_in(page, server)
    page.goto(server.url + "/manager/audit")
    row = page.locator('#audit tr[data-action="booking.code_locked"]').first
    expect(row).to_contain_text("Tạm khóa nhập mã đặt lịch (sai nhiều lần)", timeout=10000)
    detail = row.locator("td").nth(6)
    expect(detail).to_contain_text("mã sai: 5")
    expect(detail).to_contain_text("tạm khóa: 30 giây")
    expect(detail).to_contain_text("máy hoặc tài khoản này")
    assert "pause_s" not in detail.text_content() and "window_s" not in detail.text_content()
