"""The reception desk's printer lists name each printer by its kiosk and say its state, as staff understand it,
never the driver ("Kiosk sảnh chính (network)")."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from .conftest import free_port
from .counter_support import sign_in
from .kiosk_support import FakePrinter
from .test_printer_alerts import _two_kiosks

pytestmark = pytest.mark.browser


def test_the_desk_lists_printers_by_kiosk_name_and_state_not_driver(make_server, tmp_path, page):
    good = FakePrinter("ok")
    try:
        server = make_server(config=_two_kiosks(tmp_path, free_port(), good.port))
        with page.expect_response(lambda resp: "/desk/main/printers" in resp.url):
            sign_in(page, server, "staff1", "/desk/main")
        options = page.locator("#d-printer option")
        expect(options).to_have_text(["Không in (chỉ hiển thị)", "Kiosk sảnh chính – sẵn sàng",
                                      "Kiosk cửa phụ – sẵn sàng"])
        r = server.post("/kiosk/main-kiosk-1/issue", who="main-kiosk-1", json={"service": "CT"}).json()
        assert r["print"]["ok"] is False  # nothing listens at its printer's port
        failing = re.compile(r"^Kiosk sảnh chính – không in được: \S.*$")
        expect(options.nth(1)).to_have_text(failing)
        expect(options.nth(2)).to_have_text("Kiosk cửa phụ – sẵn sàng")
        expect(page.locator("#d-reprint-on option")).to_have_text([failing, "Kiosk cửa phụ – sẵn sàng"])
        assert "network" not in page.locator("#desk-form").inner_text()
    finally:
        good.close()
