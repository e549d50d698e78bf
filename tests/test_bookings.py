"""Bookings (issue 17): codes, slots and caps, check-in early / on time / late, the fair merge at a counter,
no-shows and the personal data erased by housekeeping, the hub's bookings coming down, the API and reports."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime, timedelta

import pytest

from center.errors import Conflict, Invalid, NotFound
from center.queue.actors import Actor
from center.queue.bookings import ALPHABET, PURGE_AFTER_DAYS, new_code, normal_code, receive_from_hub
from center.queue.clock import from_iso, to_iso

STAFF = Actor("canbo", "staff")
KIOSK = Actor("main-kiosk-1", "kiosk", site="main")


def slot(engine, minutes_from_now: int) -> str:
    """The start of the slot `minutes_from_now` from the test clock (slots are 30 min, aligned)."""
    t = engine.clock() + timedelta(minutes=minutes_from_now)
    return to_iso(t.replace(minute=t.minute // 30 * 30, second=0, microsecond=0))


def rows(engine, sql, params=()):
    with engine.store.read() as conn:
        return [dict(r) for r in conn.execute(sql, params)]


def test_codes_are_six_unambiguous_characters():
    codes = {new_code() for _ in range(2000)}
    assert len(codes) == 2000
    assert all(len(c) == 6 and set(c) <= set(ALPHABET) for c in codes)
    assert not set("0O1IL") & set(ALPHABET)
    assert normal_code(" ab-cd ef ".replace("ab", "AB")) == "ABCDEF"
    assert normal_code("https://hub.example.vn/b?code=xyz234") == "XYZ234"
    with pytest.raises(NotFound):
        normal_code("ABC0EF")


def test_book_look_up_cancel_and_no_phone_stored(engine):
    b = engine.book("main", "CT", slot(engine, 60), name="Trần Thị B", phone="+84 912 345 678")
    assert b["status"] == "booked" and b["origin"] == "desk" and b["name"] == "Trần Thị B"
    stored = rows(engine, "SELECT * FROM bookings")[0]
    # the number in no form (a hex hash or a time's milliseconds may hold "912" by chance, not nine digits)
    assert not any(form in str(stored) for form in ("912345678", "912 345 678", "+84"))
    assert re.fullmatch(r"[0-9a-f]{64}", stored["phone_hash"])
    assert engine.lookup(b["code"].lower())["code"] == b["code"]
    assert engine.cancel(b["code"])["status"] == "cancelled"
    with pytest.raises(Conflict) as e:
        engine.cancel(b["code"])
    assert e.value.code == "wrong_status"
    with pytest.raises(Conflict):
        engine.check_in(b["code"], KIOSK, site_code="main")


def test_refused_past_closed_full_and_over_the_per_person_cap(engine):
    with pytest.raises(Invalid) as e:
        engine.book("main", "CT", slot(engine, -60))
    assert e.value.code == "slot_past"
    with pytest.raises(Invalid) as e:
        engine.book("main", "CT", to_iso(engine.clock() + timedelta(minutes=47)))  # not a slot start
    assert e.value.code == "slot_closed"
    engine.config = dataclasses.replace(engine.config, booking=dataclasses.replace(
        engine.config.booking, capacity={"CT": 2}))
    at = slot(engine, 90)
    engine.book("main", "CT", at, phone="0912345678")
    engine.book("main", "CT", at, phone="0912 345 678")
    with pytest.raises(Conflict) as e:
        engine.book("main", "CT", at)
    assert e.value.code == "slot_full"
    with pytest.raises(Conflict) as e:  # the same phone, another slot the same day
        engine.book("main", "CT", slot(engine, 150), phone="0912-345-678")
    assert e.value.code == "per_person_cap"
    free = {s["slot_at"]: s for s in engine.slots("main", "CT", engine.today(engine.site("main")))}
    assert free[at]["booked"] == 2 and free[at]["free"] == 0 and free[at]["capacity"] == 2


def test_capacity_from_counters_handling_time_and_share(engine):
    site = engine.site("main")
    counters = sum(1 for c in site.counters if "CT" in c.services)
    b = engine.config.booking
    expected = int(counters * b.slot_min / engine.config.services["CT"].default_service_min * b.share)
    assert engine.slots("main", "CT", engine.today(site))[0]["capacity"] == expected


def test_early_check_in_queues_at_the_slot_and_says_from_when(engine):
    walkin = engine.issue("main", "CT")
    b = engine.book("main", "CT", slot(engine, 90))
    with pytest.raises(Conflict) as e:  # more than early_min (120) before: refused with when to come
        engine.clock.advance(minutes=-60)
        engine.check_in(b["code"], KIOSK, site_code="main")
    assert e.value.code == "too_early"
    engine.clock.advance(minutes=60)
    t = engine.check_in(b["code"], KIOSK, site_code="main", kiosk="main-kiosk-1")
    row = rows(engine, "SELECT * FROM tickets WHERE id = ?", (t["id"],))[0]
    lead = timedelta(minutes=engine.config.booking.lead_min)  # queued a little before its slot: called soon after it
    assert from_iso(row["queue_at"]) == from_iso(b["slot_at"]) - lead and row["booking"] == b["code"]
    assert t["booking"]["called_from"] and "được gọi từ" in t["booking_note"]
    assert t["ahead"] == 1  # the walk-in who came before its slot
    assert engine.lookup(b["code"])["status"] == "checked_in"
    assert engine.call_next("main-1", STAFF)["id"] == walkin["id"]
    with pytest.raises(Conflict):  # a second check-in: the ticket it already has
        engine.check_in(b["code"], KIOSK, site_code="main")


def test_on_time_check_in_goes_before_walk_ins_who_came_after_the_slot_started(engine):
    b = engine.book("main", "CT", slot(engine, 0))
    engine.clock.advance(minutes=5)
    later = engine.issue("main", "CT")
    engine.clock.advance(minutes=5)
    t = engine.check_in(b["code"], STAFF, source="desk")
    assert t["booking_note"] == "ĐẶT LỊCH" and t["ahead"] == 0
    # Queued lead_min (25) before its slot and checked in 10 min after it, the booking has waited 35 min by its
    # queue time: past aging_min (30), it goes first at every counter, so it is ahead of the walk-in everywhere.
    assert engine.get_ticket(later["id"])["ahead"] == 1
    assert engine.call_next("main-1", STAFF)["id"] == t["id"]


def test_late_check_in_is_an_ordinary_walk_in(engine):
    early = engine.issue("main", "CT")
    b = engine.book("main", "CT", slot(engine, 0))
    engine.clock.advance(minutes=engine.config.booking.grace_min + 20)
    t = engine.check_in(b["code"], KIOSK, site_code="main")
    row = rows(engine, "SELECT * FROM tickets WHERE id = ?", (t["id"],))[0]
    assert row["booking"] is None and row["queue_at"] == to_iso(engine.clock())
    assert t["booking"]["late"] and "đến muộn" in t["booking_note"]
    assert rows(engine, "SELECT late, ticket_id FROM bookings")[0] == {"late": 1, "ticket_id": t["id"]}
    assert t["ahead"] == 1 and engine.call_next("main-1", STAFF)["id"] == early["id"]


def test_a_kiosk_checks_in_only_at_its_own_site(engine):
    b = engine.book("branch", "CT", slot(engine, 0))
    with pytest.raises(NotFound):
        engine.check_in(b["code"], KIOSK, site_code="main")


def test_fair_merge_caps_bookings_while_walk_ins_wait_too_long(engine):
    """Bookings at most half of a counter's last 10 calls while a walk-in has waited over 20 minutes."""
    engine.config = dataclasses.replace(engine.config, booking=dataclasses.replace(
        engine.config.booking, capacity={"CT": 100}, max_booked_share=0.5, walkin_wait_min=20, grace_min=60))
    walkins = [engine.issue("main", "CT")["id"] for _ in range(10)]
    engine.clock.advance(minutes=25)  # the walk-ins have waited 25 min: longer than 20
    codes = [engine.book("main", "CT", slot(engine, 0))["code"] for _ in range(10)]
    booked = [engine.check_in(c, STAFF, source="desk")["id"] for c in codes]
    # Their slot started with the walk-ins; give the bookings the head of the queue by arrival (not aged: the
    # demo's aging is 30 min), so only the cap can let walk-ins go first.
    with engine.store.write() as conn:
        conn.execute("UPDATE tickets SET queue_at = ? WHERE booking IS NOT NULL",
                     (to_iso(engine.clock() - timedelta(minutes=28)),))
    calls = []
    for _ in range(10):
        t = engine.call_next("main-1", STAFF)
        calls.append(t["id"] in booked)
        engine.no_show("main-1", STAFF)
    assert sum(calls) == 5 and calls[:5] == [True] * 5  # first by arrival, then the cap holds them back
    for i in range(1, 11):
        assert sum(calls[max(0, i - 10):i]) <= 5
    assert set(walkins) & {r["id"] for r in rows(engine, "SELECT id FROM tickets WHERE status = 'no_show'")}


def test_without_long_waiting_walk_ins_arrival_decides(engine):
    engine.config = dataclasses.replace(engine.config, booking=dataclasses.replace(
        engine.config.booking, capacity={"CT": 100}, max_booked_share=0.0, walkin_wait_min=20))
    b = engine.book("main", "CT", slot(engine, 0))
    engine.clock.advance(minutes=2)
    walkin = engine.issue("main", "CT")
    t = engine.check_in(b["code"], STAFF, source="desk")
    assert engine.call_next("main-1", STAFF)["id"] == t["id"]  # the walk-in waited 0 min: no cap
    engine.no_show("main-1", STAFF)
    assert engine.call_next("main-1", STAFF)["id"] == walkin["id"]


def test_unused_bookings_become_no_shows_and_personal_data_is_erased(engine):
    b = engine.book("main", "CT", slot(engine, 0), name="Lê Văn C", phone="0987654321")
    engine.clock.advance(minutes=30 + engine.config.booking.grace_min - 1)
    engine.housekeeping()
    assert engine.lookup(b["code"])["status"] == "booked"
    engine.clock.advance(minutes=2)
    engine.housekeeping()
    assert engine.lookup(b["code"])["status"] == "no_show"
    assert rows(engine, "SELECT name, phone_hash FROM bookings")[0]["name"] == "Lê Văn C"
    engine.clock.advance(days=PURGE_AFTER_DAYS + 1)
    engine.housekeeping()
    assert rows(engine, "SELECT name, phone_hash FROM bookings")[0] == {"name": None, "phone_hash": None}


def test_bookings_from_the_hub_keep_the_centers_own_state(engine):
    at = slot(engine, 60)
    base = {"site": "main", "service": "CT", "service_day": engine.today(engine.site("main")), "slot_at": at,
            "slot_min": 30, "status": "booked", "created_at": at, "updated_at": at}
    with engine.store.write() as conn:
        assert receive_from_hub(conn, [{**base, "code": "HUB234"}, {**base, "code": "HUB235"}]) == 2
    assert engine.lookup("HUB234")["origin"] == "hub"
    engine.clock.advance(minutes=40)
    engine.check_in("HUB234", STAFF, source="desk")
    cancel = {**base, "status": "cancelled", "cancelled_at": at, "updated_at": at}
    with engine.store.write() as conn:
        assert receive_from_hub(conn, [{**cancel, "code": "HUB234"}, {**cancel, "code": "HUB235"}]) == 1
    assert engine.lookup("HUB234")["status"] == "checked_in"
    assert engine.lookup("HUB235")["status"] == "cancelled"


def test_reports_add_a_bookings_section_only_with_bookings(engine):
    from center.reports.filters import Filters
    from center.reports.paths import report

    day = engine.today(engine.site("main"))
    f = Filters(date_from=day, date_to=day)
    engine.issue("main", "TKQ")
    with engine.store.read() as conn:
        assert "bookings" not in report(conn, engine.config, f, today=day)
    b = engine.book("main", "CT", slot(engine, 0))
    engine.book("main", "CT", slot(engine, 60))
    engine.cancel(engine.book("main", "CT", slot(engine, 90))["code"])
    engine.clock.advance(minutes=3)
    engine.check_in(b["code"], STAFF, source="desk")
    engine.clock.advance(minutes=4)
    engine.call_next("main-1", STAFF)
    with engine.store.read() as conn:
        s = report(conn, engine.config, f, today=day)["bookings"]
    assert (s["made"], s["kept"], s["cancelled"], s["pending"], s["late"]) == (3, 1, 1, 1, 0)
    assert s["booked_called"] == 1 and s["booked_wait_mean_s"] == 420.0  # from the slot's start, not check-in


# ------------------------------------------------------------------------------------------------ API


def test_api_create_look_up_check_in_cancel_and_roles(web, clock):
    at = to_iso(clock.now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1))
    body = {"site": "main", "service": "CT", "slot_at": at, "name": "Phạm D", "phone": "0901234567"}
    for who, status in (("main-kiosk-1", 403), ("main-hall", 403), (None, 401)):
        assert web.post("/api/bookings", who=who, json=body).status_code == status
    r = web.post("/api/bookings", who="staff1", json=body)
    assert r.status_code == 201, r.get_data(as_text=True)
    b = r.get_json()
    assert b["origin"] == "api" and "phone_hash" not in b
    assert web.get(f"/api/bookings/{b['code']}", who="manager").get_json()["name"] == "Phạm D"
    assert web.get(f"/api/bookings/{b['code']}", who="main-kiosk-1").status_code == 403
    slots = web.get(f"/api/bookings/slots?site=main&service=CT&day={b['service_day']}", who="staff1").get_json()
    assert any(s["slot_at"] == at and s["booked"] == 1 for s in slots["slots"])
    assert all(s["walkin_wait_min"] is None for s in slots["slots"])  # no past days: no slot is known to be busy
    assert web.post(f"/api/bookings/{b['code']}/check-in", who="branch-kiosk-1").status_code == 404
    clock.advance(minutes=50)
    r = web.post(f"/api/bookings/{b['code']}/check-in", who="main-kiosk-1")
    assert r.status_code == 201 and r.get_json()["booking"]["code"] == b["code"]
    r = web.post(f"/api/bookings/{b['code']}/cancel", who="staff1")
    assert r.status_code == 409 and r.get_json()["error"] == "wrong_status"


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"site": "main", "service": "CT"}, 422, "missing_field"),
    ({"site": "main", "service": "CT", "slot_at": "2026-11-23T01:00:00Z"}, 422, "slot_past"),
    ({"site": "main", "service": "CT", "slot_at": "tomorrow"}, 422, "slot_closed"),
    ({"site": "main", "service": "CT", "slot_at": "2026-11-23T05:00:00Z", "phone": "12"}, 422, "bad_phone"),
    ({"site": "main", "service": "NOPE", "slot_at": "2026-11-23T05:00:00Z"}, 422, "unknown_service"),
    ({"site": "nowhere", "service": "CT", "slot_at": "2026-11-23T05:00:00Z"}, 404, None),
])
def test_api_errors_have_the_one_shape(web, body, status, code):
    r = web.post("/api/bookings", who="admin", json=body)
    assert r.status_code == status, r.get_data(as_text=True)
    err = r.get_json()
    assert set(err) >= {"error", "message", "message_en"}
    if code:
        assert err["error"] == code
    assert web.get("/api/bookings/ZZZZZZ", who="admin").get_json()["error"] == "unknown_booking"


def test_kiosk_route_prints_the_booked_ticket(web, clock):
    at = to_iso(datetime(2026, 11, 23, 2, 30, tzinfo=UTC))
    code = web.post("/api/bookings", who="staff1", json={"site": "main", "service": "CT", "slot_at": at}).get_json()
    r = web.post("/kiosk/main-kiosk-1/check-in", who="main-kiosk-1", json={"code": code["code"]})
    assert r.status_code == 201, r.get_data(as_text=True)
    t = r.get_json()["ticket"]
    assert t["booking_note"] == "ĐẶT LỊCH – được gọi từ 09:30" and t["number"]
    assert web.post("/kiosk/main-kiosk-1/check-in", who="staff1", json={"code": code["code"]}).status_code == 403
