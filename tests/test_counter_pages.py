"""Counter workstation, counter-top display and rating pad, driven through real Chromium on a real server."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from .counter_support import issue, query, sign_in, ticket

DOCS = Path(__file__).resolve().parent.parent / "docs"
pytestmark = pytest.mark.browser


def test_whole_visit_across_kiosk_api_counter_top_display_and_rating_pad(server, browser):
    staff = browser.new_context(viewport={"width": 1280, "height": 900})
    top = browser.new_context(viewport={"width": 800, "height": 480})
    pad = browser.new_context(viewport={"width": 1180, "height": 820})
    try:
        t = issue(server, "CT")  # the kiosk's token issues, as the kiosk page does
        counter = staff.new_page()
        sign_in(counter, server, "staff1", "/counter/main-1")
        expect(counter.locator("#counter-status")).to_have_text("Đang mở")
        display = top.new_page()
        display.goto(f"{server.url}/counter/main-1/top")
        expect(display.locator("#top-number")).to_have_text("—")
        rating = pad.new_page()
        rating.goto(f"{server.url}/counter/main-1/rating")
        expect(rating.locator("#screen-idle")).to_be_visible()
        expect(counter.locator("#waiting-body tr[data-service=CT] td").nth(1)).to_have_text("1")

        counter.get_by_role("button", name=re.compile("Gọi số tiếp theo")).click()
        expect(counter.locator("#current-number")).to_have_text(t["number"])
        expect(display.locator("#top-call")).to_have_text(f"Mời số {t['number']}")
        expect(display.locator("#top-call")).to_have_class(re.compile("blink"))
        expect(display.locator("#top-number")).to_have_text(t["number"])

        counter.get_by_role("button", name=re.compile("Bắt đầu")).click()
        expect(counter.locator("#current-state")).to_have_text("Đang phục vụ")
        counter.get_by_role("button", name=re.compile("^Hoàn thành")).click()
        procs = counter.locator("#proc-list button.proc")
        expect(procs).to_have_count(2)
        counter.fill("#proc-search", "chu ky")  # searching without diacritics finds "Chứng thực chữ ký"
        expect(procs).to_have_count(1)
        counter.fill("#proc-search", "")
        counter.locator("button.proc[data-code=CT-BS]").click()
        expect(counter.locator("button.proc[data-code=CT-BS]")).to_have_attribute("aria-pressed", "true")
        counter.locator("button.proc[data-code=CT-CK]").click()
        expect(counter.locator("button.proc[data-code=CT-CK]")).to_have_attribute("aria-pressed", "true")
        counter.screenshot(path=str(DOCS / "counter.png"), full_page=True)
        counter.get_by_role("button", name=re.compile("Xác nhận hoàn thành")).click()
        expect(counter.locator("#current-number")).to_have_text("—")
        expect(counter.locator("#me-served")).to_have_text("1")
        expect(display.locator("#top-number")).to_have_text("—")

        done = ticket(server, t["id"])
        assert done["status"] == "served"
        assert [p["code"] for p in done["procedures"]] == ["CT-BS", "CT-CK"]
        assert all(p["seconds"] >= 0 and p["staff"] == "staff1" and p["counter_id"] == "main-1"
                   for p in done["procedures"])
        first, second = done["procedures"]
        # each tap closed one procedure: the first runs from the start, the second from the first tap
        assert first["started_at"] == done["started_at"] and second["started_at"] == first["ended_at"]
        assert first["seconds"] + second["seconds"] <= done["service_s"] + 0.001

        expect(rating.locator("#screen-ask")).to_be_visible()
        expect(rating.locator("#ask-number")).to_have_text(t["number"])
        expect(rating.get_by_text("Ông/Bà có hài lòng với việc giải quyết thủ tục hành chính?")).to_be_visible()
        expect(rating.locator("button.face")).to_have_count(3)
        rating.screenshot(path=str(DOCS / "rating.png"))
        rating.locator("button.face[data-level=unsatisfied]").click()
        rating.locator("button.reason[data-reason=wait_long]").click()
        rating.get_by_role("button", name="Gửi đánh giá").click()
        expect(rating.locator("#screen-thanks")).to_be_visible()

        rows = query(server, "SELECT r.*, group_concat(p.procedure) AS procs FROM ratings r "
                             "JOIN ticket_procedures p ON p.ticket_id = r.ticket_id WHERE r.ticket_id = ? "
                             "GROUP BY r.ticket_id", t["id"])
        assert len(rows) == 1
        r = rows[0]
        assert (r["level"], r["counter_id"], r["staff"], r["site"]) == ("unsatisfied", "main-1", "staff1", "main")
        assert r["reasons"] == '["wait_long"]'
        assert sorted(r["procs"].split(",")) == ["CT-BS", "CT-CK"]
        # one rating per ticket: a second answer is refused
        again = rating.evaluate(
            "t => xephang.api('POST', '/counter/main-1/rating', {ticket: t, level: 'satisfied'})"
            ".then(() => 'ok', e => e.code)", t["id"])
        assert again == "already_rated"
        expect(counter.locator("#me-rating")).to_have_text("0/1 (0%)")
    finally:
        staff.close()
        top.close()
        pad.close()
