"""A wrong booking code at the kiosk in Debian's chromium: the code stays as typed, one character is corrected
by touching it, and "Hỏi cán bộ" says where to get help (before: one button back to the start, all 6 again)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from center.queue.bookings import ALPHABET

pytestmark = pytest.mark.browser


def book_next_slot(server) -> str:
    """A booking of the next slot of today that has not started, with a free place (the demo sites are open around
    the clock): checked in now, it is on time, never late (a slot that began over grace_min ago would make the
    citizen a walk-in, and the ticket would rightly show a walk-in's wait)."""
    now = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh"))
    slots = []
    for day in (now.date(), now.date() + timedelta(days=1)):  # a minute before midnight: tomorrow's first
        slots += server.get(f"/api/bookings/slots?site=main&service=CT&day={day.isoformat()}",
                            who="staff1").json()["slots"]
    slot = next(s for s in slots
                if s["free"] > 0 and datetime.fromisoformat(s["slot_at"].replace("Z", "+00:00")) > now)
    r = server.post("/api/bookings", who="staff1", json={"site": "main", "service": "CT", "slot_at": slot["slot_at"]})
    assert r.status_code == 201, r.text
    return r.json()["code"]


def test_a_mistyped_code_keeps_what_was_typed_and_one_character_is_corrected(page, server):
    code = book_next_slot(server)
    wrong = code[:3] + next(ch for ch in ALPHABET if ch != code[3]) + code[4:]
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.goto(f"{server.url}/kiosk/main-kiosk-1#token={server.tokens['main-kiosk-1']}")
    page.click("#k-booked")
    for ch in wrong:
        page.click(f'.k-key[data-key="{ch}"]')
    page.click("#k-code-ok")
    # Still the code screen, the code as typed, the reason, and the two ways on.
    expect(page.locator("#k-code")).to_be_visible()
    expect(page.locator("#k-error")).to_be_hidden()
    expect(page.locator("#k-code-input")).to_have_value(wrong)
    expect(page.locator("#k-code-error")).to_contain_text("Không có lịch hẹn với mã này")
    expect(page.locator("#k-code-hint")).to_have_text("Chạm vào ký tự sai để sửa, rồi chạm ký tự đúng")
    expect(page.locator(".k-cell")).to_have_text(list(wrong))
    page.click("#k-code-ask")
    expect(page.locator("#k-code-staff")).to_contain_text(f"Mời Ông/Bà đến bàn tiếp đón hoặc gặp cán bộ hướng dẫn và "
                                                         f"đọc mã đã nhập: {wrong}")
    # Touch the 4th character, then the right one: only it changes.
    page.click('.k-cell[data-index="3"]')
    expect(page.locator('.k-cell[data-index="3"]')).to_have_class("k-cell is-edit")
    page.click(f'.k-key[data-key="{code[3]}"]')
    expect(page.locator("#k-code-input")).to_have_value(code)
    page.click("#k-code-ok")
    expect(page.locator("#k-ticket")).to_be_visible()
    expect(page.locator("#t-booking")).to_contain_text("ĐẶT LỊCH")
    # One line for when they are called: no "no counter open", no walk-in's wait beside it.
    expect(page.locator("#t-wait")).to_contain_text("Giờ hẹn ")
    expect(page.locator("#t-wait")).not_to_contain_text("Thời gian chờ dự kiến")
    expect(page.locator("#t-note")).to_be_hidden()


def test_the_pause_after_repeated_wrong_codes_is_said_on_the_code_screen(page, server):
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.goto(f"{server.url}/kiosk/main-kiosk-1#token={server.tokens['main-kiosk-1']}")
    page.click("#k-booked")
    for ch in "ZZZZZ2":
        page.click(f'.k-key[data-key="{ch}"]')
    page.click("#k-code-ok")
    expect(page.locator("#k-code-error")).to_have_text("Không có lịch hẹn với mã này tại điểm tiếp nhận này")
    for last in "3456":  # four more wrong codes, each corrected in its last character: the fifth starts the pause
        page.click('.k-cell[data-index="5"]')
        page.click(f'.k-key[data-key="{last}"]')
        expect(page.locator("#k-code-input")).to_have_value("ZZZZZ" + last)
        page.click("#k-code-ok")
        expect(page.locator("#k-code-input")).to_have_value("ZZZZZ" + last)
    paused = "Nhập sai quá nhiều lần – vui lòng chờ 30 giây hoặc hỏi cán bộ"
    expect(page.locator("#k-code-error")).to_contain_text(paused)
    page.click('.k-cell[data-index="5"]')
    page.click('.k-key[data-key="7"]')
    page.click("#k-code-ok")  # the sixth: refused before it is looked up
    expect(page.locator("#k-code-error")).to_have_text(
        re.compile(r"^Nhập sai quá nhiều lần – vui lòng chờ \d+ giây hoặc hỏi cán bộ$"))
    expect(page.locator("#k-code-ask")).to_be_visible()


def test_staff_see_the_pause_on_the_desk_page(page, server):
    from .counter_support import sign_in

    for code in ("ZZZZZ2", "ZZZZZ3", "ZZZZZ4", "ZZZZZ5", "ZZZZZ6"):
        r = server.post("/kiosk/main-kiosk-1/check-in", who="main-kiosk-1", json={"code": code},
                        headers={"Accept": "application/json"})
        assert r.status_code == 404
    page.set_viewport_size({"width": 1400, "height": 1000})
    sign_in(page, server, "staff1", "/desk/main")
    alert = page.locator("#d-code-alert")
    expect(alert).to_be_visible()
    expect(alert).to_contain_text("nhập sai mã đặt lịch nhiều lần – tạm khóa nhập mã đến ")
    expect(alert).to_contain_text("(lần 1 trong 1 giờ)")
    name = server.get("/desk/main/code-alerts", who="staff1").json()["alerts"][0]["caller_name"]
    expect(alert).to_contain_text(f"Cảnh báo: {name} ")
