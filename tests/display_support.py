"""Helpers for the display tests: call tickets through the real API and read the page's announcement log."""

from __future__ import annotations

from typing import Any


def issue_and_call(server: Any, service: str = "CT", counter: str = "main-1", who: str = "staff1",
                   site: str = "main") -> dict[str, Any]:
    """Issue a ticket for `service` and call it at `counter`; returns the called ticket."""
    issued = server.post("/api/tickets", json={"site": site, "service": service})
    assert issued.status_code == 201, issued.text
    ticket = issued.json()
    free_counter(server, counter, who)
    called = server.post(f"/api/counters/{counter}/call", who=who, json={"ticket": ticket["id"]})
    assert called.status_code == 200, called.text
    return called.json()


def free_counter(server: Any, counter: str, who: str = "staff1") -> None:
    """Finish whatever ticket the counter holds so that it can call again."""
    state = server.get(f"/api/counters/{counter}", who=who).json()
    ticket = state.get("ticket")
    if ticket:
        if ticket["status"] == "called":
            server.post(f"/api/counters/{counter}/start", who=who, json={})
        server.post(f"/api/counters/{counter}/finish", who=who, json={})


def announcements(page: Any) -> list[dict[str, Any]]:
    return page.evaluate("() => window.xephangAnnouncements || []")


def wait_until(page: Any, js: str, timeout_s: float = 30) -> Any:
    """Poll a JS expression with page.evaluate (the CSP forbids the eval that wait_for_function uses)."""
    import time

    deadline = time.monotonic() + timeout_s
    while True:
        value = page.evaluate(js)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {js}")
        time.sleep(0.05)


def fast_voice_config(tmp_path: Any, extra: str = "") -> Any:
    """The demo config with one reading per call (tests wait for announcements to end) plus `extra` TOML."""
    from pathlib import Path

    demo = Path(__file__).resolve().parent.parent / "config.toml"
    text = demo.read_text(encoding="utf-8").replace("repeat = 2", "repeat = 1").replace("rate = 0.8", "rate = 1.5")
    path = Path(tmp_path) / "display-config.toml"
    path.write_text(text + extra, encoding="utf-8")
    return path


# A second display at the branch that shows only counter branch-1 (appended to the last [[sites]]).
BRANCH_COUNTER_1_DISPLAY = """
[[sites.displays]]
id = "branch-c1"
name = "Màn hình quầy 1"
counters = ["branch-1"]
"""
