"""Every dialog of the counter page fits the clerks' screens (1366×768, 1280×720): its confirm button is fully
inside the viewport as the dialog opens, without scrolling the page (issue: after H with two procedures,
"Xác nhận hoàn thành" was below the fold)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from .counter_support import issue, sign_in

pytestmark = pytest.mark.browser

SIZES = [(1366, 768), (1280, 720)]

# Fully inside the viewport, and the page not scrolled to get there.
IN_VIEW = """(selector) => {
  const out = [];
  document.querySelectorAll(selector).forEach((e) => {
    const r = e.getBoundingClientRect();
    if (!(r.width > 0 && r.top >= 0 && r.left >= 0 && r.bottom <= innerHeight && r.right <= innerWidth))
      out.push((e.id || e.textContent.trim()) + " at " + Math.round(r.top) + "–" + Math.round(r.bottom));
  });
  if (scrollY !== 0) out.push("page scrolled by " + scrollY);
  return out;
}"""


def assert_in_view(page, selector: str) -> None:
    assert page.locator(selector).count() > 0, selector
    assert page.evaluate(IN_VIEW, selector) == [], selector


@pytest.mark.parametrize(("width", "height"), SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_every_counter_dialog_fits_the_screen(server, browser, width, height):
    issue(server, "HT")
    context = browser.new_context(viewport={"width": width, "height": height})
    try:
        page = context.new_page()
        sign_in(page, server, "staff1", "/counter/main-3")
        expect(page.locator("#counter-status")).to_have_text("Đang mở")
        expect(page.locator("#waiting-body tr[data-service=HT] td").nth(1)).to_have_text("1")

        page.keyboard.press("s")  # call a number
        expect(page.locator("#panel-callnum")).to_be_visible()
        assert_in_view(page, "#callnum-confirm")
        page.keyboard.press("Escape")

        page.keyboard.press("p")  # pause: each reason is a confirm button
        expect(page.locator("#panel-pause")).to_be_visible()
        assert_in_view(page, "#pause-reasons button.reason")
        assert_in_view(page, "#panel-pause .cancel")
        page.keyboard.press("Escape")

        page.keyboard.press("n")
        expect(page.locator("#current-state")).to_have_text("Đã gọi")
        page.keyboard.press("v")  # right after the call: the no-show asks first
        expect(page.locator("#panel-noshow")).to_be_visible()
        assert_in_view(page, "#noshow-confirm")
        page.keyboard.press("Escape")

        page.keyboard.press("c")
        expect(page.locator("#panel-transfer")).to_be_visible()
        assert_in_view(page, "#transfer-confirm")
        page.keyboard.press("Escape")

        page.keyboard.press("h")  # finish, after two procedures
        expect(page.locator("#panel-finish")).to_be_visible()
        expect(page.locator("#finish-ticket")).to_have_text(page.locator("#current-number").inner_text())
        for code in ("HT-KS", "HT-KH"):
            page.locator(f"button.proc[data-code={code}]").click()
            expect(page.locator(f"button.proc[data-code={code}]")).to_have_attribute("aria-pressed", "true")
        page.evaluate("window.scrollTo(0, 0)")  # the clicks may scroll; the button must be in view without it
        assert_in_view(page, "#finish-confirm")
        assert_in_view(page, "#proc-list button.proc")  # and every procedure of the service
    finally:
        context.close()
