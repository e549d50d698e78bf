"""The kiosk and the phone page in Debian's chromium (Playwright) against a real server."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def open_kiosk(page, server, kiosk="main-kiosk-1"):
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.goto(f"{server.url}/kiosk/{kiosk}#token={server.tokens[kiosk]}")
    expect(page.locator("#k-start")).to_be_visible()
    expect(page.locator("#k-notoken")).to_be_hidden()


def test_tap_a_service_and_see_the_ticket(page, server):
    open_kiosk(page, server)
    page.locator('.k-service[data-service="CT"]').click()
    expect(page.locator("#k-ticket")).to_be_visible()
    for other in ("#k-start", "#k-busy", "#k-groups", "#k-error", "#k-notoken"):
        expect(page.locator(other)).to_be_hidden()  # one screen at a time
    expect(page.locator("#t-number")).to_have_text("A001")
    expect(page.locator("#t-service")).to_have_text("Chứng thực")
    expect(page.locator("#t-counters")).to_have_text("Các quầy 1, 2, 3, 6")
    expect(page.locator("#t-ahead")).to_contain_text("0 người")
    expect(page.locator("#t-qr")).to_have_attribute("src", re.compile(r"^/t/.+/qr\.svg$"))
    # One ticket, issued by this kiosk.
    queue = server.get("/api/queue?site=main").json()
    assert next(s for s in queue["services"] if s["code"] == "CT")["waiting"] == 1
    # Back to the start by itself.
    expect(page.locator("#k-start")).to_be_visible(timeout=15000)


def test_priority_path_is_two_taps(page, server):
    open_kiosk(page, server)
    page.locator('.k-prio[data-priority-for="HD"]').click()
    expect(page.locator("#k-groups")).to_be_visible()
    page.locator('.k-group[data-group="elderly"]').click()
    expect(page.locator("#k-ticket")).to_be_visible()
    expect(page.locator("#t-number")).to_have_text("H001")
    expect(page.locator("#t-priority")).to_contain_text("Người cao tuổi")
    ticket = server.get("/api/tickets/1").json()
    assert ticket["priority"] == "elderly" and ticket["source"] == "kiosk"


def test_english_toggle(page, server):
    page.goto(f"{server.url}/kiosk/main-kiosk-1?lang=en#token={server.tokens['main-kiosk-1']}")
    expect(page.locator('.k-service[data-service="CT"] .k-name')).to_have_text("Certification")
    page.locator('.k-service[data-service="CT"]').click()
    expect(page.locator("#t-wait")).to_contain_text("Estimated wait")


def test_phone_page_shows_the_call_live(page, server):
    t = server.post("/kiosk/main-kiosk-1/issue", who="main-kiosk-1", json={"service": "CT"},
                    headers={"Accept": "application/json"}).json()["ticket"]
    page.set_viewport_size({"width": 390, "height": 800})
    page.goto(t["public_url"])
    expect(page.locator("#f-status")).to_have_text("Đang chờ")
    r = server.post("/api/counters/main-3/call-next", who="staff1")
    assert r.status_code == 200 and r.json()["number"] == "A001"
    expect(page.locator("#f-called")).to_have_text("Mời Ông/Bà đến quầy số 3")
