"""A kiosk opened at the center for a site that a node serves ([[nodes]] sites): it says plainly where to take a
number (before: "Không phải chờ" on every tile, then a technical refusal naming servers at the first tap)."""

from __future__ import annotations

import shutil

import pytest
from playwright.sync_api import expect

from tests.conftest import WebClient
from tests.sync_support import center_config

PLAIN = ("Kiosk này không cấp số thứ tự. Mời Ông/Bà lấy số tại kiosk hoặc bàn tiếp đón của Điểm 45 Trần Phú, "
         "hoặc hỏi cán bộ.")


@pytest.fixture
def center_web(tmp_path, accounts_template, clock):
    from center.app import create_app

    db = tmp_path / "center.sqlite3"
    shutil.copyfile(accounts_template[0], db)
    app = create_app(str(center_config(tmp_path)), str(db), clock=clock, housekeeping=False)
    yield WebClient(app=app, client=app.test_client(), tokens=dict(accounts_template[1]))
    app.extensions["xephang"].store.close()


def test_the_kiosk_page_of_a_node_site_says_where_to_take_a_number(center_web):
    page = center_web.get("/kiosk/branch-kiosk-1", who=None).get_data(as_text=True)
    assert 'data-elsewhere="yes"' in page and PLAIN in page
    assert "kiosk này cần mở trên máy chủ của Điểm 45 Trần Phú" in page
    # The center's own kiosks are unchanged.
    assert 'data-elsewhere=""' in center_web.get("/kiosk/main-kiosk-1", who=None).get_data(as_text=True)


@pytest.mark.parametrize(("path", "body"), [("/kiosk/branch-kiosk-1/issue", {"service": "CT"}),
                                            ("/kiosk/branch-kiosk-1/check-in", {"code": "ZZZZZZ"})])
def test_a_tap_there_gets_the_same_plain_words_not_a_technical_refusal(center_web, path, body):
    r = center_web.post(path, who="branch-kiosk-1", json=body)
    assert r.status_code == 409
    err = r.get_json()
    assert err["error"] == "served_by_node" and err["message"] == PLAIN and err["node"] == "branch"
    assert "máy tại chỗ" not in err["message"] and "thao tác trên máy đó" not in err["message"]


@pytest.mark.browser
def test_the_node_sites_kiosk_shows_only_where_to_go(page, make_server, tmp_path):
    server = make_server(config=center_config(tmp_path))
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.goto(f"{server.url}/kiosk/branch-kiosk-1#token={server.tokens['branch-kiosk-1']}")
    expect(page.locator("#k-elsewhere")).to_be_visible()
    expect(page.locator("#k-elsewhere-text")).to_have_text(PLAIN)
    expect(page.locator("#k-start")).to_be_hidden()
    expect(page.get_by_text("Không phải chờ")).to_have_count(0)
