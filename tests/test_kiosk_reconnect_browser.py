"""The kiosk's "reconnecting" sign in Debian's chromium: it must appear by itself when the server goes away,
also when it goes without closing its connections (a pulled cable, a frozen machine: no FIN ever comes)."""

from __future__ import annotations

import os
import signal

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def open_live_kiosk(page, server):
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.goto(f"{server.url}/kiosk/main-kiosk-1#token={server.tokens['main-kiosk-1']}")
    expect(page.locator("#k-start")).to_be_visible()
    # The live state has arrived (the socket is up): some tile says its wait or its counters.
    page.wait_for_function("() => [...document.querySelectorAll('[data-info], [data-note]')]"
                           ".some((e) => e.textContent.trim() !== '')")
    expect(page.locator("#k-conn")).to_be_hidden()


def test_the_reconnect_sign_shows_within_3_s_of_the_server_stopping_without_a_tap(page, server):
    open_live_kiosk(page, server)
    server.stop()
    expect(page.locator("#k-conn")).to_be_visible(timeout=3000)  # nobody touches the screen
    expect(page.locator("#k-conn")).to_have_text("Đang kết nối lại…")


def test_the_reconnect_sign_shows_within_3_s_when_the_server_stops_answering_and_goes_when_it_is_back(page, server):
    open_live_kiosk(page, server)
    os.killpg(server.proc.pid, signal.SIGSTOP)  # frozen: its sockets stay open, nothing answers
    try:
        expect(page.locator("#k-conn")).to_be_visible(timeout=3000)
    finally:
        os.killpg(server.proc.pid, signal.SIGCONT)
    expect(page.locator("#k-conn")).to_be_hidden(timeout=15000)
