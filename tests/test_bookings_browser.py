"""Bookings in Debian's chromium (Playwright) against a real server: book at the reception desk, check in at the
kiosk with the on-screen keypad and with a scanner's typing (the code and Enter), see the booked ticket, call
it at a counter; look up and cancel at the desk."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from .counter_support import sign_in

pytestmark = pytest.mark.browser


def book_at_the_desk(page, name: str, phone: str) -> str:
    page.select_option("#b-service", "CT")
    expect(page.locator("#b-slot option").first).to_be_attached()
    page.fill("#b-name", name)
    page.fill("#b-phone", phone)
    page.click("#b-book")
    expect(page.locator("#b-made")).to_contain_text("Mã: ")
    return re.search(r"Mã: ([A-Z0-9]{6})", page.locator("#b-made").inner_text()).group(1)


def test_book_at_the_desk_check_in_at_the_kiosk_and_call_it(page, server):
    page.set_viewport_size({"width": 1400, "height": 1000})
    sign_in(page, server, "staff1", "/desk/main")
    first = book_at_the_desk(page, "Nguyễn Văn A", "0912 345 678")
    second = book_at_the_desk(page, "Trần Thị B", "0912 345 678")
    third = book_at_the_desk(page, "Lê Văn C", "0987 654 321")  # the first phone has its 2 bookings of the day
    # Look up and cancel the third at the desk.
    page.fill("#b-code", third.lower())
    page.click("#b-lookup")
    expect(page.locator("#b-found")).to_contain_text("Lê Văn C")
    page.click("#b-cancel")
    expect(page.locator("#b-found")).to_contain_text("đã hủy")
    expect(page.locator("#b-cancel")).to_be_hidden()

    page.goto(f"{server.url}/kiosk/main-kiosk-1#token={server.tokens['main-kiosk-1']}")
    page.set_viewport_size({"width": 1920, "height": 1080})
    # The keypad.
    page.click("#k-booked")
    expect(page.locator("#k-code")).to_be_visible()
    for ch in first:
        page.click(f'.k-key[data-key="{ch}"]')
    page.click('.k-key[data-key="del"]')
    page.click(f'.k-key[data-key="{first[-1]}"]')
    expect(page.locator("#k-code-input")).to_have_value(first)
    page.click("#k-code-ok")
    expect(page.locator("#k-ticket")).to_be_visible()
    expect(page.locator("#t-booking")).to_contain_text("ĐẶT LỊCH")
    one = page.locator("#t-number").inner_text()
    page.click("#k-done")
    # A scanner types the code and Enter on the start screen.
    expect(page.locator("#k-start")).to_be_visible()
    page.keyboard.type(second.lower())
    page.keyboard.press("Enter")
    expect(page.locator("#k-ticket")).to_be_visible()
    expect(page.locator("#t-booking")).to_contain_text("ĐẶT LỊCH")
    two = page.locator("#t-number").inner_text()
    assert one != two
    page.click("#k-done")
    # The cancelled one is refused with the reason.
    page.click("#k-booked")
    page.fill("#k-code-input", third)
    page.press("#k-code-input", "Enter")
    expect(page.locator("#k-error-text")).to_contain_text("đã hủy")

    called = server.post("/api/counters/main-1/call-next", who="staff1")
    assert called.status_code == 200 and called.json()["number"] in (one, two)
    looked = server.get(f"/api/bookings/{first}", who="staff1").json()
    assert looked["status"] == "checked_in" and looked["ticket"]["number"] == one
