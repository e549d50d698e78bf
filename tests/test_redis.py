"""Several server processes behind one Redis message queue: real redis-server, real processes, real clients.

Each `make_server(extra=("--redis", url))` is one more `python -m center serve` process on the same
SQLite file; what a worker of `--workers N` does is the same thing inside one gunicorn master.
"""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import requests
import socketio

from .conftest import free_port

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
pytestmark = pytest.mark.skipif(not Path(REDIS_SERVER).exists(), reason="redis-server is not installed")

EVENTS = ("state", "ticket.issued", "ticket.called", "ticket.updated", "queue.updated", "counter.updated")


class RedisProcess:
    """A throwaway redis-server on a free port, no persistence; stop() and start() again on the same port."""

    def __init__(self, workdir: Path):
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisProcess:
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir)],
            stdout=(self.workdir / "redis.log").open("ab"), stderr=subprocess.STDOUT)
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with contextlib.suppress(redis.RedisError):
                if client.ping():
                    return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start: {(self.workdir / 'redis.log').read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@pytest.fixture
def redis_server(tmp_path) -> Iterator[RedisProcess]:
    r = RedisProcess(tmp_path).start()
    yield r
    r.stop()


@pytest.fixture
def pair(make_server, redis_server):
    """Processes A and B on one database, joined by the Redis message queue."""
    extra = ("--redis", redis_server.url)
    return make_server(extra=extra), make_server(extra=extra)


class Screen:
    """A python-socketio client following a site, recording every event it receives."""

    def __init__(self, server, site: str = "main", reconnection: bool = False):
        self.events: queue.Queue = queue.Queue()
        self.client = socketio.Client(reconnection=reconnection, reconnection_delay=0.2, reconnection_delay_max=1)
        for name in EVENTS:
            self.client.on(name, (lambda n: lambda data: self.events.put((n, data)))(name))
        self.client.connect(server.url, auth={"site": site}, transports=["websocket"], wait_timeout=10)

    def wait_for(self, name: str, timeout: float = 10.0, pred=lambda d: True):
        deadline = time.monotonic() + timeout
        seen = []
        while time.monotonic() < deadline:
            try:
                n, data = self.events.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            seen.append(n)
            if n == name and pred(data):
                return data
        raise AssertionError(f"no matching {name} event within {timeout} s; saw {seen}")

    def close(self) -> None:
        self.client.disconnect()


def counter_ticket(state: dict, counter_id: str) -> int | None:
    (counter,) = [c for c in state["counters"] if c["id"] == counter_id]
    return counter["ticket"]["id"] if counter["ticket"] else None


def test_event_caused_through_a_reaches_a_client_connected_to_b(pair):
    a, b = pair
    screen = Screen(b)
    try:
        screen.wait_for("state")
        t = a.post("/api/tickets", json={"site": "main", "service": "CT"}).json()
        issued = screen.wait_for("ticket.issued", pred=lambda d: d["id"] == t["id"])
        assert issued["number"] == t["number"]
        r = a.post("/api/counters/main-3/call-next", who="staff1")
        assert r.status_code == 200, r.text
        called = screen.wait_for("ticket.called", pred=lambda d: d["ticket"] == t["id"])
        assert called["counter"] == "main-3" and called["number"] == t["number"]
    finally:
        screen.close()


def test_database_is_shared_issue_on_a_call_on_b(pair):
    a, b = pair
    issued = []
    for i in range(6):  # alternate processes: one numbering, one queue
        server = (a, b)[i % 2]
        r = server.post("/api/tickets", json={"site": "main", "service": "CT"})
        assert r.status_code == 201, r.text
        issued.append(r.json())
    assert len({t["number"] for t in issued}) == 6
    called = []
    for i in range(6):
        server = (b, a)[i % 2]
        r = server.post("/api/counters/main-3/call-next", who="staff1")
        assert r.status_code == 200, r.text
        called.append(r.json()["id"])
        r = server.post("/api/counters/main-3/finish", who="staff1",
                        json={"procedures": ["CT-BS"], "ticket": r.json()["id"]})
        assert r.status_code == 200, r.text
    assert called == [t["id"] for t in issued], "first come, first served across both processes"
    assert a.post("/api/counters/main-3/call-next", who="staff1").status_code == 204


def test_redis_outage_calls_are_recorded_and_screens_catch_up(pair, redis_server):
    a, b = pair
    on_a, on_b = Screen(a), Screen(b, reconnection=True)
    try:
        on_a.wait_for("state")
        on_b.wait_for("state")
        first = a.post("/api/tickets", json={"site": "main", "service": "CT"}).json()
        on_b.wait_for("ticket.issued", pred=lambda d: d["id"] == first["id"])  # the queue works before

        redis_server.stop()
        t = a.post("/api/tickets", json={"site": "main", "service": "HT"})
        assert t.status_code == 201, t.text
        r = requests.post(f"{a.url}/api/counters/main-3/call-next", headers=a.headers("staff1"), timeout=30)
        assert r.status_code == 200, r.text
        print(f"call-next with Redis down answered in {r.elapsed.total_seconds():.2f} s")
        ticket = r.json()
        with contextlib.closing(sqlite3.connect(a.db)) as conn:
            row = conn.execute("SELECT status, counter_id FROM tickets WHERE id = ?", (ticket["id"],)).fetchone()
        assert row == ("called", "main-3"), "the call is in the database although Redis is down"
        # A screen on the process that made the call still hears it (local delivery needs no Redis) ...
        on_a.wait_for("ticket.called", pred=lambda d: d["ticket"] == ticket["id"])
        # ... and a screen on B is right as soon as it asks for the state (it reads the shared database).
        on_b.client.emit("resync")
        state = on_b.wait_for("state", pred=lambda d: counter_ticket(d, "main-3") == ticket["id"])
        assert state["site"] == "main"

        redis_server.start()
        # Back: B's listener resubscribes (python-socketio retries every 1, 2, 4 ... s) and live events
        # from A reach B again; a fresh state shows the latest call.
        assert a.post("/api/counters/main-3/no-show", who="staff1").status_code == 200
        r = a.post("/api/counters/main-3/call-next", who="staff1")
        assert r.status_code == 200, r.text
        deadline = time.monotonic() + 40
        while True:
            nxt = a.post("/api/tickets", json={"site": "main", "service": "TKQ"}).json()
            try:
                on_b.wait_for("ticket.issued", timeout=2, pred=lambda d, i=nxt["id"]: d["id"] == i)
                break
            except AssertionError:
                if time.monotonic() > deadline:
                    raise
        on_b.client.emit("resync")
        called_now = r.json()["id"]
        on_b.wait_for("state", pred=lambda d: counter_ticket(d, "main-3") == called_now)
    finally:
        on_a.close()
        on_b.close()


def test_hung_redis_does_not_hold_up_issuing_or_calling(pair, redis_server):
    a, _b = pair
    screen = Screen(a)
    screen.wait_for("state")
    os.kill(redis_server.proc.pid, signal.SIGSTOP)
    try:
        t = requests.post(f"{a.url}/api/tickets", json={"site": "main", "service": "CT"},
                          headers=a.headers("admin"), timeout=5)
        assert t.status_code == 201, t.text
        r = requests.post(f"{a.url}/api/counters/main-3/call-next", headers=a.headers("staff1"), timeout=5)
        assert r.status_code == 200 and r.json()["id"] == t.json()["id"], r.text
        with contextlib.closing(sqlite3.connect(a.db)) as conn:
            status = conn.execute("SELECT status FROM tickets WHERE id = ?", (t.json()["id"],)).fetchone()[0]
        assert status == "called"
    finally:
        os.kill(redis_server.proc.pid, signal.SIGCONT)
        screen.close()


def test_workers_above_one_need_redis(make_server):
    with pytest.raises(RuntimeError, match="needs --redis"):
        make_server(extra=("--workers", "2"))


def test_two_gunicorn_workers_with_redis_start_and_deliver_events_to_every_client(make_server, redis_server):
    server = make_server(extra=("--workers", "2", "--redis", redis_server.url))
    screens = [Screen(server) for _ in range(6)]  # WebSocket only: no sticky session needed for these
    try:
        for s in screens:
            s.wait_for("state")
        t = server.post("/api/tickets", json={"site": "main", "service": "CT"}).json()
        for s in screens:
            s.wait_for("ticket.issued", pred=lambda d: d["id"] == t["id"])
    finally:
        for s in screens:
            s.close()
