"""A ticket whose printing outlives the kiosk's answer (here: a print agent that reports after the deadline) is
shown as printing, then as printed when the report comes; never as failed (issue: "Máy in không phản hồi kịp –
vui lòng ghi nhớ số B001…" for a ticket that printed)."""

from __future__ import annotations

import threading
import time

import pytest
import requests
from playwright.sync_api import expect

from center.output.printing import DEADLINE_S
from tests.kiosk_support import kiosk_config

pytestmark = pytest.mark.browser


def slow_agent(server, ok: bool, delay_s: float, reported: list) -> threading.Thread:
    """A print agent that claims the kiosk's job at once and reports it `delay_s` later."""
    headers = {"Authorization": f"Bearer {server.tokens['main-kiosk-1']}", "Accept": "application/json"}

    def run() -> None:
        until = time.monotonic() + 30
        while time.monotonic() < until:
            jobs = requests.get(f"{server.url}/kiosk/agent/jobs?wait=2", headers=headers, timeout=10).json()["jobs"]
            if jobs:
                time.sleep(delay_s)
                body = {"ok": ok} if ok else {"ok": False, "error": "paper_out"}
                r = requests.post(f"{server.url}/kiosk/agent/jobs/{jobs[0]['id']}", json=body, headers=headers,
                                  timeout=10)
                reported.append(r.status_code)
                return

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("ok", [True, False])
def test_a_late_print_report_updates_the_ticket_screen(page, make_server, tmp_path, ok):
    server = make_server(config=kiosk_config(tmp_path, '{ driver = "agent" }'))
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.goto(f"{server.url}/kiosk/main-kiosk-1#token={server.tokens['main-kiosk-1']}")
    expect(page.locator("#k-start")).to_be_visible()
    page.wait_for_function("() => [...document.querySelectorAll('[data-info], [data-note]')]"
                           ".some((e) => e.textContent.trim() !== '')")  # the live connection is up
    reported: list = []
    agent = slow_agent(server, ok, DEADLINE_S + 1.0, reported)
    page.locator('.k-service[data-service="CT"]').click()
    expect(page.locator("#k-ticket")).to_be_visible()
    pr = page.locator("#t-print")
    expect(pr).to_have_text("Đang in phiếu…")  # the answer came before the agent's report
    number = page.locator("#t-number").inner_text()
    if ok:
        expect(pr).to_have_text("Mời Ông/Bà nhận phiếu in bên dưới", timeout=6000)
        expect(pr).not_to_have_class("k-print is-fail")
    else:
        expect(pr).to_have_text(f"Máy in hết giấy – vui lòng ghi nhớ số {number} và liên hệ cán bộ", timeout=6000)
        expect(pr).to_have_class("k-print is-fail")
    agent.join(10)
    assert reported == [200]
