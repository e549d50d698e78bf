"""A no-show right after the call (a stray V key, 2 s after the call) is asked about first on the counter page,
and the audit log shows how soon after the call it came and whether the clerk confirmed it."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from center.queue.actors import Actor

from .conftest import ROOT
from .counter_support import issue, query, sign_in, ticket

STAFF = Actor("staff1", "staff")


def no_show_event(rows) -> dict:
    return json.loads(next(r["data"] for r in rows if r["kind"] == "no_show"))


def test_an_early_no_show_is_marked_early_with_whether_it_was_confirmed(engine, clock):
    a, b = engine.issue("main", "CT"), engine.issue("main", "CT")
    engine.call_next("main-1", STAFF)
    clock.advance(seconds=2)
    engine.no_show("main-1", STAFF, expect=a["id"], confirmed=True)
    engine.call_next("main-1", STAFF)
    clock.advance(seconds=45)  # past no_show_confirm_s (20 s): an ordinary no-show
    engine.no_show("main-1", STAFF, expect=b["id"])
    with engine.store.read() as conn:
        early = no_show_event(conn.execute("SELECT kind, data FROM ticket_events WHERE ticket_id = ?", (a["id"],)))
        late = no_show_event(conn.execute("SELECT kind, data FROM ticket_events WHERE ticket_id = ?", (b["id"],)))
    assert early == {"call_count": 1, "after_call_s": 2, "early": True, "confirmed": True}
    assert late == {"call_count": 1, "after_call_s": 45}


@pytest.mark.browser
def test_a_no_show_seconds_after_the_call_asks_first_and_the_audit_log_shows_it(server, page):
    t = issue(server, "CT")
    sign_in(page, server, "staff1", "/counter/main-1")
    expect(page.locator("#counter-status")).to_have_text("Đang mở")
    page.keyboard.press("n")
    expect(page.locator("#current-number")).to_have_text(t["number"])
    page.keyboard.press("v")  # the stray key
    dialog = page.locator("#panel-noshow")
    expect(dialog).to_be_visible()
    called = r"(vừa được gọi|mới được gọi \d+ giây trước)"
    expect(page.locator("#noshow-text")).to_have_text(
        re.compile(rf"^Số {t['number']} {called} — công dân có thể đang đi tới quầy\.$"))
    page.keyboard.press("Escape")  # not yet: nothing happened
    expect(dialog).to_be_hidden()
    assert ticket(server, t["id"])["status"] == "called"
    expect(page.locator("#current-number")).to_have_text(t["number"])

    page.locator("button.act[data-act=noshow]").click()
    expect(dialog).to_be_visible()
    page.locator("#noshow-confirm").click()
    expect(page.locator("#current-number")).to_have_text("—")
    assert ticket(server, t["id"])["status"] == "no_show"
    entry = next(e for e in server.get("/api/audit?site=main", who="manager").json()["entries"]
                 if e["action"] == "no_show" and e["ticket_id"] == t["id"])
    detail = json.loads(entry["detail"])
    assert detail["early"] is True and detail["confirmed"] is True and detail["after_call_s"] < 20
    assert entry["actor"] == "staff1"


@pytest.fixture
def quick_server(make_server, tmp_path):
    """The demo center with `no_show_confirm_s = 1`: the setting is read from config.toml."""
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    text, n = re.subn(r"(?m)^no_show_confirm_s = \d+", "no_show_confirm_s = 1", text)
    assert n == 1
    path = tmp_path / "quick.toml"
    path.write_text(text, encoding="utf-8")
    return make_server(config=path)


@pytest.mark.browser
def test_a_no_show_after_the_configured_delay_is_taken_at_once(quick_server, page):
    server = quick_server
    t = issue(server, "CT")
    sign_in(page, server, "staff1", "/counter/main-1")
    expect(page.locator("#counter-status")).to_have_text("Đang mở")
    page.keyboard.press("n")
    expect(page.locator("#current-number")).to_have_text(t["number"])
    page.wait_for_timeout(1500)  # longer than the configured 1 s since the call
    page.keyboard.press("v")
    expect(page.locator("#current-number")).to_have_text("—")
    expect(page.locator("#panel-noshow")).to_be_hidden()
    data = no_show_event(query(server, "SELECT kind, data FROM ticket_events WHERE ticket_id = ?", t["id"]))
    assert "early" not in data and data["after_call_s"] >= 1
