"""Screenshots for the docs: docs/kiosk.png (the kiosk screen; the land and business counter is closed),
docs/kiosk-groups.png (the priority groups), docs/kiosk-ticket.png (after a tap) and docs/ticket.png (a rendered
80 mm ticket). Run: .venv/bin/python scripts/screenshots_kiosk.py"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    from playwright.sync_api import sync_playwright

    from tests.conftest import Server, prepare_accounts

    db = Path(tempfile.mkdtemp(prefix="xephang-shots-")) / "center.sqlite3"
    server = Server(db=db, config=ROOT / "config.toml", tokens=prepare_accounts(db)).start()
    try:
        for counter, who in (("main-1", "staff1"), ("main-2", "staff2"), ("main-4", "manager"), ("main-6", "admin")):
            server.post(f"/api/counters/{counter}/take", who=who).raise_for_status()
        for service in ("CT", "CT", "HT", "TKQ", "HT"):  # a kiosk issues 5 at once
            server.post("/kiosk/main-kiosk-1/issue", who="main-kiosk-1", json={"service": service},
                        headers={"Accept": "application/json"})
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1920, "height": 1080})
            page.goto(f"{server.url}/kiosk/main-kiosk-1#token={server.tokens['main-kiosk-1']}")
            page.wait_for_selector("#k-start:not([hidden])")
            page.wait_for_timeout(800)
            page.screenshot(path=str(ROOT / "docs" / "kiosk.png"))
            page.locator('.k-prio[data-priority-for="HT"]').click()
            page.wait_for_selector("#k-groups:not([hidden])")
            page.wait_for_timeout(300)
            page.screenshot(path=str(ROOT / "docs" / "kiosk-groups.png"))
            page.locator("#k-groups-back").click()
            page.locator('.k-service[data-service="CT"]').click()
            page.wait_for_selector("#k-ticket:not([hidden])")
            page.wait_for_timeout(300)
            page.screenshot(path=str(ROOT / "docs" / "kiosk-ticket.png"))
            browser.close()
        png = server.get("/tickets/5/ticket.png?paper=80", who="staff1")
        png.raise_for_status()
        (ROOT / "docs" / "ticket.png").write_bytes(png.content)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
