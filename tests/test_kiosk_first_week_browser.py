"""Issue 13 items 5 and 6, as a citizen sees them: pictograms for the priority groups, spoken guidance,
a service with no counter open, the stopped-issuing screen, and the wait as one calibrated range with the
same words on the kiosk, the phone page and the status page."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from center.queue.estimate import wait_text

pytestmark = pytest.mark.browser

RANGE_WORDS = re.compile(r"^(dưới \d+ phút|khoảng \d+–\d+ phút)$")


def open_kiosk(page, server, kiosk="main-kiosk-1", query=""):
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.goto(f"{server.url}/kiosk/{kiosk}{query}#token={server.tokens[kiosk]}")
    expect(page.locator("#k-start")).to_be_visible()


def test_priority_groups_are_pictograms_too(page, server):
    open_kiosk(page, server)
    page.locator('.k-prio[data-priority-for="HT"]').click()
    expect(page.locator("#k-groups")).to_be_visible()
    groups = page.locator(".k-group")
    expect(groups).to_have_count(5)
    for code in ("elderly", "pregnant", "disabled", "children", "merit"):
        icon = page.locator(f'.k-group[data-group="{code}"] img.k-group-icon')
        expect(icon).to_have_attribute("src", re.compile(rf"/kiosk/static/kiosk/icons/{code}\.svg$"))
        expect(icon).to_be_visible()
        assert icon.evaluate("img => img.complete && img.naturalWidth > 0")  # the offline SVG is served


def test_tile_says_no_counter_is_open_and_the_ticket_says_it_instead_of_a_dash(page, server):
    assert server.post("/api/counters/main-1/take", who="staff1").status_code == 200  # CT and TKQ only
    open_kiosk(page, server)
    ht_note = page.locator('[data-note="HT"]')
    expect(ht_note).to_have_text("Chưa có quầy mở – vui lòng hỏi cán bộ")  # before the tap
    expect(page.locator('[data-note="CT"]')).to_be_hidden()
    page.locator('.k-service[data-service="HT"]').click()
    expect(page.locator("#k-ticket")).to_be_visible()
    expect(page.locator("#t-note")).to_have_text("Chưa có quầy mở – vui lòng hỏi cán bộ")
    expect(page.locator("#t-wait")).to_be_hidden()
    assert "—" not in page.locator(".k-ticket-card").inner_text()
    page.locator("#k-done").click()
    # A counter serving HT opens: the tile drops the note by itself (live).
    assert server.post("/api/counters/main-3/take", who="staff2").status_code == 200
    expect(ht_note).to_be_hidden(timeout=10000)
    expect(page.locator('[data-info="HT"]')).to_contain_text("1 người đang chờ · ")


def test_stopped_issuing_never_says_no_wait_and_does_not_invite_a_tap(page, make_server, tmp_path):
    from tests.conftest import DEMO_CONFIG

    text = DEMO_CONFIG.read_text(encoding="utf-8").replace('hours = { default = ["00:00-24:00"] }',
                                                           'hours = { default = [] }')
    path = tmp_path / "closed.toml"
    path.write_text(text, encoding="utf-8")
    server = make_server(config=path)
    open_kiosk(page, server)
    expect(page.locator("#k-closed")).to_contain_text("tạm ngừng cấp số")
    expect(page.locator("#k-headline")).to_be_hidden()
    infos = page.locator(".k-info")
    for i in range(infos.count()):
        expect(infos.nth(i)).not_to_have_text(re.compile("Không phải chờ"))
        expect(infos.nth(i)).to_have_text("")


def test_js_and_python_word_the_range_the_same(page, server):
    open_kiosk(page, server)
    ranges = [[0, 300], [0, 600], [300, 1200], [600, 1800], [2400, 4800], [3900, 6900], None]
    for lang in ("vi", "en"):
        got = page.evaluate("([rs, lang]) => rs.map((r) => xephang.waitRange(r, lang))", [ranges, lang])
        assert got == [wait_text(r, lang) for r in ranges]


def test_wait_range_reads_the_same_on_kiosk_phone_and_status_page(page, server):
    assert server.post("/api/counters/main-1/take", who="staff1").status_code == 200
    for _ in range(5):  # a queue at the only open certification counter: a wait of some 20 minutes
        assert server.post("/api/tickets", who="staff1", json={"site": "main", "service": "CT"}).status_code == 201
    open_kiosk(page, server)
    with page.expect_response(re.compile(r"/kiosk/main-kiosk-1/issue$")) as issued:
        page.locator('.k-service[data-service="CT"]').click()
    ticket = issued.value.json()["ticket"]
    bounds = ticket["estimated_wait_range_s"]
    assert bounds and bounds[1] > 300 and ticket["estimated_wait_s"] is not None
    words = wait_text(bounds)
    assert RANGE_WORDS.match(words)
    expect(page.locator("#t-wait")).to_have_text("Thời gian chờ dự kiến: " + words)

    with page.expect_response(re.compile(r"/api/public/tickets/")) as followed:
        page.goto(f"{server.url}/t/{ticket['public_id']}")
    seen = followed.value.json()["estimated_wait_range_s"]
    expect(page.locator("#f-wait")).to_have_text("Chờ dự kiến: " + wait_text(seen))

    page.goto(f"{server.url}/status/main")
    cell = page.locator('#st-services tr[data-service="CT"] td').nth(2)
    expect(cell).to_have_text(RANGE_WORDS)
    shown = cell.inner_text()
    api = next(s for s in server.get("/api/queue?site=main").json()["services"] if s["code"] == "CT")
    assert shown == wait_text(api["estimated_wait_range_s"])


def test_spoken_guidance_uses_the_server_voice_when_the_browser_has_none(page, server):
    page.add_init_script("delete window.speechSynthesis;")  # a kiosk browser without a Vietnamese voice
    open_kiosk(page, server)
    with page.expect_response(re.compile(r"/kiosk/main-kiosk-1/speech\.wav\?say=guide")) as guide:
        page.locator("#k-listen").click()
    assert guide.value.status == 200 and guide.value.headers["content-type"] == "audio/wav"
    assert guide.value.body()[:4] == b"RIFF"
    with page.expect_response(re.compile(r"/speech\.wav\?say=ticket&lang=vi&ticket=")) as said:
        page.locator('.k-service[data-service="CT"]').click()
    assert said.value.status == 200
    spoken = page.evaluate("window.xephangKioskSpeech")
    assert [s["say"] for s in spoken] == ["guide", "ticket"] and spoken[1]["mode"] == "server"
    assert spoken[1]["text"].startswith("Số thứ tự của Ông/Bà là a, một.")


def test_spoken_guidance_is_off_unless_the_kiosk_asks_for_it(page, server):
    open_kiosk(page, server, kiosk="branch-kiosk-1")
    expect(page.locator("#k-listen")).to_have_count(0)
    r = server.get("/kiosk/branch-kiosk-1/speech.wav?say=guide", who=None)
    assert r.status_code == 404 and r.json()["error"] == "no_voice"


def test_phone_page_says_no_counter_is_open_instead_of_a_dash(page, server):
    assert server.post("/api/counters/main-1/take", who="staff1").status_code == 200  # CT and TKQ only
    r = server.post("/api/tickets", who="staff1", json={"site": "main", "service": "HT"})
    assert r.status_code == 201, r.text
    page.goto(f"{server.url}/t/{r.json()['public_id']}")
    expect(page.locator("#f-wait")).to_have_text("Chưa có quầy mở – vui lòng hỏi cán bộ")
    # A counter serving HT opens: the phone page gives the estimate instead.
    assert server.post("/api/counters/main-3/take", who="staff2").status_code == 200
    expect(page.locator("#f-wait")).to_have_text(re.compile(r"^Chờ dự kiến: (dưới \d+ phút|khoảng \d+–\d+ phút)$"),
                                                 timeout=15000)
