"""Display benchmarks: a call made through the API → the number on the waiting-room display in chromium.

The production server runs with 200 other Socket.IO clients connected to the same site room (the crowd
of bench_core). Debian's chromium opens /display/main-hall with the display's device token; the page
records when its DOM shows each call (`window.xephangCallLog`). Two figures per call, on one machine's
clock:
- call → DOM: from the call's commit time stamped by the server (`at` of `ticket.called`) to the DOM update;
- API call → DOM: from sending POST /api/counters/main-1/call-next to the DOM update.
Run twice: with announcements as usual (server-rendered espeak-ng audio in headless chromium, rendered
while calls keep coming) and with `?voice=chime` (no speech rendering), to separate the voice's cost.
"""

from __future__ import annotations

import time
from datetime import datetime

import requests

from .common import BenchServer, Crowd, open_display_page, percentile


def _ms(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000


def _summary(values: list[float]) -> dict:
    return {"p50_ms": round(percentile(values, 50), 1), "p99_ms": round(percentile(values, 99), 1),
            "max_ms": round(max(values), 1)}


# Resolves with the page's record of the call once its DOM shows it (polled inside the browser; the page's
# CSP forbids the string evaluation that Playwright's wait_for_function uses).
WAIT_FOR_CALL = """(number) => new Promise((resolve, reject) => {
  const t0 = Date.now();
  const look = () => {
    const seen = window.xephangCallLog.find((c) => c.number === number);
    if (seen) resolve(seen);
    else if (Date.now() - t0 > 10000) reject(new Error("call " + number + " never shown"));
    else setTimeout(look, 2);
  };
  look();
})"""


def display_latency(server: BenchServer, crowd: int = 200, calls: int = 100, voice: str = "auto") -> dict:
    from playwright.sync_api import sync_playwright

    public = Crowd(server.url, [{"site": "main"}], crowd)
    s = requests.Session()
    admin, staff = server.headers("admin"), server.headers("staff1")
    commit_to_dom, api_to_dom = [], []
    try:
        with sync_playwright() as p:
            browser, page = open_display_page(p, server, voice)
            for i in range(calls + 3):
                s.post(server.url + "/api/tickets", json={"site": "main", "service": "CT"}, headers=admin, timeout=30)
                t0 = time.time() * 1000
                ticket = s.post(server.url + "/api/counters/main-1/call-next", headers=staff, timeout=30).json()
                # The page stamps the moment its DOM shows the call; waiting for that inside the browser (one
                # round trip) keeps the benchmark from polling the CPU away from the server.
                seen = page.evaluate(WAIT_FOR_CALL, ticket["number"])
                if i >= 3:  # warm-up
                    commit_to_dom.append(seen["shown_at"] - _ms(seen["at"]))
                    api_to_dom.append(seen["shown_at"] - t0)
                s.post(server.url + "/api/counters/main-1/finish", headers=staff, json={"procedures": ["CT-BS"]},
                       timeout=30)
            announced = page.evaluate("(window.xephangAnnouncements || []).length")
            browser.close()
    finally:
        public.stop()
    return {"other_clients": crowd, "calls": calls, "voice": voice, "call_to_dom": _summary(commit_to_dom),
            "api_call_to_dom": _summary(api_to_dom), "announcements_finished_meanwhile": announced}


def run() -> dict:
    server = BenchServer()
    try:
        with_voice = display_latency(server)
        chime_only = display_latency(server, voice="chime")
        return {"with_voice": with_voice, "chime_only": chime_only}
    finally:
        server.stop()


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
