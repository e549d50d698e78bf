"""A booked ticket says one thing, true for a booked citizen: when they are called (before: "Chưa có quầy mở – …"
above "Thời gian chờ dự kiến: dưới 5 phút", for a slot sold for today)."""

from __future__ import annotations

from center.output import printing
from tests.test_booking_code_limits import book

CHECK_IN = "/kiosk/main-kiosk-1/check-in"

def test_an_early_booked_ticket_says_when_it_is_called_and_nothing_else(web, clock):
    code = book(web)  # the 09:30 slot; the test clock is at 09:00
    r = web.post(CHECK_IN, who="main-kiosk-1", json={"code": code})
    assert r.status_code == 201, r.get_data(as_text=True)
    t = r.get_json()["ticket"]
    assert t["booking_wait"] == "Giờ hẹn 09:30 – Ông/Bà được gọi từ 09:30"
    assert t["booking_wait_en"] == "Booked for 09:30 – you are called from 09:30"
    # No walk-in's wait, no "no counter open" beside it.
    assert t["counter_note"] == "" and t["counter_note_en"] == ""
    assert t["estimated_wait_range_s"] is None and t["estimated_wait_s"] is None
    if t.get("speech"):
        assert "Chưa có quầy mở" not in t["speech"]["vi"] and "Thời gian chờ" not in t["speech"]["vi"]
        assert "Giờ hẹn 09:30, Ông/Bà được gọi từ 09:30" in t["speech"]["vi"]

def test_the_printed_booked_ticket_says_the_same(web, clock):
    c = web.app.extensions["xephang"]
    code = book(web)
    from center.queue.actors import Actor

    ticket = c.engine.check_in(code, Actor("main-kiosk-1", "kiosk", "main"), site_code="main")
    with web.app.test_request_context():
        data = printing.ticket_data(c, ticket, "http://127.0.0.1/")
    assert data.wait_note == "Giờ hẹn 09:30 – Ông/Bà được gọi từ 09:30" and data.wait_text == ""

def test_on_time_it_says_soon_and_late_it_is_a_walk_in_with_the_walk_ins_wait(web, clock):
    on_time, late = book(web), book(web)
    clock.advance(minutes=35)  # 09:35: inside the 15 min grace
    t = web.post(CHECK_IN, who="main-kiosk-1", json={"code": on_time}).get_json()["ticket"]
    assert t["booking_wait"] == "Giờ hẹn 09:30 – Ông/Bà sẽ được gọi sớm"
    clock.advance(minutes=20)  # 09:55: late
    t = web.post(CHECK_IN, who="main-kiosk-1", json={"code": late}).get_json()["ticket"]
    assert t.get("booking_wait") is None and t["estimated_wait_range_s"] is not None
