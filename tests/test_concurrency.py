"""Correctness under load: several server processes on one database, crashes mid-burst."""

from __future__ import annotations

import collections
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

STAFF = ("admin", "manager", "staff1", "staff2")


@pytest.mark.slow
def test_two_processes_many_clients_no_duplicate_numbers_no_double_calls(make_server):
    servers = [make_server(), make_server()]
    issued: list[dict] = []
    called: list[dict] = []
    lock = threading.Lock()
    per_client = 250  # 2,000 tickets issued and called across the two processes

    def kiosk(i: int) -> None:
        server = servers[i % 2]
        s = requests.Session()
        for n in range(per_client):
            service = ("CT", "HT", "TKQ")[n % 3]
            r = s.post(server.url + "/api/tickets", json={"site": "main", "service": service},
                       headers=server.headers("admin"), timeout=30)
            assert r.status_code == 201, r.text
            with lock:
                issued.append(r.json())

    def counter(counter_id: str, who: str, server) -> None:
        s = requests.Session()
        h = server.headers(who)
        idle_since = None
        while True:
            r = s.post(f"{server.url}/api/counters/{counter_id}/call-next", headers=h, timeout=30)
            if r.status_code == 204:
                idle_since = idle_since or time.monotonic()
                if done.is_set() and time.monotonic() - idle_since > 1.0:
                    return
                time.sleep(0.02)
                continue
            assert r.status_code == 200, r.text
            idle_since = None
            ticket = r.json()
            with lock:
                called.append({"id": ticket["id"], "counter": counter_id})
            r = s.post(f"{server.url}/api/counters/{counter_id}/finish", headers=h, timeout=30,
                       json={"procedures": [ticket_proc[ticket["service"]]], "ticket": ticket["id"]})
            assert r.status_code == 200, r.text

    ticket_proc = {"CT": "CT-BS", "HT": "HT-KS", "TKQ": "TKQ"}
    done = threading.Event()
    # Four counters, each driven by its own staff member, spread over both processes.
    counters = [("main-1", "admin", servers[0]), ("main-3", "manager", servers[1]),
                ("main-6", "staff1", servers[0]), ("main-2", "staff2", servers[1])]
    with ThreadPoolExecutor(max_workers=12) as pool:
        workers = [pool.submit(counter, *c) for c in counters]
        kiosks = [pool.submit(kiosk, i) for i in range(8)]
        for f in kiosks:
            f.result()
        done.set()
        for f in workers:
            f.result()

    assert len(issued) == 8 * per_client
    numbers = collections.Counter((t["service"], t["number"]) for t in issued)
    assert max(numbers.values()) == 1, "a number was issued twice"
    ids = collections.Counter(c["id"] for c in called)
    assert max(ids.values()) == 1, "a ticket was called at two counters"
    # Every CT and HT ticket was called (the TKQ ones only by main-1/main-6, also drained).
    assert set(ids) == {t["id"] for t in issued}
    with sqlite3.connect(servers[0].db) as conn:
        assert conn.execute("SELECT count(*) FROM tickets WHERE status = 'served'").fetchone()[0] == len(issued)
        assert conn.execute("SELECT count(*) FROM ticket_events WHERE kind = 'called'").fetchone()[0] == len(issued)
        # Sequences are gapless per service: 1..n
        for service, n in conn.execute("SELECT service, max(seq) FROM tickets GROUP BY service"):
            count = conn.execute("SELECT count(*) FROM tickets WHERE service = ?", (service,)).fetchone()[0]
            assert n == count


@pytest.mark.slow
def test_sigkill_mid_burst_loses_no_acknowledged_ticket(make_server):
    server = make_server()
    acknowledged: list[dict] = []
    lock = threading.Lock()
    stop = threading.Event()

    def kiosk() -> None:
        s = requests.Session()
        while not stop.is_set():
            try:
                r = s.post(server.url + "/api/tickets", json={"site": "main", "service": "CT"},
                           headers=server.headers("staff1"), timeout=5)  # a kiosk device is limited
            except requests.RequestException:
                continue
            if r.status_code == 201:
                with lock:
                    acknowledged.append(r.json())

    threads = [threading.Thread(target=kiosk) for _ in range(6)]
    for t in threads:
        t.start()
    while len(acknowledged) < 200:
        time.sleep(0.01)
    server.kill()  # SIGKILL to the whole process group, mid-burst
    stop.set()
    for t in threads:
        t.join()
    server.start()
    for t in acknowledged:
        got = server.get(f"/api/tickets/{t['id']}")
        assert got.status_code == 200 and got.json()["number"] == t["number"]
    after = server.post("/api/tickets", json={"site": "main", "service": "CT"}).json()
    highest = max(int(t["number"][1:]) for t in acknowledged)
    assert int(after["number"][1:]) > highest
    with sqlite3.connect(server.db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
