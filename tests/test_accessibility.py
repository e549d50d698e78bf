"""Every screen checked by axe-core (from npm, injected from node_modules, never from the internet) in Chromium.

A service center serves elderly citizens (on kiosks, wall screens and their own phones) and staff at counters
all day: no screen, in any state a center sees, may have a critical or serious axe violation (text contrast,
names of buttons and fields, ARIA misuse...); moderate and minor findings are printed. axe-core is loaded by
the devtools protocol (`add_init_script`), which the pages' Content-Security-Policy (script-src 'self') does not
apply to, so the pages run exactly as served. Touch targets of the kiosk and the rating pad are measured in the
same browser.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from .conftest import Server, server_with_accounts
from .counter_support import issue, sign_in
from .display_support import issue_and_call, wait_until

pytestmark = pytest.mark.browser

AXE = Path(__file__).resolve().parent.parent / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = ("critical", "serious")
TOUCH_MIN_PX = 76  # 2 cm on a 96 dpi touch screen: the kiosk's and the rating pad's smallest target

DESKTOP = {"width": 1280, "height": 900}
FULL_HD = {"width": 1920, "height": 1080}
PHONE = {"width": 390, "height": 800}
PAD = {"width": 1180, "height": 820}
COUNTER_TOP = {"width": 800, "height": 480}


@pytest.fixture(scope="module")
def site(tmp_path_factory, accounts_template) -> Iterator[Server]:
    """One server for the whole module; each test uses counters of its own and sets up the state it needs."""
    server = server_with_accounts(tmp_path_factory.mktemp("a11y"), accounts_template)
    yield server
    server.stop()


@pytest.fixture
def open_page(browser) -> Iterator[Callable[[dict[str, int]], Page]]:
    """New pages in fresh browser contexts that carry axe-core, at a given viewport."""
    assert AXE.exists(), "axe-core is missing: run `make setup` (npm ci installs it into node_modules)"
    contexts = []

    def make(viewport: dict[str, int]) -> Page:
        context = browser.new_context(viewport=viewport)
        context.add_init_script(path=str(AXE))
        contexts.append(context)
        return context.new_page()

    yield make
    for c in contexts:
        c.close()


def axe(page: Page) -> list[dict[str, Any]]:
    """axe-core's violations on the page as it is now (every rule axe runs by default)."""
    return page.evaluate("""() => axe.run(document, {resultTypes: ['violations']}).then(r => r.violations.map(v => ({
        id: v.id, impact: v.impact, help: v.help,
        nodes: v.nodes.map(n => ({target: n.target.join(' '), summary: n.failureSummary})),
    })))""")


class Checks:
    """axe-core on each screen of a test; every screen is checked before the test fails, with all findings."""

    def __init__(self) -> None:
        self.failures: list[str] = []

    def __call__(self, page: Page, screen: str) -> None:
        violations = axe(page)
        counts = {impact: sum(len(v["nodes"]) for v in violations if v["impact"] == impact)
                  for impact in ("critical", "serious", "moderate", "minor")}
        print(f"axe {screen}: " + " ".join(f"{k}={n}" for k, n in counts.items()))
        found = [v for v in violations if v["impact"] in BLOCKING]
        if found:
            self.failures.append(
                f"{screen}: {counts['critical'] + counts['serious']} critical/serious axe violation(s)\n"
                + "\n".join(f"  {v['impact']} {v['id']} ({v['help']}): {n['target']} – {n['summary']}"
                            for v in found for n in v["nodes"]))

    def touch_sized(self, page: Page, screen: str) -> None:
        found = heights(page, "button, a[href], [role=button]")
        small = {k: round(h, 1) for k, h in found.items() if h < TOUCH_MIN_PX}
        print(f"touch {screen}: smallest {min(found.values(), default=0):.0f} px of {len(found)} targets")
        if not found or small:
            self.failures.append(f"{screen}: touch targets under {TOUCH_MIN_PX} px: {small or 'no visible buttons'}")

    def assert_clean(self) -> None:
        assert not self.failures, "\n\n".join(self.failures)


@pytest.fixture
def check() -> Checks:
    return Checks()


def heights(page: Page, selector: str) -> dict[str, float]:
    """Rendered heights (CSS px) of the visible elements matching `selector`, keyed by their text."""
    return page.evaluate("""s => Object.fromEntries([...document.querySelectorAll(s)]
        .filter(e => e.offsetParent !== null)
        .map((e, i) => [(e.id || e.textContent.trim().slice(0, 30) || e.className) + '#' + i,
                        e.getBoundingClientRect().height]))""", selector)


# ---------------------------------------------------------------- public screens


def test_index_and_login(site, open_page, check):
    page = open_page(DESKTOP)
    page.goto(site.url + "/")
    check(page, "index")
    page.goto(site.url + "/login")
    expect(page.locator("input[name=username]")).to_be_visible()
    check(page, "login")
    page.fill("input[name=username]", "manager")
    page.fill("input[name=password]", "wrong password")
    page.click("button[type=submit]")
    expect(page.locator(".error")).to_be_visible()
    check(page, "login with an error")
    check.assert_clean()


def test_error_page(site, open_page, check):
    page = open_page(DESKTOP)
    assert page.goto(site.url + "/status/nowhere").status == 404
    expect(page.locator("h1")).to_be_visible()
    check(page, "error page")
    sign_in(page, site, "manager", "/manager/")
    assert page.goto(site.url + "/display/nowhere/settings").status == 404
    check(page, "error page, signed in")
    check.assert_clean()


def test_kiosk_screens_and_their_touch_targets(site, open_page, check):
    page = open_page(FULL_HD)
    page.goto(f"{site.url}/kiosk/main-kiosk-1#token={site.tokens['main-kiosk-1']}")
    expect(page.locator("#k-start")).to_be_visible()
    expect(page.locator("#k-notoken")).to_be_hidden()
    check(page, "kiosk start")
    check.touch_sized(page, "kiosk start")
    page.locator('.k-prio[data-priority-for="HD"]').click()
    expect(page.locator("#k-groups")).to_be_visible()
    check(page, "kiosk priority groups")
    check.touch_sized(page, "kiosk priority groups")
    page.locator('.k-group[data-group="elderly"]').click()
    expect(page.locator("#k-ticket")).to_be_visible()
    expect(page.locator("#t-print")).not_to_be_empty()
    check(page, "kiosk ticket")
    check.touch_sized(page, "kiosk ticket")
    check.assert_clean()


def test_waiting_room_display(site, open_page, check):
    issue_and_call(site, "CT", "main-2")
    page = open_page(FULL_HD)
    page.goto(f"{site.url}/display/main-hall#token={site.tokens['main-hall']}")
    wait_until(page, "document.querySelectorAll('#counters .counter').length > 0")
    check(page, "waiting-room display")
    check.assert_clean()


def test_public_status_page(site, open_page, check):
    issue(site, "HT")
    issue_and_call(site, "CT", "main-3")
    page = open_page(PHONE)
    page.goto(site.url + "/status/main")
    expect(page.locator("#st-services tr[data-service='CT']")).to_be_visible()
    expect(page.locator("#st-counters [data-counter='main-3']")).to_be_visible()
    expect(page.locator("#st-counters li.closed").first).to_be_visible()
    check(page, "public status (phone)")
    page.set_viewport_size(DESKTOP)
    check(page, "public status (desktop)")
    check.assert_clean()


def test_follow_page_waiting_and_called(site, open_page, check):
    t = issue(site, "TKQ")
    page = open_page(PHONE)
    page.goto(t["public_url"])
    expect(page.locator("#f-status")).to_have_text("Đang chờ")
    check(page, "follow page, waiting")
    assert site.post("/api/counters/main-6/call", who="staff2", json={"ticket": t["id"]}).status_code == 200
    expect(page.locator("#f-called")).to_contain_text("quầy số 6")
    check(page, "follow page, called")
    check.assert_clean()


# ---------------------------------------------------------------- counter, counter top, rating pad


def test_counter_without_and_with_a_called_ticket(site, open_page, check):
    page = open_page(DESKTOP)
    sign_in(page, site, "staff1", "/counter/branch-1")  # the branch's queue is empty: the empty lists show
    expect(page.locator("#counter-status")).to_have_text("Đang mở")
    expect(page.locator("#current-number")).to_have_text("—")
    expect(page.locator(".priority-list .empty")).to_be_visible()
    check(page, "counter, no ticket")
    issue(site, "CT", site="branch", who="branch-kiosk-1")
    page.get_by_role("button", name=re.compile("Gọi số tiếp theo")).click()
    expect(page.locator("#current-number")).not_to_have_text("—")
    check(page, "counter, ticket called")
    page.get_by_role("button", name=re.compile("Bắt đầu")).click()
    expect(page.locator("#current-state")).to_have_text("Đang phục vụ")
    page.get_by_role("button", name=re.compile("^Hoàn thành")).click()
    expect(page.locator("#proc-list button.proc").first).to_be_visible()
    check(page, "counter, finish panel")
    assert site.post("/api/counters/branch-2/take", who="staff1").status_code == 200
    assert site.post("/api/counters/branch-2/pause", who="staff1", json={"reason": "meeting"}).status_code == 200
    other = open_page(DESKTOP)
    sign_in(other, site, "staff2", "/counter/branch-2")  # held by staff1: refused on screen
    expect(other.locator("#banner")).to_contain_text("đang do staff1 phụ trách")
    expect(other.locator("#counter-status")).to_have_text("Tạm dừng")
    check(other, "counter held by someone else, paused")
    check.assert_clean()


def test_counter_top_display(site, open_page, check):
    page = open_page(COUNTER_TOP)
    page.goto(site.url + "/counter/main-4/top")
    expect(page.locator("#top-number")).to_have_text("—")
    expect(page.get_by_role("heading", level=1)).to_have_text("QUẦY 4")  # what a screen reader starts with
    check(page, "counter top, idle")
    t = issue(site, "CT")
    assert site.post("/api/counters/main-4/call", who="staff2", json={"ticket": t["id"]}).status_code == 200
    expect(page.locator("#top-number")).to_have_text(t["number"])
    page.emulate_media(reduced_motion="reduce")  # the call stops blinking (it is hidden half of the time)
    check(page, "counter top, called")
    check.assert_clean()


def test_rating_pad_screens_and_their_touch_targets(site, open_page, check):
    page = open_page(PAD)
    page.goto(site.url + "/counter/main-5/rating")
    expect(page.locator("#screen-idle")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_have_text("Xin kính chào Ông/Bà")  # one visible h1 per screen
    check(page, "rating pad, idle")
    t = issue(site, "TKQ")
    assert site.post("/api/counters/main-5/call", who="staff2", json={"ticket": t["id"]}).status_code == 200
    assert site.post("/api/counters/main-5/finish", who="staff2",
                     json={"ticket": t["id"], "procedures": ["TKQ"]}).status_code == 200
    expect(page.locator("#screen-ask")).to_be_visible()
    check(page, "rating pad, question")
    check.touch_sized(page, "rating pad, question")
    page.locator("button.face[data-level=unsatisfied]").click()
    expect(page.locator("#screen-reasons")).to_be_visible()
    check(page, "rating pad, reasons")
    check.touch_sized(page, "rating pad, reasons")
    page.locator("button.reason").first.click()
    expect(page.locator("button.reason").first).to_have_attribute("aria-pressed", "true")
    check(page, "rating pad, a reason chosen")
    page.locator("#send-reasons").click()
    expect(page.locator("#screen-thanks")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_have_text("Xin cảm ơn Ông/Bà đã đánh giá!")
    check(page, "rating pad, thanks")
    check.assert_clean()


def test_reception_desk(site, open_page, check):
    page = open_page(DESKTOP)
    sign_in(page, site, "staff1", "/desk/main")
    expect(page.locator("#desk-form")).to_be_visible()
    check(page, "reception desk")
    page.locator("#desk-form button[type=submit]").click()
    expect(page.locator("#d-result")).to_be_visible()
    check(page, "reception desk, ticket issued")
    check.assert_clean()


# ---------------------------------------------------------------- manager, admin and settings pages


# path, and an element that shows the page's scripts have drawn it (live figures, tables, voice status)
MANAGER_PAGES = {
    "manager overview": ("/manager/?site=main", "#kpis > *"),
    "reports": ("/manager/reports?site=main", "#summary"),
    "report print": ("/manager/reports/print?site=main", "main"),
    "staffing": ("/manager/staffing?site=main", "#staffing-table tbody tr"),
    "audit": ("/manager/audit", "#audit-count:not(:empty)"),
}
ADMIN_PAGES = {
    "admin index": ("/manager/admin/", "main"),
    "admin accounts": ("/manager/admin/users", "main form"),
    "admin devices": ("/manager/admin/devices", "main form"),
    "admin counters": ("/manager/admin/counters", "main form"),
    "display settings": ("/display/main-hall/settings", "#voice-status[data-mode]"),
    "index, signed in": ("/", "main"),
}


@pytest.mark.parametrize("who, pages", [("manager", MANAGER_PAGES), ("admin", ADMIN_PAGES)],
                         ids=["manager-pages", "admin-and-settings-pages"])
def test_signed_in_pages(site, open_page, check, who, pages):
    issue(site, "CT")
    page = open_page(DESKTOP)
    sign_in(page, site, who, "/")
    for screen, (path, ready) in pages.items():
        response = page.goto(site.url + path)
        assert response is not None and response.status == 200, f"{screen}: HTTP {response and response.status}"
        page.locator(ready).first.wait_for()
        check(page, screen)
    check.assert_clean()


# ---------------------------------------------------------------- when the server is out of reach


def test_reconnecting_signs_while_the_server_is_down(site, open_page, check):
    """Every live screen shows its "reconnecting" sign when the network or the server drops: readable too."""
    t = issue(site, "CT")
    screens = {}
    counter = screens["counter"] = open_page(DESKTOP)
    sign_in(counter, site, "staff2", "/counter/main-6")
    expect(counter.locator("#counter-status")).to_be_visible()
    for name, viewport, url, ready in (
        ("counter top", COUNTER_TOP, "/counter/main-4/top", "#top-number"),
        ("rating pad", PAD, "/counter/main-5/rating", "#screen-idle"),
        ("waiting-room display", FULL_HD, f"/display/main-hall#token={site.tokens['main-hall']}", "#counters .counter"),
        ("public status", PHONE, "/status/main", "#st-counters li"),
        ("follow page", PHONE, t["public_url"].removeprefix(site.url), "#f-status"),
        ("kiosk", FULL_HD, f"/kiosk/main-kiosk-1#token={site.tokens['main-kiosk-1']}", "#k-start"),
    ):
        page = screens[name] = open_page(viewport)
        page.goto(site.url + url)
        expect(page.locator(ready).first).to_be_visible()
    signs = {"counter": "#conn", "counter top": "#top-conn", "rating pad": "#pad-conn",
             "waiting-room display": "#conn-status", "public status": "#conn-status", "follow page": "#f-conn",
             "kiosk": "#k-conn"}
    site.kill()  # like a crash or a pulled cable: the connections drop at once
    try:
        for name, page in screens.items():
            expect(page.locator(signs[name])).to_be_visible(timeout=20000)
            check(page, f"{name}, reconnecting")
    finally:
        site.start()
    check.assert_clean()
