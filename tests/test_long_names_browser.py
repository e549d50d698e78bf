"""Names from config.toml of 180 unbroken characters (no space to wrap at) on the staff pages, in Chromium:
no page scrolls sideways, and whatever is cut short keeps its full text in a title."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from .conftest import ROOT
from .counter_support import issue, sign_in

pytestmark = pytest.mark.browser

LENGTH = 180


def long_name(i: int) -> str:
    return (f"Tên{i}dàiliềnmộtmạchkhôngcódấucách" * 10)[:LENGTH]


def long_names_config(tmp_path: Path) -> Path:
    """config.toml with every name and English name (center, groups, services, procedures, counters, kiosks,
    displays, sites) replaced by its own 180-character word."""
    count = iter(range(10_000))
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    text = re.sub(r'(?m)(^|[{,]\s*)(name|name_en) = "[^"]*"',
                  lambda m: f'{m.group(1)}{m.group(2)} = "{long_name(next(count))}"', text)
    path = tmp_path / "long-names.toml"
    path.write_text(text, encoding="utf-8")
    return path


OVERFLOW = """() => {
  const root = document.scrollingElement;
  const cut = [];
  for (const e of document.querySelectorAll("body *")) {
    const s = getComputedStyle(e);
    if (e.offsetParent === null && s.position !== "fixed") continue;  // not rendered
    // Cut off (hidden, clipped) without an ellipsis and the full text in a title; a box made to scroll
    // (a wide table of figures) is not cut off: its content is one swipe away.
    if (e.scrollWidth > e.clientWidth + 1 && e.clientWidth > 0 && (s.overflowX === "hidden" || s.overflowX === "clip")
        && !(s.textOverflow === "ellipsis" && (e.title || e.closest("[title]")))) {
      cut.push(e.tagName + "#" + e.id + "." + e.className + ": " + e.scrollWidth + " > " + e.clientWidth);
    }
  }
  // The top bar's own words (brand, language, account, sign-out) stay whole, on one line.
  const squeezed = Array.from(document.querySelectorAll(".topbar > :not(.center-name), .topbar nav > *"))
    .filter((e) => e.offsetParent !== null
            && e.getBoundingClientRect().height > 2 * parseFloat(getComputedStyle(e).fontSize) + 20)
    .map((e) => e.textContent.trim());
  if (squeezed.length) cut.push("top bar squeezed: " + squeezed.join(", "));
  return {page: root.scrollWidth - root.clientWidth, cut};
}"""


@pytest.fixture
def long_server(make_server, tmp_path):
    return make_server(config=long_names_config(tmp_path))


@pytest.mark.parametrize("width", [1366, 800])
def test_long_config_names_never_overflow_sideways(long_server, browser, width):
    server = long_server
    t = issue(server, "CT")
    assert server.post("/api/counters/main-2/call-next", who="admin").ok  # the counter shows a called ticket
    context = browser.new_context(viewport={"width": width, "height": 800})
    try:
        page = context.new_page()
        sign_in(page, server, "admin", "/")
        pages = ["/", "/counter/main-2", "/desk/main", "/manager/", "/manager/admin/",
                 "/manager/admin/users", "/manager/admin/devices", "/manager/admin/counters",
                 "/manager/reports", "/manager/staffing", "/manager/audit"]
        for path in pages:
            page.goto(server.url + path)
            page.wait_for_load_state("networkidle")
            if path == "/manager/":
                expect(page.locator("body")).to_contain_text(t["number"])
            found = page.evaluate(OVERFLOW)
            assert found == {"page": 0, "cut": []}, (path, width, found)
        # the counter's finish panel lists the long procedure names
        page.goto(server.url + "/counter/main-2")
        expect(page.locator("#current-number")).to_have_text(t["number"])
        page.keyboard.press("h")
        expect(page.locator("#proc-list button.proc")).to_have_count(2)
        assert page.evaluate(OVERFLOW) == {"page": 0, "cut": []}
        # the counter heading is cut short on one line: its full name stays available
        expect(page.locator("#counter-heading")).to_have_attribute("title", re.compile(f".{{{LENGTH}}}"))
    finally:
        context.close()
