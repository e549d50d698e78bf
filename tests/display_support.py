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
