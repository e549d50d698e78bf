"""Voice at peak: six counters call within 2 s; how long until each citizen hears their call begin?

The production server runs the demo config (`[voice]`: two readings at rate 0.8, espeak-ng). Debian's
chromium opens /display/main-hall with the display's device token and `--autoplay-policy=
no-user-gesture-required`, and plays the server-rendered audio (`?voice=server`) in real time: headless,
the sound goes nowhere, but the media elements play their full length. The page stamps each
announcement's start when its first sound (the chime, or the speech for a call read in a run) starts
playing (`playing` event; `window.xephangAnnouncements[].started_at`). The delay of a call is that start
minus the call's commit time stamped by the server (`at`), both on this machine's clock. Each burst uses
new numbers, so their audio is rendered by espeak-ng during the burst, as at a real peak. The bursts are
spaced so that the display is quiet (every call read twice) before the next one.
"""

from __future__ import annotations

import time
from datetime import datetime

import requests

from .common import BenchServer, open_display_page

METHOD = ("six counters (main-1…main-6) call a fresh ticket each, 0.3 s apart (1.5 s in all), through the API of "
          "the production server; the display page in chromium plays the espeak-ng audio at real speed; delay = "
          "start of the call's first sound in the page − the call's commit time; two bursts, cold voice cache")
COUNTERS = [f"main-{i}" for i in range(1, 7)]


def _ms(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000


def burst(server: BenchServer, page, s: requests.Session, spacing_s: float = 0.3) -> dict:
    staff, admin = server.headers("staff1"), server.headers("admin")
    tickets = [s.post(server.url + "/api/tickets", json={"site": "main", "service": "CT"}, headers=admin,
                      timeout=30).json() for _ in COUNTERS]
    calls = []
    for counter, ticket in zip(COUNTERS, tickets, strict=True):
        calls.append(s.post(f"{server.url}/api/counters/{counter}/call", json={"ticket": ticket["id"]},
                            headers=staff, timeout=30).json())
        time.sleep(spacing_s)
    numbers = [c["number"] for c in calls]
    deadline = time.monotonic() + 180
    while True:
        log = page.evaluate("window.xephangAnnouncements")
        first = {a["number"]: a for a in log if not a["again"] and a["readings"] > 0 and a["number"] in numbers}
        if len(first) == len(numbers):
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {len(first)} of {len(numbers)} calls announced")
        time.sleep(0.2)
    delays = [round((first[c["number"]]["started_at"] - _ms(c["last_called_at"])) / 1000, 2) for c in calls]
    spread = round((_ms(calls[-1]["last_called_at"]) - _ms(calls[0]["last_called_at"])) / 1000, 2)
    # Let the run finish (second readings), then free the counters for the next burst.
    while page.evaluate("window.xephangAnnouncer.busy() || window.xephangAnnouncer.pending() > 0"):
        if time.monotonic() > deadline:
            break
        time.sleep(0.2)
    quiet = round((time.time() * 1000 - _ms(calls[0]["last_called_at"])) / 1000, 1)
    for counter in COUNTERS:
        s.post(f"{server.url}/api/counters/{counter}/no-show", json={}, headers=staff, timeout=30)
    return {"calls_within_s": spread, "delay_s_by_call": " / ".join(f"{d:.2f}" for d in delays),
            "sixth_delay_s": delays[-1], "forms": " / ".join(first[n]["form"] for n in numbers),
            "quiet_after_s": quiet}


def run(bursts: int = 2) -> dict:
    from playwright.sync_api import sync_playwright

    server = BenchServer()
    results = []
    try:
        with sync_playwright() as p:
            browser, page = open_display_page(p, server, "server")
            s = requests.Session()
            for _ in range(bursts):
                results.append(burst(server, page, s))
            browser.close()
    finally:
        server.stop()
    return {"voice_at_peak_sixth_delay_s": max(r["sixth_delay_s"] for r in results),
            "before_this_change_s": "59.7 (issue 13: every call chimed and read twice in turn)",
            "bursts": {f"burst {i + 1}": r for i, r in enumerate(results)}}


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
