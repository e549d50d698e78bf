"""Issue 13, items 5 and 6 on the server side: the printed wait is a calibrated range with one wording,
and a service that no counter serves says so (and whether a counter will open today)."""

from __future__ import annotations

import tomllib
from datetime import timedelta

import pytest

from center.config.read import ConfigError, load_config, parse_config
from center.queue.actors import Actor
from center.queue.availability import availability, note
from center.queue.estimate import WAIT_RANGE, WAIT_RANGE_STEP_S, wait_range, wait_text
from printer_drivers.ticket import TicketData, waiting_line
from tests.conftest import DEMO_CONFIG

STAFF = Actor("staff1", "staff")


@pytest.mark.parametrize("minutes", [0, 0.4, 2, 4.5, 7, 9.9, 10, 14, 22, 35, 48, 61, 95, 130, 300])
def test_range_bounds_are_readable_minutes_around_the_estimate(minutes):
    lo, hi = wait_range(minutes * 60)
    assert lo % WAIT_RANGE_STEP_S == 0 and hi % WAIT_RANGE_STEP_S == 0
    assert 0 <= lo < hi and hi >= WAIT_RANGE_STEP_S
    assert lo <= minutes * 60 + WAIT_RANGE_STEP_S / 2 and hi >= minutes * 60 - WAIT_RANGE_STEP_S / 2


def test_range_factors_are_ordered_bands():
    starts = [band[0] for band in WAIT_RANGE]
    assert starts == sorted(starts) and starts[0] == 0
    assert all(0 <= lo < 1 < hi for _, lo, hi in WAIT_RANGE[4:])  # real ranges straddle the estimate


def test_one_wording_for_the_range():
    assert wait_text([0, 300]) == "dưới 5 phút"
    assert wait_text([600, 1200]) == "khoảng 10–20 phút"
    assert wait_text([600, 1200], "en") == "about 10–20 min"
    assert wait_text([0, 900], "en") == "under 15 min"
    assert wait_text(None) == "—"
    assert wait_range(None) is None


def test_printed_ticket_says_the_range_and_the_counter_note_instead_of_nothing():
    data = TicketData(center_name="C", site_name="S", number="A001", service_name="Chứng thực", ahead=3,
                      estimated_wait_s=900, wait_text=wait_text(wait_range(900)))
    assert waiting_line(data) == "Trước Ông/Bà: 3 người\nChờ khoảng 5–25 phút"
    closed = TicketData(center_name="C", site_name="S", number="B001", service_name="Hộ tịch", ahead=0,
                        wait_note="Chưa có quầy mở – thường mở lúc 13:30")
    assert waiting_line(closed) == "Trước Ông/Bà: 0 người\nChưa có quầy mở – thường mở lúc 13:30"
    # The print agent gets the ticket as JSON, the range already worded by the server.
    again = TicketData.from_json(data.to_json())
    assert waiting_line(again) == waiting_line(data)
    assert TicketData.from_json(closed.to_json()).wait_note == closed.wait_note


def test_api_gives_the_range_bounds_beside_the_point(engine):
    engine.take_counter("main-1", STAFF)
    for _ in range(6):
        t = engine.issue("main", "CT")
    assert t["estimated_wait_s"] > 0
    assert t["estimated_wait_range_s"] == list(wait_range(t["estimated_wait_s"]))
    again = engine.get_ticket(t["id"])
    assert again["estimated_wait_range_s"] == list(wait_range(again["estimated_wait_s"]))
    ct = next(s for s in engine.queue_state("main")["services"] if s["code"] == "CT")
    assert ct["estimated_wait_range_s"] == list(wait_range(ct["estimated_wait_s"]))


def _avail(engine, site="main"):
    s = engine.config.sites[site]
    with engine.store.read() as conn:
        return availability(conn, engine.config, s, engine.clock(),
                            {c.id: engine.counter_services(c, conn) for c in s.counters})


def test_services_without_an_open_counter_say_so(engine):
    engine.take_counter("main-1", STAFF)  # CT, TKQ
    state = {s["code"]: s for s in engine.queue_state("main")["services"]}
    assert state["CT"]["counters_open"] == 1 and state["CT"]["counter_note"] == ""
    assert state["HT"]["counters_open"] == 0 and state["HT"]["counter_state"] == "closed"
    assert state["HT"]["counter_note"] == "Chưa có quầy mở – vui lòng hỏi cán bộ"  # no history: unknown
    assert state["HT"]["opens_today"] is None
    ticket = engine.issue("main", "HT")
    assert ticket["estimated_wait_s"] is None  # what printed "—" before


def test_a_paused_counter_will_come_back(engine):
    engine.take_counter("main-5", STAFF)  # DD, KT
    engine.pause("main-5", STAFF, "break")
    dd = _avail(engine)["DD"]
    assert dd["counter_state"] == "paused" and dd["opens_today"] is True
    assert note(dd) == "Quầy đang tạm nghỉ – sẽ mở lại"


def test_usual_opening_later_today_comes_from_the_same_weekday_in_past_weeks(engine, clock):
    # Monday 09:00 local. On the last two Mondays the residence counter (main-4: CC, XH, HT) opened at
    # 13:30 and 13:40; the land counter (main-5) opened at 07:30 only; the center worked both days.
    with engine.store.write() as conn:
        for weeks, at in ((1, "06:30"), (2, "06:40")):  # UTC: 13:30 and 13:40 local
            day = (clock.now - timedelta(weeks=weeks)).date().isoformat()
            conn.execute("INSERT INTO counter_events (counter_id, site, at, kind, staff) VALUES "
                         "('main-4', 'main', ?, 'open', 'x')", (f"{day}T{at}:00Z",))
            conn.execute("INSERT INTO counter_events (counter_id, site, at, kind, staff) VALUES "
                         "('main-5', 'main', ?, 'open', 'x')", (f"{day}T00:30:00Z",))
    got = _avail(engine)
    assert got["CC"]["opens_today"] is True and got["CC"]["usual_open_at"].startswith("2026-11-23T13:30")
    assert got["CC"]["counter_note"] == "Chưa có quầy mở – thường mở lúc 13:30"
    assert got["CC"]["counter_note_en"] == "No counter open yet – usually opens at 13:30"
    assert got["DD"]["opens_today"] is False
    assert got["DD"]["counter_note"] == "Chưa có quầy mở – hôm nay thường không mở"


def test_priority_groups_have_pictograms_and_kiosks_a_voice_switch():
    cfg = load_config(DEMO_CONFIG)
    assert {g.code: g.icon for g in cfg.priority_groups} == {
        "elderly": "elderly", "pregnant": "pregnant", "disabled": "disabled", "children": "children",
        "merit": "merit"}
    assert cfg.kiosk("main-kiosk-1").voice is True and cfg.kiosk("branch-kiosk-1").voice is False
    raw = tomllib.loads(DEMO_CONFIG.read_text(encoding="utf-8"))
    raw["priority_groups"] = [{"code": "veteran", "name": "Cựu chiến binh"}]
    assert parse_config(raw).priority_groups[0].icon == "priority"  # an unknown group gets the generic one
    raw["priority_groups"] = [{"code": "veteran", "name": "Cựu chiến binh", "icon": "tank"}]
    with pytest.raises(ConfigError) as e:
        parse_config(raw)
    assert e.value.key == "priority_groups[0].icon"


def test_the_printed_ticket_of_a_service_without_a_counter_says_so(engine):
    from types import SimpleNamespace

    from center.output import printing

    engine.take_counter("main-1", STAFF)  # CT and TKQ: nobody serves HT
    ticket = engine.issue("main", "HT")
    c = SimpleNamespace(config=engine.config, engine=engine, public_url=None)
    data = printing.ticket_data(c, ticket, "http://127.0.0.1/")
    assert waiting_line(data) == "Trước Ông/Bà: 0 người\nChưa có quầy mở – vui lòng hỏi cán bộ"
    served = printing.ticket_data(c, engine.issue("main", "CT"), "http://127.0.0.1/")
    assert waiting_line(served) == "Trước Ông/Bà: 0 người\nChờ dưới 5 phút"
