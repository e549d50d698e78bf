"""One wording for a service no open counter serves, never "Không phải chờ": the kiosk's note on the status page
and the kiosk, its first words on the hall display's narrow column (center.queue.availability); and counter
names that wrap between words instead of being cut mid-word ("Quầy 2 – Chứng thực, hỗ t…") on the hall display
and the counter page."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from .counter_support import sign_in
from .display_support import wait_until

pytestmark = pytest.mark.browser

NOTE = "Chưa có quầy mở – vui lòng hỏi cán bộ"  # center.queue.availability.note, no history yet
LABEL = "Chưa có quầy mở"  # its first words, on the hall display's narrow wait column


def display_wait(page, service: str):
    return page.locator(f"#services tr[data-service='{service}'] td").nth(2)


def test_no_counter_open_reads_the_same_on_the_display_the_status_page_and_the_kiosk(server, browser):
    assert server.post("/api/counters/main-1/take", who="staff1").status_code == 200  # CT and TKQ only
    context = browser.new_context(viewport={"width": 1920, "height": 1080})
    try:
        page = context.new_page()
        page.goto(f"{server.url}/display/main-hall#token={server.tokens['main-hall']}")
        # Nobody waits for HT, and no open counter serves it: not "no wait".
        expect(display_wait(page, "HT")).to_have_text(LABEL)
        expect(display_wait(page, "CT")).to_have_text("Không phải chờ")  # counter 1 is open for CT
        assert server.post("/api/tickets", json={"site": "main", "service": "HT"}).status_code == 201
        expect(page.locator("#services tr[data-service='HT'] td.num")).to_have_text("1")
        expect(display_wait(page, "HT")).to_have_text(LABEL)  # the same while someone waits
        page.goto(f"{server.url}/status/main")
        expect(page.locator("#st-services tr[data-service='HT'] td").nth(2)).to_have_text(NOTE)
        page.goto(f"{server.url}/kiosk/main-kiosk-1#token={server.tokens['main-kiosk-1']}")
        expect(page.locator('[data-note="HT"]')).to_have_text(NOTE)
        assert NOTE.startswith(LABEL + " – ")
        page.goto(f"{server.url}/display/main-hall?lang=en#token={server.tokens['main-hall']}")
        expect(display_wait(page, "HT")).to_have_text("No counter open yet")
    finally:
        context.close()


# Each element's text laid out whole: not wider than its box, not hidden, no ellipsis, no word broken.
WHOLE = """(selector) => Array.from(document.querySelectorAll(selector)).map((e) => {
  const s = getComputedStyle(e);
  const range = document.createRange();
  range.selectNodeContents(e);
  const lines = new Set(Array.from(range.getClientRects()).map((r) => Math.round(r.top)));
  const words = e.textContent.trim().split(/\\s+/);
  // A word broken across two lines shows as more lines than the words can fill one per line at most.
  const broken = Array.from(e.childNodes).some((n) => n.nodeType === 3) && lines.size > words.length;
  return {text: e.textContent.trim(), cut: e.scrollWidth > e.clientWidth + 1 || s.textOverflow === "ellipsis"
          || s.whiteSpace === "nowrap", broken};
}).filter((x) => x.cut || x.broken)"""


@pytest.mark.parametrize(("width", "height"), [(1366, 768), (1280, 720)])
def test_counter_names_on_the_display_wrap_between_words(server, page, width, height):
    page.set_viewport_size({"width": width, "height": height})
    page.goto(f"{server.url}/display/main-hall#token={server.tokens['main-hall']}")
    wait_until(page, "document.querySelectorAll('#counters .counter .cname').length === 6")
    name = page.locator("#counters .counter[data-counter='main-2'] .cname")
    expect(name).to_have_text("Quầy 2 – Chứng thực, hỗ trợ Hộ tịch")
    assert page.evaluate(WHOLE, "#counters .cname") == []


def test_the_counter_heading_wraps_between_words_on_a_narrow_screen(server, page):
    page.set_viewport_size({"width": 560, "height": 900})
    sign_in(page, server, "staff1", "/counter/main-2")
    expect(page.locator("#counter-status")).to_have_text("Đang mở")
    expect(page.locator("#counter-heading")).to_have_text("Quầy 2 – Chứng thực, hỗ trợ Hộ tịch")
    assert page.evaluate(WHOLE, "#counter-heading") == []
    assert page.evaluate("document.scrollingElement.scrollWidth <= innerWidth")
