"""Issue 17, the citizen's whole path in Debian's chromium against real servers (PostgreSQL, the hub, a center):
book on the hub's public page /dat-lich, the booking flows down to the center, check in at the center's kiosk
with the code typed on the keypad, the ticket says it was booked, and a counter calls it."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.counter_support import sign_in
from tests.pg_support import pg, pg_db  # noqa: F401 - fixtures
from tests.test_hub_booking import _wait_center, book_on_the_page, world  # noqa: F401 - `world` is a fixture

pytestmark = pytest.mark.browser


def test_book_at_the_hub_check_in_at_the_kiosk_and_be_called_at_a_counter(page, world):  # noqa: F811
    hub, center, _ = world
    # The first slot with a place on the first day offered starts within 30 min: the kiosk takes it (2 h early).
    code = book_on_the_page(page, hub, "Phạm Văn Dũng", "0901 234 567")
    status, origin, site, service, _ = _wait_center(center.db, code, "booked")  # it flowed down
    assert (origin, site, service) == ("hub", "main", "CT")

    page.set_viewport_size({"width": 1920, "height": 1080})
    page.goto(f"{center.url}/kiosk/main-kiosk-1#token={center.tokens['main-kiosk-1']}")
    page.click("#k-booked")
    expect(page.locator("#k-code")).to_be_visible()
    for ch in code:
        page.click(f'.k-key[data-key="{ch}"]')
    expect(page.locator("#k-code-input")).to_have_value(code)
    page.click("#k-code-ok")
    expect(page.locator("#k-ticket")).to_be_visible()
    expect(page.locator("#t-booking")).to_contain_text("ĐẶT LỊCH")
    number = page.locator("#t-number").inner_text().strip()
    assert number
    page.click("#k-done")
    _wait_center(center.db, code, "checked_in")

    sign_in(page, center, "staff1", "/counter/main-1")
    expect(page.locator("#counter-status")).to_have_text("Đang mở")
    page.get_by_role("button", name=re.compile("Gọi số tiếp theo")).click()
    expect(page.locator("#current-number")).to_have_text(number)
    looked = center.get(f"/api/bookings/{code}", who="staff1").json()
    assert looked["status"] == "checked_in" and looked["ticket"]["number"] == number
    assert looked["ticket"]["status"] == "called"
