"""Issue 15 in real Chromium: a center and a node server each on their own database. The center's overview shows
the node's site live with "N giây trước" and the "Places" panel, then the silent-node alert once the node
server stops; the node's counter page says when its link to the center is down and records wait."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests
from playwright.sync_api import expect

from tests.conftest import PASSWORD
from tests.sync_support import center_config, make_node, staff_token

DOCS = Path(__file__).resolve().parent.parent / "docs"
pytestmark = pytest.mark.browser


def sign_in(page, url: str, user: str, then: str) -> None:
    page.goto(url + "/login?next=" + then)
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**" + then)


def wait_for(check, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.3)


def test_the_center_overview_shows_a_node_live_then_its_silence(page, tmp_path, make_server):
    center = make_server(config=center_config(tmp_path), env={"XEPHANG_SYNC_SILENT_S": "6"})
    node = make_node(tmp_path, center, "branch", env={"XEPHANG_SYNC_HEARTBEAT_S": "1"})
    staff = {"Authorization": f"Bearer {staff_token(node)}"}
    for service in ("CT", "CT", "HT", "CT"):
        r = requests.post(node.url + "/api/tickets", json={"site": "branch", "service": service}, headers=staff,
                          timeout=10)
        assert r.status_code == 201, r.text
    for step in ("take", "call-next"):
        assert requests.post(f"{node.url}/api/counters/branch-1/{step}", json={}, headers=staff, timeout=10).ok

    def arrived() -> bool:
        s = center.get("/manager/api/overview?site=branch", who="manager").json()
        return sum(x["waiting"] for x in s["services"]) == 3 and any(c.get("ticket") for c in s["counters"])

    wait_for(arrived)
    sign_in(page, center.url, "manager", "/manager/?site=branch")
    page.set_viewport_size({"width": 1280, "height": 900})
    line = page.locator("#node-line")
    expect(line).to_contain_text("Điểm 45 Trần Phú")
    expect(line).to_contain_text("giây trước")
    expect(page.locator('[data-counter="branch-1"]')).to_have_class("counter serving")
    expect(page.locator('#services tr[data-service="CT"] td:nth-child(2)')).to_have_text("2")
    row = page.locator('#places-table tr[data-node="branch"]')
    expect(row).to_contain_text("giây trước")
    expect(row).to_contain_text("Có")
    expect(page.locator('#places-table tr[data-node="mobile1"]')).to_contain_text("chưa kết nối lần nào")
    expect(page.locator('#alerts li[data-kind="node_silent"]')).to_have_count(0)
    page.screenshot(path=str(DOCS / "manager-places.png"), full_page=True)

    node.stop()  # the node's server goes away: no more heartbeats
    alert = page.locator('#alerts li[data-kind="node_silent"][data-node="branch"]')
    expect(alert).to_contain_text("Chưa nhận được tin từ Điểm 45 Trần Phú từ", timeout=30000)
    expect(line).to_have_class("node-line silent")
    expect(line).to_contain_text("chưa có tin mới")


def test_the_node_counter_page_says_when_the_link_is_down(page, tmp_path, make_server):
    center = make_server(config=center_config(tmp_path))
    node = make_node(tmp_path, center, "branch", env={"XEPHANG_SYNC_HEARTBEAT_S": "1", "XEPHANG_SYNC_DOWN_S": "3"})
    sign_in(page, node.url, "staff1", "/counter/branch-1")
    status = page.locator("#sync-status")
    expect(status.locator(".sync-note")).to_contain_text("Cấu hình nhận từ trung tâm lúc")
    expect(status.locator(".sync-banner")).to_have_count(0)

    center.stop()
    staff = {"Authorization": f"Bearer {staff_token(node)}"}
    r = requests.post(node.url + "/api/tickets", json={"site": "branch", "service": "CT"}, headers=staff, timeout=10)
    assert r.status_code == 201  # the node goes on serving without its center
    banner = status.locator('.sync-banner[data-kind="link_down"]')
    expect(banner).to_contain_text("Mất kết nối tới trung tâm từ", timeout=30000)
    expect(banner).to_contain_text("bản ghi đang chờ gửi")
    node.stop()
