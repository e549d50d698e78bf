"""The waiting-room display and public status page in Debian's chromium, against a real server."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
import requests
import socketio
from playwright.sync_api import expect

from center.output.voice import wav_stats
from tests.display_support import (
    BRANCH_COUNTER_1_DISPLAY,
    fast_voice_config,
    issue_and_call,
    wait_until,
)

DOCS = Path(__file__).resolve().parent.parent / "docs"


@pytest.fixture
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1920, "height": 1080}}


@pytest.fixture
def vserver(make_server, tmp_path):
    """A server on the demo config with one reading per announcement and a branch display for counter 1."""
    return make_server(config=fast_voice_config(tmp_path, BRANCH_COUNTER_1_DISPLAY))


def open_display(page, server, display="main-hall", token=True):
    url = f"{server.url}/display/{display}"
    if token:
        url += "#token=" + server.tokens[display]
    page.goto(url)
    wait_until(page, "document.querySelectorAll('#counters .counter').length > 0")


@pytest.mark.browser
def test_display_shows_a_call_made_through_the_api(vserver, page):
    open_display(page, vserver)
    expect(page.locator("#conn-status")).to_be_hidden()
    for service in ("CT", "HT", "HT", "CC"):  # some citizens waiting
        assert vserver.post("/api/tickets", json={"site": "main", "service": service}).status_code == 201
    expect(page.locator("#services tr[data-service='HT'] td.num")).to_have_text("2")
    before = time.time()
    ticket = issue_and_call(vserver, "CT", "main-3", who="staff1")
    expect(page.locator("#latest-number")).to_have_text(ticket["number"])
    shown = page.evaluate("window.xephangLastCall")
    print(f"API call -> DOM update: {shown['shown_at'] - before * 1000:.0f} ms (includes issuing)")
    expect(page.locator("#latest-counter")).to_have_text("3")
    expect(page.locator("#counters [data-counter='main-3'] .ct")).to_have_text(ticket["number"])
    expect(page.locator("#latest")).to_have_class("latest blink")
    # another call pushes the first one into "last calls"
    second = issue_and_call(vserver, "TKQ", "main-1", who="staff2")
    expect(page.locator("#latest-number")).to_have_text(second["number"])
    expect(page.locator("#recent li .n").first).to_have_text(ticket["number"])
    # clock and date in Vietnamese: "Thứ Hai, 07/12/2026"
    day = re.compile(r"^(Thứ (Hai|Ba|Tư|Năm|Sáu|Bảy)|Chủ nhật), \d{2}/\d{2}/\d{4}$")
    expect(page.locator("#date")).to_have_text(day)
    DOCS.mkdir(exist_ok=True)
    r = vserver.post("/display/notice", who="manager",
                     json={"site": "main", "text": "Buổi chiều làm việc từ 13:30 – Xin cảm ơn Ông/Bà!"})
    assert r.status_code == 200, r.text
    expect(page.locator("#notice")).to_have_text("Buổi chiều làm việc từ 13:30 – Xin cảm ơn Ông/Bà!")
    page.evaluate("document.getElementById('notice').style.animation = 'none'")
    page.screenshot(path=str(DOCS / "display.png"))


@pytest.mark.browser
def test_notice_is_shown_escaped_and_live(vserver, page):
    open_display(page, vserver, token=False)  # the page is public; no token needed
    text = "<b>Mất điện</b> <script>alert(1)</script> & nghỉ"
    assert vserver.post("/display/notice", who="manager", json={"site": "main", "text": text}).status_code == 200
    expect(page.locator("#notice")).to_have_text(text)
    assert page.locator("#notice b").count() == 0
    assert page.locator("#notice script").count() == 0
    page.reload()  # stored: a fresh page shows it too
    expect(page.locator("#notice")).to_have_text(text)


@pytest.mark.browser
def test_two_quick_calls_are_announced_in_order_and_a_recall_again(vserver, page):
    open_display(page, vserver)
    first = issue_and_call(vserver, "CT", "main-1", who="staff1")
    second = issue_and_call(vserver, "CT", "main-2", who="staff2")
    log = wait_until(page, "(window.xephangAnnouncements || []).length >= 2 && window.xephangAnnouncements", 60)
    assert [(a["number"], a["counter"]) for a in log] == [(first["number"], 1), (second["number"], 2)]
    assert log[1]["started_at"] >= log[0]["ended_at"], "the second call must not cut off the first"
    assert all(a["mode"] in ("server", "browser") for a in log), log  # a voice, not the chime alone
    assert "đến quầy số một" in log[0]["text"]
    assert page.locator("#announce-log li").count() == 2
    assert vserver.post("/api/counters/main-1/recall", who="staff1", json={}).status_code == 200
    log = wait_until(page, "(window.xephangAnnouncements || []).length >= 3 && window.xephangAnnouncements", 60)
    assert (log[2]["number"], log[2]["counter"]) == (first["number"], 1)
    assert log[2]["recall"] is True
    assert log[2]["started_at"] >= log[1]["ended_at"]


@pytest.mark.browser
def test_display_recovers_by_itself_after_server_restart(vserver, page):
    open_display(page, vserver)
    issue_and_call(vserver, "CT", "main-1")
    # Killed, as in a power cut (a graceful stop would also wait ~10 s for the open websocket), then started.
    vserver.kill()
    expect(page.locator("#conn-status")).to_be_visible(timeout=15000)
    vserver.start()
    ticket = issue_and_call(vserver, "CT", "main-2", who="staff2")
    expect(page.locator("#latest-number")).to_have_text(ticket["number"], timeout=30000)
    expect(page.locator("#conn-status")).to_be_hidden()
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1  # never reloaded


@pytest.mark.browser
def test_display_shows_only_its_counters(vserver, page):
    page.goto(f"{vserver.url}/display/branch-c1")
    wait_until(page, "document.querySelectorAll('#counters .counter').length > 0")
    assert page.locator("#counters .counter").count() == 1
    other = issue_and_call(vserver, "CT", "branch-2", who="staff2", site="branch")
    mine = issue_and_call(vserver, "CT", "branch-1", who="staff1", site="branch")
    expect(page.locator("#latest-number")).to_have_text(mine["number"])
    assert other["number"] not in page.locator("#tv").inner_text()


@pytest.mark.browser
def test_public_status_page_is_live(vserver, page):
    page.set_viewport_size({"width": 412, "height": 915})
    page.goto(f"{vserver.url}/status/main")
    expect(page.locator("#st-services tr[data-service='HT'] td.num")).to_have_text("0")
    assert vserver.post("/api/counters/main-3/take", who="staff1").status_code == 200  # open for HT: an estimate
    for _ in range(3):
        vserver.post("/api/tickets", json={"site": "main", "service": "HT"})
    expect(page.locator("#st-services tr[data-service='HT'] td.num")).to_have_text("3")
    expect(page.locator("#st-services tr[data-service='HT'] td").nth(2)).to_contain_text("phút")
    ticket = issue_and_call(vserver, "CT", "main-2")
    expect(page.locator("#st-counters [data-counter='main-2'] .ct")).to_have_text(ticket["number"])
    issue_and_call(vserver, "TKQ", "main-6", who="staff2")
    DOCS.mkdir(exist_ok=True)
    page.screenshot(path=str(DOCS / "status.png"), full_page=True)


@pytest.mark.browser
def test_manager_plays_a_test_announcement_on_the_display(vserver, page, context):
    open_display(page, vserver)
    settings = context.new_page()
    settings.goto(f"{vserver.url}/login?next=/display/main-hall/settings")
    settings.fill("input[name=username]", "manager")
    settings.fill("input[name=password]", "correct-horse-battery")
    settings.click("button[type=submit]")
    expect(settings.locator("h1")).to_contain_text("Cài đặt màn hình")
    expect(settings.locator("#voice-status")).not_to_have_text("Đang kiểm tra…")
    assert settings.locator("#voice-status").get_attribute("data-mode") in ("browser", "server")
    settings.click("#play-display")
    expect(settings.locator("#test-result")).to_contain_text("Đã gửi")
    log = wait_until(page, "(window.xephangAnnouncements || []).length >= 1 && window.xephangAnnouncements", 60)
    assert log[0]["test"] is True and log[0]["number"] == "A001"
    # and the notice form works from the same page
    settings.fill("#notice-text", "Thông báo thử")
    settings.click("#notice-form button[type=submit]")
    expect(page.locator("#notice")).to_have_text("Thông báo thử")


# ---------------------------------------------------------------- HTTP only


def test_announce_wav_is_rendered_and_restricted(server):
    r = requests.get(server.url + "/display/announce.wav", params={"number": "A023", "counter": "3"}, timeout=30)
    assert r.status_code == 200 and r.headers["Content-Type"] == "audio/wav"
    duration, rms = wav_stats(r.content)
    assert 2 <= duration <= 30 and rms > 0.01  # repeat = 2 in the demo config
    for params in ({"number": "hello world", "counter": "3"}, {"number": "A023", "counter": "99"},
                   {"number": "A023"}, {"text": "anything", "number": "A1", "counter": "x"}):
        bad = requests.get(server.url + "/display/announce.wav", params=params, timeout=10,
                           headers={"Accept": "application/json"})
        assert bad.status_code == 422, (params, bad.text)
        assert bad.json()["error"] in ("bad_number", "bad_counter")
    text = requests.get(server.url + "/display/announce.txt", params={"number": "1023", "counter": "3"}, timeout=10)
    assert text.json()["text"] == "Xin mời công dân có số thứ tự một nghìn không trăm hai mươi ba đến quầy số ba"


def test_notice_needs_a_manager_and_reaches_the_site_room(server):
    client = socketio.Client()
    got = []
    client.on("notice.updated", got.append)
    client.connect(server.url, auth={"site": "main"}, transports=["websocket"])
    try:
        body = {"site": "main", "text": "Nghỉ trưa 11:30–13:30"}
        assert server.post("/display/notice", who=None, json=body).status_code in (400, 401)
        assert server.post("/display/notice", who="staff1", json=body).status_code == 403
        assert server.post("/display/notice", who="main-hall", json=body).status_code == 403
        assert server.post("/display/notice", who="manager", json={**body, "site": "nowhere"}).status_code == 404
        assert server.post("/display/notice", who="manager", json={**body, "text": "x" * 501}).status_code == 422
        assert server.post("/display/notice", who="manager", json=body).status_code == 200
        assert server.post("/display/notice", who="admin", json={"site": "branch", "text": "Điểm 2"}).status_code == 200
        deadline = time.monotonic() + 5
        while not got and time.monotonic() < deadline:
            time.sleep(0.05)
        assert got == [{"site": "main", "text": "Nghỉ trưa 11:30–13:30"}]  # not the branch's notice
    finally:
        client.disconnect()
    assert server.get("/display/notice/main", who=None).json()["text"] == "Nghỉ trưa 11:30–13:30"
    assert server.get("/display/notice/branch", who=None).json()["text"] == "Điểm 2"


def test_pages_answer_friendly_errors_and_settings_need_sign_in(server):
    r = server.get("/display/no-such-screen", who=None)
    assert r.status_code == 404 and "Không có màn hình" in r.text
    assert server.get("/status/nowhere", who=None).status_code == 404
    r = requests.get(server.url + "/display/main-hall/settings", allow_redirects=False, timeout=10)
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    assert server.get("/display/main-hall/settings", who="staff1").status_code == 403
    assert server.get("/display/main-hall/settings", who="manager").status_code == 200
    status = server.get("/status/main", who=None)
    assert status.status_code == 200 and "Điểm tiếp nhận số 1" in status.text
    assert server.post("/display/main-hall/test", who="staff1", json={}).status_code == 403


# Every screen size docs/display.md supports: TVs landscape and portrait, small PC monitors, a tablet.
SIZES = [(1920, 1080), (1366, 768), (1280, 720), (1080, 1920), (768, 1366)]

# What a person cannot see: elements of the display outside their section or the screen, or cut short.
HIDDEN_PARTS = """() => {
    const out = [];
    const inside = (el, box) => { const r = el.getBoundingClientRect();
        return r.width > 0 && r.height > 0 && r.top >= box.top - 0.5 && r.bottom <= box.bottom + 0.5
            && r.left >= box.left - 0.5 && r.right <= box.right + 0.5; };
    const screen = { top: 0, left: 0, bottom: innerHeight, right: innerWidth };
    const cut = (el) => el.scrollWidth > el.clientWidth + 1
        || (getComputedStyle(el).overflowY !== 'visible' && el.scrollHeight > el.clientHeight + 1);
    const counters = document.querySelector('section.counters').getBoundingClientRect();
    document.querySelectorAll('#counters .counter').forEach((c) => {
        if (!inside(c, counters) || !inside(c, screen)) out.push('counter ' + c.dataset.counter);
        c.querySelectorAll('.cn, .ct').forEach((t) => {
            if (cut(t)) out.push('text of counter ' + c.dataset.counter);
        });
    });
    const waiting = document.querySelector('section.waiting').getBoundingClientRect();
    document.querySelectorAll('#services tr').forEach((tr) => {
        if (!inside(tr, waiting) || !inside(tr, screen)) out.push('service ' + tr.dataset.service);
        tr.querySelectorAll('td').forEach((td) => { if (cut(td)) out.push('text of service ' + tr.dataset.service); });
    });
    const latest = document.querySelector('section.latest').getBoundingClientRect();
    ['latest-number', 'latest-counter', 'latest-service'].forEach((id) => {
        const el = document.getElementById(id);
        if (!inside(el, latest) || !inside(el, screen) || cut(el)) out.push(id);
    });
    return out;
}"""


@pytest.mark.browser
@pytest.mark.parametrize(("width", "height"), SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_every_counter_and_service_shows_at_every_supported_size(vserver, page, width, height):
    page.set_viewport_size({"width": width, "height": height})
    open_display(page, vserver)
    r = vserver.post("/display/notice", who="manager", json={"site": "main", "text": "Buổi chiều làm việc từ 13:30"})
    assert r.status_code == 200, r.text  # the notice bar takes its share of the height
    expect(page.locator("#notice")).to_have_text("Buổi chiều làm việc từ 13:30")
    # A busy morning: someone waits for every service, the longest service name is being called.
    for service in ("CT", "HT", "CC", "DD", "KT", "XH", "TKQ"):
        assert vserver.post("/api/tickets", json={"site": "main", "service": service}).status_code == 201
    ticket = issue_and_call(vserver, "HD", "main-6", who="staff2")
    expect(page.locator("#latest-number")).to_have_text(ticket["number"])
    expect(page.locator("#services tr[data-service='KT'] td.num")).to_have_text("1")
    assert page.locator("#counters .counter").count() == 6  # the demo site's six counters
    assert page.locator("#services tr").count() == 8  # and its eight services
    assert page.evaluate(HIDDEN_PARTS) == []
    if (width, height) == (1080, 1920):
        for _ in range(3):  # a few last calls, as in a busy morning
            issue_and_call(vserver, "CT", "main-1", who="staff1")
            vserver.post("/api/counters/main-1/no-show", who="staff1", json={})
        issue_and_call(vserver, "CT", "main-1", who="staff1")
        page.evaluate("(() => { const n = document.getElementById('notice'); n.style.animation = 'none';"
                      " n.style.paddingLeft = '2vw'; })()")
        page.screenshot(path=str(DOCS / "display-portrait.png"))


@pytest.mark.browser
def test_a_wait_without_an_open_counter_is_explained(vserver, page):
    """A service nobody serves now (its counters closed or paused) has no estimate: say so, not "—", in the
    kiosk's words (center.queue.availability.note)."""
    open_display(page, vserver)
    issue_and_call(vserver, "CT", "main-1")  # counter 1 opens; the others stay closed
    op = vserver.post("/api/counters/main-5/take", who="staff2", json={})
    assert op.status_code == 200, op.text
    assert vserver.post("/api/counters/main-5/pause", who="staff2", json={"reason": "break"}).status_code == 200
    assert vserver.post("/api/tickets", json={"site": "main", "service": "DD"}).status_code == 201  # counter 5 only
    cell = page.locator("#services tr[data-service='DD'] td").nth(2)
    expect(cell).to_have_text("Quầy đang tạm nghỉ")  # counter 5, the only one for DD, is paused
    expect(page.locator("#services tr[data-service='HT'] td").nth(2)).to_have_text("Chưa có quầy mở")
    page.goto(f"{vserver.url}/status/main")
    expect(page.locator("#st-services tr[data-service='DD'] td").nth(2)).to_have_text("Quầy đang tạm nghỉ – sẽ mở lại")
