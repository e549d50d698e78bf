"""A kiosk printer failure reaches the staff at their counter page at once."""

from __future__ import annotations

import pytest

from .conftest import free_port
from .counter_support import sign_in
from .kiosk_support import kiosk_config, network_printer


@pytest.mark.browser
def test_counter_page_shows_a_kiosk_printer_failure(make_server, tmp_path, page):
    dead_port = free_port()  # nothing listens there: the printer is "off"
    server = make_server(config=kiosk_config(tmp_path, network_printer(dead_port)))
    sign_in(page, server, "staff1", "/counter/main-1")
    page.wait_for_selector("#conn", state="hidden")
    r = server.post("/kiosk/main-kiosk-1/issue", who="main-kiosk-1", json={"service": "CT"})
    assert r.status_code == 201 and r.json()["print"]["ok"] is False
    number = r.json()["ticket"]["number"]
    notice = page.locator("#notice")
    notice.wait_for(state="visible", timeout=5000)
    assert "Máy in" in notice.inner_text() and number in notice.inner_text()
