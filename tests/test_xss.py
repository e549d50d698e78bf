"""Everything people type is inert on every screen: script and markup payloads in config names, the
display notice, staff names and notes never run, and show as text."""

from __future__ import annotations

import re

import pytest
import requests

from .conftest import DEMO_CONFIG, PASSWORD

PAYLOAD = '<img src=x onerror="window.__xss=1">'
SCRIPT = "<script>window.__xss=2</script>"


@pytest.fixture
def hostile_server(make_server, tmp_path):
    text = DEMO_CONFIG.read_text(encoding="utf-8")
    text = text.replace('name = "Chứng thực"\n', f"name = '''Chứng thực {PAYLOAD}'''\n", 1)
    text = text.replace('name = "Trung tâm Phục vụ hành chính công phường Hòa Bình"',
                        f"name = '''Trung tâm {SCRIPT}'''")
    text = text.replace('name = "Quầy 1 – Chứng thực"', f"name = '''Quầy 1 {PAYLOAD}'''")
    path = tmp_path / "hostile.toml"
    path.write_text(text, encoding="utf-8")
    server = make_server(config=path)
    from center.storage.store import Store
    from center.web.auth import Accounts

    Accounts(Store(server.db)).update_user("staff2", display_name=f"Lan {PAYLOAD}")
    r = server.post("/display/notice", who="manager", json={"site": "main", "text": f"Thông báo {SCRIPT}{PAYLOAD}"})
    assert r.status_code == 200, r.text
    t = server.post("/api/tickets", json={"site": "main", "service": "CT"}).json()
    server.post("/api/counters/main-1/call-next", who="staff1")
    server.post("/api/counters/main-1/transfer", who="staff1", json={"service": "HT", "note": PAYLOAD})
    server.public_id = t["public_id"]
    return server


def sign_in(page, server, user="manager"):
    page.goto(server.url + "/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")


@pytest.mark.browser
def test_payloads_never_run_on_any_screen(hostile_server, page):
    server = hostile_server
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    public = [
        f"/kiosk/main-kiosk-1#token={server.tokens['main-kiosk-1']}",
        f"/display/main-hall#token={server.tokens['main-hall']}",
        "/status/main",
        "/counter/main-1/top",
        "/counter/main-1/rating",
        f"/t/{server.public_id}",
        "/",
    ]
    signed_in = ["/counter/main-2", "/desk/main", "/manager/", "/manager/reports", "/manager/admin/users",
                 "/manager/admin/counters", "/manager/admin/devices", "/manager/staffing"]
    seen_text = []
    for path in public:
        page.goto(server.url + path)
        page.wait_for_timeout(800)
        assert page.evaluate("window.__xss") is None, path
        assert page.evaluate("document.querySelectorAll('img[src=\"x\"]').length") == 0, path
        seen_text.append(page.inner_text("body"))
    sign_in(page, server, "admin")
    for path in signed_in:
        page.goto(server.url + path)
        page.wait_for_timeout(800)
        assert page.evaluate("window.__xss") is None, path
        assert page.evaluate("document.querySelectorAll('img[src=\"x\"]').length") == 0, path
        seen_text.append(page.inner_text("body"))
    assert not dialogs
    # The payloads are shown as the text they are (kiosk service name, notice, staff name).
    joined = "\n".join(seen_text)
    assert "Chứng thực <img src=x" in joined
    assert "<script>window.__xss=2</script>" in joined
    assert "Lan <img src=x" in joined


def test_ticket_image_and_json_carry_payloads_as_plain_text(hostile_server):
    server = hostile_server
    t = server.post("/api/tickets", json={"site": "main", "service": "CT"}).json()
    assert t["service_name"].endswith(PAYLOAD)
    png = requests.get(f"{server.url}/tickets/{t['id']}/ticket.png", headers=server.headers("admin"), timeout=10)
    assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n"
    page = requests.get(server.url + "/", timeout=10).text
    assert SCRIPT not in page and re.search(r"&lt;script&gt;window.__xss=2", page)
