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
        expect(counter.locator("#now-label")).to_have_text("Đã gọi – chờ công dân đến")
        counter.set_viewport_size({"width": 1366, "height": 768})  # a common counter PC screen
        counter.screenshot(path=str(DOCS / "counter.png"))
        counter.set_viewport_size({"width": 1280, "height": 900})
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


def test_keyboard_shortcuts_drive_every_action(server, page):
    t1, t2 = issue(server, "CT"), issue(server, "CT")
    sign_in(page, server, "staff1", "/counter/main-1")
    expect(page.locator("#counter-status")).to_have_text("Đang mở")
    for label, key in (("Gọi số tiếp theo", "N"), ("Gọi lại", "R"), ("Vắng mặt", "V"), ("Bắt đầu", "B"),
                       ("Hoàn thành", "H"), ("Chuyển", "C"), ("Gọi số cụ thể", "S"), ("Tạm dừng", "P")):
        expect(page.locator("button.act", has_text=label).first.locator("kbd")).to_have_text(key)

    page.keyboard.press("n")
    expect(page.locator("#current-number")).to_have_text(t1["number"])
    page.keyboard.press("r")
    expect(page.locator("#current-state")).to_have_text("Đã gọi (lần 2)")
    assert ticket(server, t1["id"])["call_count"] == 2
    page.keyboard.press("v")  # seconds after the call: asked first, Enter confirms
    expect(page.locator("#panel-noshow")).to_be_visible()
    page.keyboard.press("Enter")
    expect(page.locator("#current-number")).to_have_text("—")
    assert ticket(server, t1["id"])["status"] == "no_show"

    page.keyboard.press("F1")
    expect(page.locator("#current-number")).to_have_text(t2["number"])
    page.keyboard.press("b")
    expect(page.locator("#current-state")).to_have_text("Đang phục vụ")
    assert ticket(server, t2["id"])["status"] == "serving"
    page.keyboard.press("h")
    expect(page.locator("#panel-finish")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator("#panel-finish")).to_be_hidden()
    page.keyboard.press("h")
    page.locator("button.proc[data-code=CT-CK]").click()
    expect(page.locator("button.proc[data-code=CT-CK]")).to_have_attribute("aria-pressed", "true")
    page.locator("#proc-search").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#current-number")).to_have_text("—")
    done = ticket(server, t2["id"])
    assert done["status"] == "served" and [p["code"] for p in done["procedures"]] == ["CT-CK"]

    page.keyboard.press("p")
    page.locator("#pause-reasons button[data-reason=meeting]").click()
    expect(page.locator("#counter-status")).to_have_text("Tạm dừng")
    expect(page.locator("#pause-reason")).to_have_text("Họp")
    state = server.get("/api/counters/main-1", who="staff1").json()
    assert state["status"] == "paused" and state["pause_reason"] == "meeting"
    page.keyboard.press("p")
    expect(page.locator("#counter-status")).to_have_text("Đang mở")

    # the citizen marked absent came back: call that number out of order
    page.keyboard.press("s")
    page.locator("#callnum-input").fill(t1["number"])
    page.keyboard.press("Enter")
    expect(page.locator("#current-number")).to_have_text(t1["number"])
    page.keyboard.press("c")
    page.locator("#transfer-service").select_option("HT")
    page.locator("#transfer-note").fill("Cần bổ sung giấy khai sinh <b>bản gốc</b>")
    page.keyboard.press("Enter")
    expect(page.locator("#current-number")).to_have_text("—")
    moved = ticket(server, t1["id"])
    assert moved["status"] == "transferred"
    new = ticket(server, moved["transferred_to"])
    assert (new["service"], new["status"], new["number"]) == ("HT", "waiting", t1["number"])
    assert new["note"] == "Cần bổ sung giấy khai sinh <b>bản gốc</b>"


def test_second_staff_member_on_a_taken_counter_is_refused_on_screen(server, browser):
    one, two = browser.new_context(), browser.new_context()
    try:
        t = issue(server, "CT")
        p1 = one.new_page()
        sign_in(p1, server, "staff1", "/counter/main-2")
        expect(p1.locator("#counter-status")).to_have_text("Đang mở")
        p2 = two.new_page()
        sign_in(p2, server, "staff2", "/counter/main-2")
        expect(p2.locator("#banner")).to_have_text(
            "Quầy 2 đang do staff1 phụ trách. Bạn không thể gọi số tại quầy này.")
        p2.keyboard.press("n")
        p2.get_by_role("button", name=re.compile("Gọi số tiếp theo")).click()
        expect(p2.locator("#banner")).to_contain_text("đang do staff1 phụ trách")
        assert ticket(server, t["id"])["status"] == "waiting"
        r = server.post("/api/counters/main-2/call-next", who="staff2")
        assert r.status_code == 409 and r.json()["error"] == "counter_taken"

        # staff1 signs out: the counter is released and the waiting screen of staff2 takes it over
        p1.get_by_role("button", name="Đăng xuất").click()
        expect(p1).to_have_url(re.compile(r"/login$"))
        expect(p2.locator("#banner")).to_be_hidden()
        p2.keyboard.press("n")
        expect(p2.locator("#current-number")).to_have_text(t["number"])
        assert ticket(server, t["id"])["staff"] == "staff2"
    finally:
        one.close()
        two.close()


def test_page_follows_changes_made_elsewhere_and_resyncs_after_a_server_restart(server, page):
    t1, t2, t3 = issue(server, "CT"), issue(server, "CT"), issue(server, "CT")
    sign_in(page, server, "staff1", "/counter/main-1")
    page.keyboard.press("n")
    expect(page.locator("#current-number")).to_have_text(t1["number"])
    # the same staff member moves on from another device: this screen must drop t1 at once
    assert server.post("/api/counters/main-1/no-show", who="staff1", json={"ticket": t1["id"]}).status_code == 200
    expect(page.locator("#current-number")).to_have_text("—")
    assert server.post("/api/counters/main-1/call-next", who="staff1").json()["id"] == t2["id"]
    expect(page.locator("#current-number")).to_have_text(t2["number"])
    # what a stale screen would send (t1) is refused by the engine
    stale = server.post("/api/counters/main-1/recall", who="staff1", json={"ticket": t1["id"]})
    assert stale.status_code == 409 and stale.json()["error"] == "stale_ticket"

    server.stop()
    expect(page.locator("#conn")).to_be_visible(timeout=15000)
    server.start()
    expect(page.locator("#conn")).to_be_hidden(timeout=15000)
    r = server.post("/api/counters/main-1/finish", who="staff1", json={"ticket": t2["id"], "procedures": ["CT-BS"]})
    assert r.status_code == 200
    assert server.post("/api/counters/main-1/call-next", who="staff1").json()["id"] == t3["id"]
    expect(page.locator("#current-number")).to_have_text(t3["number"])
    expect(page.locator("#waiting-body tr[data-service=CT] td").nth(1)).to_have_text("0")
    expect(page.locator("#me-served")).to_have_text("1")


def test_kiosk_token_or_anonymous_browser_cannot_call_or_finish(server, browser):
    t = issue(server, "CT")
    for who, status in (("main-kiosk-1", 403), ("main-hall", 403), (None, 401)):
        for action, body in (("take", None), ("call-next", None), ("call", {"ticket": t["id"]}),
                             ("finish", {"procedures": ["CT-BS"]})):
            r = server.post(f"/api/counters/main-1/{action}", who=who, json=body)
            assert r.status_code == status, (who, action, r.text)
            assert r.json()["error"] in ("forbidden", "unauthorized")
        assert server.get("/counter/main-1/me", who=who,
                          headers={"Accept": "application/json"}).status_code == status
    assert ticket(server, t["id"])["status"] == "waiting"

    anon = browser.new_context()
    try:
        page = anon.new_page()
        page.goto(f"{server.url}/counter/main-1")
        expect(page).to_have_url(re.compile(r"/login\?next=/counter/main-1$"))
        expect(page.locator("input[name=username]")).to_be_visible()
        for path in ("/api/counters/main-1/call-next", "/api/counters/main-1/finish"):
            assert page.request.post(server.url + path, data={"procedures": ["CT-BS"]}).status == 401
        # the public screens open without a sign-in, and the pad cannot rate a ticket not finished here
        page.goto(f"{server.url}/counter/main-1/top")
        expect(page.locator(".top-counter-number")).to_have_text("1")
        page.goto(f"{server.url}/counter/main-1/rating")
        expect(page.locator("#screen-idle")).to_be_visible()
        code = page.evaluate("t => xephang.api('POST', '/counter/main-1/rating', {ticket: t, level: 'satisfied'})"
                             ".then(() => 'ok', e => e.code)", t["id"])
        assert code == "not_ratable"
    finally:
        anon.close()
    assert ticket(server, t["id"])["status"] == "waiting"


def test_rating_pad_goes_back_to_idle_after_its_timeout_and_does_not_ask_again(server, page):
    t = issue(server, "TKQ")
    server.post("/api/counters/main-1/call-next", who="staff1")
    page.clock.install()
    page.goto(f"{server.url}/counter/main-1/rating")
    expect(page.locator("#screen-idle")).to_be_visible()
    assert server.post("/api/counters/main-1/finish", who="staff1",
                       json={"ticket": t["id"], "procedures": ["TKQ"]}).status_code == 200
    expect(page.locator("#screen-ask")).to_be_visible()
    page.clock.fast_forward("01:01")  # the default timeout is 60 s
    expect(page.locator("#screen-idle")).to_be_visible()
    page.clock.fast_forward("00:31")  # a periodic resync finds the same unrated ticket: not asked again
    page.wait_for_timeout(500)
    expect(page.locator("#screen-idle")).to_be_visible()
    assert query(server, "SELECT count(*) FROM ratings")[0][0] == 0


def test_pages_in_english(server, page):
    sign_in(page, server, "staff1", "/counter/main-1?lang=en")
    expect(page.get_by_role("button", name=re.compile("Call next"))).to_be_visible()
    expect(page.locator("#counter-status")).to_have_text("Open")
    page.goto(f"{server.url}/counter/main-1/rating?lang=en")
    expect(page.locator("button.face .face-label")).to_have_text(["Very satisfied", "Satisfied", "Not satisfied"])
    page.goto(f"{server.url}/counter/main-1/top?lang=en")
    expect(page.locator(".top-counter")).to_contain_text("COUNTER")


def test_a_shortcut_pressed_right_after_esc_is_not_lost_in_the_closed_panel(server, page):
    t = issue(server, "CT")
    sign_in(page, server, "staff1", "/counter/main-1")
    page.keyboard.press("n")
    expect(page.locator("#current-number")).to_have_text(t["number"])
    page.keyboard.press("h")
    expect(page.locator("#proc-search")).to_be_focused()  # the panel is open, its search box has the focus
    page.keyboard.press("Escape")
    page.keyboard.press("h")  # at once: the key must not go to the search box that was just hidden
    expect(page.locator("#panel-finish")).to_be_visible()
    expect(page.locator("#proc-search")).to_have_value("")


def test_heading_says_the_counter_once_and_the_state_called_or_serving(server, page):
    t = issue(server, "CT")
    sign_in(page, server, "staff1", "/counter/main-1")
    expect(page.locator("#counter-heading")).to_have_text("Quầy 1 – Chứng thực")  # not "Quầy 1 – Quầy 1 – …"
    expect(page.locator("#counter-heading")).to_have_attribute("title", "Quầy 1 – Chứng thực")
    page.keyboard.press("n")
    expect(page.locator("#current-number")).to_have_text(t["number"])
    expect(page.locator("#now-label")).to_have_text("Đã gọi – chờ công dân đến")  # called, not yet served
    page.get_by_role("button", name=re.compile("Bắt đầu")).click()
    expect(page.locator("#now-label")).to_have_text("Đang phục vụ")


def test_actions_that_cannot_act_now_are_disabled_with_the_reason(server, page):
    t = issue(server, "CT")
    sign_in(page, server, "staff1", "/counter/main-1")
    act = {name: page.locator(f"button.act[data-act={name}]") for name in
           ("next", "recall", "noshow", "start", "finish", "transfer", "callnum", "pause")}
    expect(act["next"]).to_be_enabled()
    for name in ("recall", "noshow", "start", "finish", "transfer"):
        expect(act[name]).to_be_disabled()
        expect(act[name]).to_have_attribute("title", "Quầy chưa gọi số nào")
    page.keyboard.press("n")
    expect(page.locator("#current-number")).to_have_text(t["number"])
    for name in ("next", "callnum", "pause"):
        expect(act[name]).to_be_disabled()
        expect(act[name]).to_have_attribute("title", re.compile(f"Quầy đang có số {t['number']}"))
    for name in ("recall", "noshow", "start", "finish", "transfer"):
        expect(act[name]).to_be_enabled()
    # the shortcut of a disabled action says why, without a refused request and its red banner
    page.keyboard.press("n")
    expect(page.locator("#notice")).to_contain_text(f"Quầy đang có số {t['number']}")
    expect(page.locator("#banner")).to_be_hidden()
    act["start"].click()
    expect(page.locator("#current-state")).to_have_text("Đang phục vụ")
    for name in ("recall", "noshow"):
        expect(act[name]).to_be_disabled()
        expect(act[name]).to_have_attribute("title", "Công dân đã đến và đang được phục vụ")
    expect(act["start"]).to_have_attribute("title", "Đã bắt đầu phục vụ")
    page.keyboard.press("v")
    expect(page.locator("#banner")).to_be_hidden()
    assert ticket(server, t["id"])["status"] == "serving"


def test_procedure_search_enter_ticks_the_one_match_and_the_next_enter_finishes(server, page):
    t = issue(server, "CT")
    sign_in(page, server, "staff1", "/counter/main-1")
    page.keyboard.press("n")
    expect(page.locator("#current-number")).to_have_text(t["number"])
    page.keyboard.press("h")
    expect(page.locator("#proc-search")).to_be_focused()
    page.keyboard.type("chu ky")
    expect(page.locator("#proc-list button.proc")).to_have_count(1)
    page.keyboard.press("Enter")
    expect(page.locator("button.proc[data-code=CT-CK]")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#proc-search")).to_have_value("")
    expect(page.locator("#current-number")).to_have_text(t["number"])  # ticked, not finished yet
    page.keyboard.press("Enter")
    expect(page.locator("#current-number")).to_have_text("—")
    done = ticket(server, t["id"])
    assert done["status"] == "served" and [p["code"] for p in done["procedures"]] == ["CT-CK"]


def test_staff_see_that_a_manager_closed_their_counter_and_the_citizen_went_back_to_the_queue(server, page):
    t = issue(server, "CT")
    sign_in(page, server, "staff1", "/counter/main-1")
    page.keyboard.press("n")
    expect(page.locator("#current-number")).to_have_text(t["number"])
    assert server.post("/api/counters/main-1/release", who="manager", json={"force": True}).status_code == 200
    expect(page.locator("#current-number")).to_have_text("—")
    expect(page.locator("#counter-status")).to_have_text("Đóng")
    expect(page.locator("#banner")).to_contain_text(f"Quầy đã được đóng từ nơi khác; số {t['number']} không còn")
    expect(page.locator("#waiting-body tr[data-service=CT] td").nth(1)).to_have_text("1")  # waiting again
    page.keyboard.press("n")  # the staff member opens the counter again and calls the same citizen
    expect(page.locator("#current-number")).to_have_text(t["number"])
    expect(page.locator("#banner")).to_be_hidden()
