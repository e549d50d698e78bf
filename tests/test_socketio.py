"""Live events with a real python-socketio client against a real server process."""

from __future__ import annotations

import queue

import pytest
import socketio


def connect(server, **auth):
    events: queue.Queue = queue.Queue()
    client = socketio.Client(reconnection=False)
    for name in ("state", "ticket.issued", "ticket.called", "ticket.finished", "ticket.updated", "queue.updated",
                 "counter.updated"):
        client.on(name, (lambda n: lambda data: events.put((n, data)))(name))
    client.connect(server.url, auth=auth, transports=["websocket"], wait_timeout=10)
    return client, events


def wait_for(events: queue.Queue, name: str, timeout: float = 5.0, pred=lambda d: True):
    import time

    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        try:
            n, data = events.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            break
        seen.append(n)
        if n == name and pred(data):
            return data
    raise AssertionError(f"no {name} event; saw {seen}")


def drain(events: queue.Queue) -> list[str]:
    out = []
    while not events.empty():
        out.append(events.get_nowait()[0])
    return out


def test_client_gets_state_on_connect_and_called_event_for_its_site_only(server):
    main, main_events = connect(server, site="main")
    branch, branch_events = connect(server, site="branch")
    try:
        state = wait_for(main_events, "state")
        assert state["site"] == "main" and len(state["counters"]) == 6
        wait_for(branch_events, "state")
        t = server.post("/api/tickets", json={"site": "main", "service": "CT"}).json()
        wait_for(main_events, "ticket.issued", pred=lambda d: d["id"] == t["id"])
        server.post("/api/counters/main-3/call-next", who="staff1")
        called = wait_for(main_events, "ticket.called")
        assert called["ticket"] == t["id"] and called["number"] == t["number"]
        assert called["counter"] == "main-3" and called["counter_number"] == 3 and called["service"] == "CT"
        assert called["recall"] is False
        server.post("/api/counters/main-3/recall", who="staff1")
        assert wait_for(main_events, "ticket.called", pred=lambda d: d["recall"])["call_count"] == 2
        queue_update = wait_for(main_events, "queue.updated")
        assert queue_update["site"] == "main"
        # Nothing of main reached the branch room.
        import time

        time.sleep(0.3)
        assert "ticket.called" not in drain(branch_events) and "ticket.issued" not in drain(branch_events)
    finally:
        main.disconnect()
        branch.disconnect()


def test_resync_returns_full_state(server):
    client, events = connect(server, site="main")
    try:
        wait_for(events, "state")
        server.post("/api/tickets", json={"site": "main", "service": "HT"})
        client.emit("resync")
        state = wait_for(events, "state", pred=lambda d: any(s["code"] == "HT" and s["waiting"] == 1
                                                              for s in d["services"]))
        assert state["site"] == "main"
    finally:
        client.disconnect()


def test_bad_site_or_token_is_refused(server):
    with pytest.raises(socketio.exceptions.ConnectionError):
        connect(server, site="mars")
    with pytest.raises(socketio.exceptions.ConnectionError):
        connect(server, site="main", token="xh_not-a-token")
    with pytest.raises(socketio.exceptions.ConnectionError):
        connect(server, site="main", token=server.tokens["branch-kiosk-1"])


def test_public_ticket_room_follows_one_ticket(server):
    t = server.post("/api/tickets", json={"site": "main", "service": "CT"}).json()
    client, events = connect(server, ticket=t["public_id"])
    try:
        first = wait_for(events, "ticket.updated")
        assert first["number"] == t["number"] and first["status"] == "waiting" and "public_id" not in first
        server.post("/api/counters/main-1/call-next", who="staff1")
        update = wait_for(events, "ticket.updated", pred=lambda d: d["status"] == "called")
        assert update["counter"]["number"] == 1
    finally:
        client.disconnect()
