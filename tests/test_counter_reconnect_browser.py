"""The counter's "Đang kết nối lại…" sign shows within 3 s of the server going away (it took over 6 s: a
stopping server keeps its websockets open through its graceful shutdown), and goes once it is back."""

from __future__ import annotations

import threading

import pytest
from playwright.sync_api import expect

from .counter_support import sign_in

pytestmark = pytest.mark.browser


def test_the_reconnect_sign_shows_within_3_s_of_the_server_stopping(server, page):
    server.stop()  # the production shutdown: websockets held open for up to 10 s
    server.env["XEPHANG_GRACEFUL_S"] = "10"
    server.start()
    sign_in(page, server, "staff1", "/counter/main-1")
    expect(page.locator("#counter-status")).to_have_text("Đang mở")
    page.wait_for_timeout(2500)  # a few heartbeats while all is well: no sign
    expect(page.locator("#conn")).to_be_hidden()
    stopping = threading.Thread(target=server.stop)  # SIGTERM: gunicorn's graceful shutdown, as systemd does
    stopping.start()
    try:
        expect(page.locator("#conn")).to_be_visible(timeout=3000)  # behaviour bound, polled
        expect(page.locator("#conn")).to_have_text("Đang kết nối lại…")
    finally:
        stopping.join()
    server.start()
    expect(page.locator("#conn")).to_be_hidden(timeout=15000)
    expect(page.locator("#counter-status")).to_have_text("Đang mở")
