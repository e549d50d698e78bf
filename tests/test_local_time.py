"""Screens show the center's local time even when the PC or TV running the browser is set to UTC."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from .counter_support import sign_in


@pytest.mark.browser
def test_manager_overview_clock_is_local_on_a_utc_browser(server, browser):
    context = browser.new_context(timezone_id="UTC")
    page = context.new_page()
    try:
        sign_in(page, server, "manager", "/manager/")
        status = page.locator("#live-status")
        for _ in range(50):
            text = status.inner_text()
            if re.search(r"\d{2}:\d{2}:\d{2}", text):
                break
            page.wait_for_timeout(100)
        shown = re.search(r"(\d{2}):(\d{2}):\d{2}", text)
        assert shown, text
        local = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh"))
        candidates = {(local + timedelta(minutes=d)).strftime("%H:%M") for d in (-1, 0, 1)}
        assert f"{shown.group(1)}:{shown.group(2)}" in candidates
    finally:
        context.close()
