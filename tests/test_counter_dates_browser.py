"""Dates inside Vietnamese text on the counter and display pages read 07/12/2026 (the shared vn_date /
xephang.date rules, in the center's zone), never ISO."""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from center.errors import Conflict
from center.queue.actors import Actor
from center.queue.clock import vn_date

from .counter_support import issue, sign_in

ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
STAFF = Actor("staff1", "staff")


def test_a_ticket_of_another_day_is_refused_with_its_date_in_vietnamese(engine, clock):
    t = engine.issue("main", "CT")
    clock.advance(days=1)
    with pytest.raises(Conflict) as refused:
        engine.call_ticket("main-1", STAFF, ticket_id=t["id"])
    assert refused.value.message == f"Số {t['number']} thuộc ngày 23/11/2026, không gọi được hôm nay"
    assert not ISO_DAY.search(refused.value.message) and not ISO_DAY.search(refused.value.message_en)


@pytest.mark.browser
def test_the_counter_banner_names_another_day_as_vietnamese_text(server, page):
    t = issue(server, "CT", priority="elderly")
    sign_in(page, server, "staff1", "/counter/main-1")
    call = page.locator("#priority-list button.call-prio")
    expect(call).to_be_visible()
    # The page stayed open over the day's rollover: its priority list still offers yesterday's ticket.
    conn = sqlite3.connect(server.db)
    try:
        with conn:
            conn.execute("UPDATE tickets SET service_day = date(service_day, '-1 day') WHERE id = ?", (t["id"],))
    finally:
        conn.close()
    call.click()
    yesterday = vn_date(date.fromisoformat(t["service_day"]) - timedelta(days=1))
    expect(page.locator("#banner")).to_have_text(f"Số {t['number']} thuộc ngày {yesterday}, không gọi được hôm nay")
    assert not ISO_DAY.search(page.locator("#banner").inner_text())


@pytest.mark.browser
def test_the_display_date_is_the_shared_vietnamese_date_in_the_centers_zone(server, page):
    page.goto(f"{server.url}/display/main-hall#token={server.tokens['main-hall']}")
    today = vn_date(datetime.now(UTC), weekday=True, tz=ZoneInfo("Asia/Ho_Chi_Minh"))
    expect(page.locator("#date")).to_have_text(today[0].upper() + today[1:])  # "Thứ Hai, 07/12/2026"
    expect(page.locator("#clock")).to_have_text(re.compile(r"^\d{2}:\d{2}$"))
    page.goto(f"{server.url}/display/main-hall?lang=en")
    expect(page.locator("#date")).to_have_text(
        vn_date(datetime.now(UTC), weekday=True, lang="en", tz=ZoneInfo("Asia/Ho_Chi_Minh")))
