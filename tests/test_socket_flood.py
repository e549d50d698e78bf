"""Anonymous floods against a real server: `resync` asks are coalesced per client, a socket that floods is
dropped, anonymous connections are capped per client address, and the public state is built once per change
for every anonymous client. (How fast the server stays meanwhile is measured in benchmarks/bench_flood.py.)"""

from __future__ import annotations

import threading

import pytest
import requests
import socketio

from center.web import realtime

# (read this way so that the tests run, and fail, on code without these limits)
RESYNC_EVERY_S = getattr(realtime, "RESYNC_EVERY_S", 2.0)
EVENT_BURST = getattr(realtime, "EVENT_BURST", 20)
CAP = 50  # [security] anonymous_sockets_per_address, default


class Anonymous:
    def __init__(self, server, headers: dict | None = None, auth: dict | None = None):
        self.client = socketio.Client(reconnection=False)
        self.states: list[dict] = []
        self.ended = threading.Event()
        self.client.on("state", self.states.append)
        self.client.on("disconnect", lambda *a: self.ended.set())
        self.client.connect(server.url, auth=auth or {"site": "main"}, headers=headers or {},
                            transports=["websocket"], wait_timeout=10)


def test_resync_asks_close_together_get_one_state_at_the_end_of_the_interval(server):
    sock = Anonymous(server)
    try:
        sock.client.sleep(0.3)
        assert len(sock.states) == 1  # on connect
        for _ in range(10):
            sock.client.emit("resync")
        sock.client.sleep(RESYNC_EVERY_S + 1.5)
        assert len(sock.states) == 2, "ten asks within the interval: one more state, not ten"
        assert sock.client.connected
        # Much later, an ask is answered again (the timer of a screen).
        sock.client.sleep(RESYNC_EVERY_S)
        sock.client.emit("resync")
        sock.client.sleep(1.0)
        assert len(sock.states) == 3
    finally:
        sock.client.disconnect()


def test_a_socket_that_sends_far_more_than_a_screen_does_is_dropped(server):
    sock = Anonymous(server)
    for _ in range(EVENT_BURST * 5):
        if not sock.client.connected:
            break
        # (any shape: extra arguments must not make an event free)
        sock.client.emit("resync" if _ % 2 else "something-else", ({"x": 1}, 2, 3) if _ % 3 else {"x": 1})
    assert sock.ended.wait(10), "a flooding socket stayed connected"
    assert len(sock.states) <= 2
    # A well-behaved one next to it is not affected.
    calm = Anonymous(server)
    calm.client.sleep(0.5)
    assert calm.states and calm.client.connected
    calm.client.disconnect()


@pytest.mark.slow
def test_anonymous_connections_are_capped_per_client_address(server):
    crowd = [Anonymous(server) for _ in range(CAP)]
    try:
        crowd[0].client.sleep(1.2)  # (new connections from the address are rate limited too: let two through)
        with pytest.raises(socketio.exceptions.ConnectionError):
            Anonymous(server)
        # A device with its token still connects from that address, and anonymous clients from another.
        display = Anonymous(server, auth={"site": "main", "token": server.tokens["main-hall"]})
        other = Anonymous(server, headers={"X-Real-IP": "192.168.1.77"})
        assert other.client.connected and display.client.connected
        other.client.disconnect()
        display.client.disconnect()
        # One of the address's sockets leaves: a place is free again.
        crowd.pop().client.disconnect()
        crowd[0].client.sleep(1.2)
        crowd.append(Anonymous(server))
    finally:
        for sock in crowd:
            sock.client.disconnect()


def test_new_connections_per_address_get_a_burst_then_a_slow_rate(server):
    def handshake(address: str) -> int:
        return requests.get(server.url + "/socket.io/", params={"EIO": "4", "transport": "polling"},
                            headers={"X-Real-IP": address}, timeout=10).status_code

    assert [handshake("10.9.9.9") for _ in range(CAP)] == [200] * CAP
    refused = requests.get(server.url + "/socket.io/", params={"EIO": "4", "transport": "polling"},
                           headers={"X-Real-IP": "10.9.9.9"}, timeout=10)
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"
    assert handshake("10.9.9.10") == 200  # another address is not held up


def test_the_public_state_is_built_once_per_change_for_every_anonymous_client(server):
    first = [Anonymous(server) for _ in range(3)]
    try:
        first[0].client.sleep(0.3)
        built = {s.states[0]["at"] for s in first}
        assert len(built) < 3, "each anonymous client had the state built for it"
        # A change: the next client gets a state built after it, with the new ticket in it.
        t = server.post("/api/tickets", who="main-kiosk-1", json={"site": "main", "service": "CT"}).json()
        late = Anonymous(server)
        late.client.sleep(0.3)
        waiting = {s["code"]: s["waiting"] for s in late.states[0]["services"]}
        assert waiting["CT"] >= 1 and late.states[0]["at"] >= t["issued_at"][:19]
        late.client.disconnect()
    finally:
        for sock in first:
            sock.client.disconnect()
