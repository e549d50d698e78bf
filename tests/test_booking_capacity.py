"""Bookable places where the counters can honour them (issue 17): a slot where walk-ins usually wait longer than
`[booking] busy_wait_min` (measured at that time of day over the last `busy_days` days) opens fewer places, none
from twice that; the remainder is carried from slot to slot. On the engine with real SQLite: the past days are
made with the engine's own operations on the test clock."""

from __future__ import annotations

import dataclasses
import tomllib
from datetime import timedelta

import pytest

from center.config.read import ConfigError, parse_config
from center.errors import Conflict
from center.queue.actors import Actor
from center.queue.bookings import BUSY_MIN_TICKETS, busy_factor, places_in_slot, places_in_slots
from center.queue.clock import from_iso, to_iso

from .conftest import DEMO_CONFIG

STAFF = Actor("canbo", "staff")


def set_booking(engine, **changes) -> None:
    engine.config = dataclasses.replace(engine.config, booking=dataclasses.replace(engine.config.booking, **changes))


def past_walk_ins(engine, *, days_ago: int, n: int, wait_min: float, service: str = "CT",
                  booked: bool = False) -> None:
    """`n` citizens of `service` come at 09:05 `days_ago` days before the test's day (a Monday, 09:00) and are
    called `wait_min` later at main-1 (then marked no-show); the clock comes back where it was."""
    start = engine.clock.now
    engine.clock.now = start - timedelta(days=days_ago) + timedelta(minutes=5)
    if booked:
        codes = [engine.book("main", service, to_iso(engine.clock.now - timedelta(minutes=5)))["code"]
                 for _ in range(n)]
        ids = [engine.check_in(c, STAFF, source="desk")["id"] for c in codes]
    else:
        ids = [engine.issue("main", service)["id"] for _ in range(n)]
    engine.clock.advance(minutes=wait_min)
    for _ in ids:
        assert engine.call_next("main-1", STAFF)["id"] in ids
        engine.no_show("main-1", STAFF)
    engine.clock.now = start


def slot_of(engine, hhmm: str) -> dict:
    day = engine.today(engine.site("main"))
    return next(s for s in engine.slots("main", "CT", day) if s["time"] == hhmm)


# ------------------------------------------------------------------------------------------------ the rules


@pytest.mark.parametrize("rate", [0.0, 0.1, 0.3, 0.75, 1.0, 1.2, 2 / 3, 3.35])
def test_one_rate_for_every_slot_gives_the_same_places_as_before(rate):
    """With no busy slot the places are exactly those the hub works out (`places_in_slot`)."""
    assert places_in_slots([rate] * 40) == [places_in_slot(rate, i) for i in range(40)]


def test_a_closed_slot_carries_its_remainder_to_the_next_open_one():
    assert places_in_slots([0.75, 0.75, 0.75, 0.75]) == [0, 1, 1, 1]
    assert places_in_slots([0.75, 0.0, 0.0, 0.75, 0.75]) == [0, 0, 0, 1, 1]
    assert places_in_slots([2.0, 0.0, 1.0]) == [2, 0, 1]  # whole places are not moved, only what is left over
    assert sum(places_in_slots([0.3] * 16)) == 4


def test_busy_factor_tapers_from_the_limit_to_twice_it():
    assert busy_factor(None, 30) == 1.0  # no measured wait: no evidence, the formula's places
    assert busy_factor(10, 30) == busy_factor(30, 30) == 1.0
    assert busy_factor(45, 30) == pytest.approx(0.5)
    assert busy_factor(60, 30) == busy_factor(200, 30) == 0.0
    assert busy_factor(200, 0) == 1.0  # 0: the rule is off


# ------------------------------------------------------------------------------------------------ the engine


def test_a_slot_where_walk_ins_waited_long_opens_no_places_and_refuses_bookings(engine):
    set_booking(engine, busy_wait_min=20)
    past_walk_ins(engine, days_ago=7, n=3, wait_min=50)  # last Monday and yesterday at 09:05: 50 min each
    past_walk_ins(engine, days_ago=1, n=3, wait_min=50)
    with engine.store.read() as conn:
        rate = engine.slot_rate(conn, engine.site("main"), "CT")
    busy = slot_of(engine, "09:00")
    assert busy["walkin_wait_min"] == pytest.approx(50, abs=0.1) and busy["capacity"] == 0
    assert slot_of(engine, "09:30")["walkin_wait_min"] is None  # nobody came then: the formula's places
    assert slot_of(engine, "09:30")["capacity"] >= int(rate)
    with pytest.raises(Conflict) as e:
        engine.book("main", "CT", busy["slot_at"])
    assert e.value.code == "slot_full"
    set_booking(engine, busy_wait_min=0)
    assert slot_of(engine, "09:00")["capacity"] >= 1  # the rule off: the formula's places
    set_booking(engine, busy_wait_min=20)
    assert engine.book("main", "CT", slot_of(engine, "09:30")["slot_at"])["status"] == "booked"


def test_a_slot_a_little_past_the_limit_keeps_part_of_its_places(engine):
    set_booking(engine, busy_wait_min=30, capacity={"CT": 4})
    past_walk_ins(engine, days_ago=2, n=BUSY_MIN_TICKETS, wait_min=45)
    assert slot_of(engine, "09:00")["capacity"] == 2  # 45 min: half of the 4 places
    assert slot_of(engine, "10:00")["capacity"] == 4


def test_too_few_walk_ins_old_days_bookings_and_today_are_no_evidence(engine):
    set_booking(engine, busy_wait_min=20, busy_days=28, capacity={"CT": 100})
    past_walk_ins(engine, days_ago=3, n=BUSY_MIN_TICKETS - 1, wait_min=90)  # too few
    past_walk_ins(engine, days_ago=40, n=BUSY_MIN_TICKETS, wait_min=90)  # before the last 28 days
    past_walk_ins(engine, days_ago=4, n=BUSY_MIN_TICKETS, wait_min=90, booked=True)  # bookings' own waits
    past_walk_ins(engine, days_ago=0, n=BUSY_MIN_TICKETS, wait_min=90)  # today: not a past day
    set_booking(engine, capacity={"CT": 3})
    assert slot_of(engine, "09:00")["walkin_wait_min"] is None
    assert slot_of(engine, "09:00")["capacity"] == 3


def test_busy_wait_min_0_turns_the_rule_off(engine):
    set_booking(engine, busy_wait_min=0, capacity={"CT": 2})
    past_walk_ins(engine, days_ago=1, n=BUSY_MIN_TICKETS, wait_min=90)
    s = slot_of(engine, "09:00")
    assert s["capacity"] == 2 and s["walkin_wait_min"] is None


def test_the_measure_is_the_mean_wait_of_walk_ins_over_the_days(engine):
    set_booking(engine, busy_wait_min=30, busy_days=10, capacity={"CT": 2})
    past_walk_ins(engine, days_ago=1, n=BUSY_MIN_TICKETS, wait_min=70)
    past_walk_ins(engine, days_ago=8, n=BUSY_MIN_TICKETS, wait_min=10)
    s = slot_of(engine, "09:00")
    assert s["walkin_wait_min"] == pytest.approx(40, abs=0.1) and s["capacity"] == 1  # (70 + 10) / 2: 2 × 2/3
    set_booking(engine, busy_days=5)  # only yesterday's: 70 min, past twice the limit
    s = slot_of(engine, "09:00")
    assert s["walkin_wait_min"] == pytest.approx(70, abs=0.1) and s["capacity"] == 0
    assert from_iso(s["slot_at"]).astimezone(engine.config.tz).strftime("%H:%M") == "09:00"


# ------------------------------------------------------------------------------------------------ config


def test_config_reads_the_keys_and_names_a_wrong_one():
    data = tomllib.loads(DEMO_CONFIG.read_text(encoding="utf-8"))
    cfg = parse_config(data)
    assert (cfg.booking.busy_wait_min, cfg.booking.busy_days) == (30, 28)
    assert cfg.booking.as_dict()["busy_wait_min"] == 30
    data["booking"]["busy_days"] = 0
    with pytest.raises(ConfigError) as e:
        parse_config(data)
    assert e.value.key == "booking.busy_days"
    data["booking"].update(busy_days=14, busy_wait_min=-5)
    with pytest.raises(ConfigError) as e:
        parse_config(data)
    assert e.value.key == "booking.busy_wait_min"
    del data["booking"]["busy_wait_min"], data["booking"]["busy_days"]
    assert parse_config(data).booking.busy_wait_min == 30  # absent: the default


def test_slots_that_do_not_start_on_the_hour_take_the_walk_ins_of_their_own_time(engine):
    """A site opening at 07:45 has slots 07:45, 08:15, …: a walk-in at 09:05 belongs to the 08:45 slot."""
    from datetime import time

    site = engine.config.sites["main"]
    hours = {day: ((time(7, 45), time(17, 0)),) for day in site.hours}
    sites = {**engine.config.sites, "main": dataclasses.replace(site, hours=hours)}
    engine.config = dataclasses.replace(engine.config, sites=sites)
    set_booking(engine, busy_wait_min=20, capacity={"CT": 2})
    past_walk_ins(engine, days_ago=1, n=BUSY_MIN_TICKETS, wait_min=60)
    assert slot_of(engine, "08:45")["walkin_wait_min"] == pytest.approx(60, abs=0.1)
    assert slot_of(engine, "08:45")["capacity"] == 0
    assert slot_of(engine, "09:15")["capacity"] == 2 and slot_of(engine, "09:15")["walkin_wait_min"] is None
