"""Issue 25 at the province hub, for real (a hub process on a throwaway PostgreSQL): a holder of a center token
cannot knock it over. A 58 KB zlib bomb once took one worker from 83 MB to 1,566 MB before its 422; now every body
is bounded before it costs memory, and the worker's RSS stays within 50 MB of idle (measured here with psutil on
the worker process). Malformed batches get a JSON 4xx, never a 5xx; a row that does not fit the hub's columns is
held and the rest applied. And the per-person cap counts one citizen once across the hub's page and the desk."""

from __future__ import annotations

import json
import socket
import time
import zlib
from datetime import UTC, datetime

import psutil
import psycopg
import pytest
import requests

from center.queue.clock import to_iso
from center.sync.protocol import CONTENT_TYPE, MAX_BODY, PROTOCOL
from tests.hub_support import HubServer, hub_cli, hub_config
from tests.pg_support import pg, pg_db  # noqa: F401 - fixtures
from tests.test_hub_booking import _slots, _tomorrow, _wait_center, world  # noqa: F401 - a hub, a joined center

RSS_LIMIT = 50 * 1024 * 1024  # the bound on what a hostile body may cost the hub


@pytest.fixture(scope="module")
def hub_dsn(pg):  # noqa: F811 - a database of its own: `world` below joins a real center as hoabinh to pg_db
    return pg.new_database("hub_hostile")


@pytest.fixture(scope="module")
def hub(tmp_path_factory, hub_dsn):
    tmp = tmp_path_factory.mktemp("hub-hostile")
    server = HubServer(hub_config(tmp, hub_dsn)).start()
    server.token = hub_cli(server.config, "token", "hoabinh").strip().splitlines()[-1]  # type: ignore[attr-defined]
    yield server
    server.stop()


def worker_rss(hub: HubServer) -> int:
    """The one gunicorn worker's resident memory (the master only forks it)."""
    children = psutil.Process(hub.proc.pid).children(recursive=True)
    assert children, "no hub worker"
    return max(c.memory_info().rss for c in children)


def push(hub: HubServer, body: bytes, **kwargs) -> requests.Response:
    return requests.post(hub.url + "/sync/push", data=body, timeout=60, **kwargs,
                         headers={"Authorization": f"Bearer {hub.token}", "Content-Type": CONTENT_TYPE})


def batch(tables: dict, **fields) -> bytes:
    body = {"protocol": PROTOCOL, "node": "hoabinh", "db_id": "h" * 32, "after": 0, "to": 0, "ver": 0,
            "sent_at": to_iso(datetime.now(UTC)), "tables": tables, **fields}
    return zlib.compress(json.dumps(body).encode(), 9)


def assert_json_4xx(r: requests.Response, *statuses: int) -> dict:
    assert r.status_code in statuses, (r.status_code, r.text[:300])
    data = r.json()
    assert data["error"] and data["message"] and data["message_en"]
    return data


def raw_post_without_length(hub: HubServer, size: int) -> str:
    """A chunked body of `size` bytes (no Content-Length to refuse it by): the status line the hub answers."""
    with socket.create_connection(("127.0.0.1", hub.port), timeout=30) as s:
        s.sendall(f"POST /sync/push HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {hub.token}\r\n"
                  f"Content-Type: {CONTENT_TYPE}\r\nTransfer-Encoding: chunked\r\n\r\n".encode())
        chunk = b"x" * 65536
        sent = 0
        try:
            while sent < size:
                s.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                sent += len(chunk)
            s.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the hub stopped reading: it answered already
        return s.recv(200).decode(errors="replace").split("\r\n")[0]


def test_a_zlib_bomb_and_a_100_mb_body_leave_the_hub_within_50_mb_of_idle(hub):
    push(hub, batch({}))  # warm: the worker has loaded everything an ordinary batch needs
    idle = worker_rss(hub)
    bomb = zlib.compress(b"[" + b"{}," * (20 * 1024 * 1024) + b"{}]", 9)  # ~60 MB of JSON, a few million objects
    assert len(bomb) < MAX_BODY
    assert assert_json_4xx(push(hub, bomb), 413)["error"] == "too_large"
    values = zlib.compress(json.dumps({"protocol": PROTOCOL, "tables": {"tickets": {"cols": ["id"],
                                                                                    "rows": [[1]] * 600_000}}}
                                      ).encode(), 9)  # within the inflated bytes, past the values
    assert assert_json_4xx(push(hub, values), 413)["error"] == "too_large"
    big = b"[" + b"{}," * (33 * 1024 * 1024) + b"{}]"  # 100 MB of JSON, sent as it is
    try:
        r = push(hub, big)
        assert_json_4xx(r, 413)
    except requests.ConnectionError:
        pass  # refused from its Content-Length; the hub closed before the client finished sending
    assert raw_post_without_length(hub, 100 * 1024 * 1024).split(" ")[1] == "413"
    after = worker_rss(hub)
    print(f"hub worker RSS: idle {idle / 2**20:.1f} MB, after the bomb, the values bomb and two 100 MB bodies "
          f"{after / 2**20:.1f} MB (+{(after - idle) / 2**20:.1f} MB)")
    assert after - idle < RSS_LIMIT
    assert requests.get(hub.url + "/api/health", timeout=10).status_code == 200


@pytest.mark.parametrize("cell", [{"a": 1}, [1, 2], True])
def test_cells_that_are_objects_or_lists_are_a_422_not_a_500(hub, cell):
    cols = ["id", "site", "service", "service_day", "status", "note"]
    r = push(hub, batch({"tickets": {"cols": cols, "rows": [[1, "main", "CT", "2026-12-07", "waiting", cell]]}}))
    assert assert_json_4xx(r, 422)["error"] == "bad_batch"


def test_rows_that_do_not_fit_the_hubs_columns_are_held_and_the_rest_applied(hub, hub_dsn):
    cols = ["id", "site", "service", "service_day", "status", "issued_at", "note"]
    good = [7, "main", "CT", "2026-12-07", "waiting", "2026-12-07T02:00:00.000Z", "ok"]
    bad = [[8, "main", "CT", "not a day", "waiting", "2026-12-07T02:00:00.000Z", None],
           [9, "main", "CT", "2026-12-07", "waiting", "yesterday", None],
           [10, "main", "CT", "2026-12-07", "waiting", "2026-12-07T02:00:00.000Z", "a\x00b"],
           [11, "main", "CT", "2026-12-07", None, "2026-12-07T02:00:00.000Z", None],
           ["12", "main", "CT", "2026-12-07", "waiting", "2026-12-07T02:00:00.000Z", None],
           [13, "elsewhere", "CT", "2026-12-07", "waiting", "2026-12-07T02:00:00.000Z", None]]
    with psycopg.connect(hub_dsn) as conn:
        mark = (conn.execute("SELECT hwm FROM hub_centers WHERE center = 'hoabinh'").fetchone() or (0,))[0]
    r = push(hub, batch({"tickets": {"cols": cols, "rows": [good, *bad]}}, after=mark, to=mark + 1, ver=mark + 1))
    data = assert_json_4xx(r, 422)
    assert data["error"] == "records_refused" and data["held_count"] == len(bad) and data["hwm"] == mark + 1
    reasons = " | ".join(h["reason"] for h in data["refused"])
    for words in ("service_day is not a date", "issued_at is not a UTC time", "NUL", "status is empty",
                  "id is str", "site 'elsewhere'"):
        assert words in reasons, reasons
    with psycopg.connect(hub_dsn) as conn:
        assert [r[0] for r in conn.execute("SELECT id FROM tickets WHERE center = 'hoabinh' AND id < 100")] == [7]
        assert conn.execute("SELECT count(*) FROM hub_held WHERE center = 'hoabinh'").fetchone()[0] == len(bad)
        assert conn.execute("SELECT refused FROM hub_centers WHERE center = 'hoabinh'").fetchone()[0]
    from center.hub.config import load_hub_config
    from center.hub.live import live

    with psycopg.connect(hub_dsn) as conn:  # the province's panel raises it
        cfg = load_hub_config(hub.config)
        alerts = live(conn, cfg, list(cfg.centers))["alerts"]
    assert any(a["kind"] == "held" and a["center"] == "hoabinh" and f"{len(bad)} bản ghi" in a["text"]
               for a in alerts), alerts
    listed = hub_cli(hub.config, "held", "hoabinh")  # IT sees each, and why
    assert f"hoabinh: {len(bad)} record(s) held" in listed and "service_day is not a date" in listed
    assert "0 applied" in hub_cli(hub.config, "held", "hoabinh", "--retry")  # nothing has changed: still held
    assert "dropped" in hub_cli(hub.config, "held", "hoabinh", "--drop")
    with psycopg.connect(hub_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM hub_held WHERE center = 'hoabinh'").fetchone()[0] == 0


def test_no_malformed_batch_gets_a_5xx_at_the_hub(hub):
    """Shapes drawn at random (a few hundred, deterministic), each answered with a JSON 4xx or a 200."""
    import random

    rnd = random.Random(25)
    leaves = [None, True, 0, -1, 2**70, 1.5, "", "x", "2026-12-07", "\x00", [], {}, [[]], {"cols": [], "rows": []}]

    def value(depth: int = 0):
        if depth > 2 or rnd.random() < 0.5:
            return rnd.choice(leaves)
        if rnd.random() < 0.5:
            return [value(depth + 1) for _ in range(rnd.randrange(3))]
        names = ["cols", "rows", "tickets", "id", "site"]
        return {rnd.choice(names): value(depth + 1) for _ in range(rnd.randrange(3))}

    fields = ("protocol", "node", "db_id", "after", "to", "ver", "tables", "labels", "booking_plan", "bookings_mark",
              "clock_offset_s", "sent_at", "phone_key_id")
    statuses = set()
    for _ in range(250):
        body = {"protocol": PROTOCOL, "node": "hoabinh", "db_id": "h" * 32, "after": 0, "to": 0, "ver": 0,
                "tables": {rnd.choice(["tickets", "ratings", "bookings", "audit_log"]):
                           {"cols": rnd.choice([["id"], ["id", "site"], value()]), "rows": value()}}}
        for name in rnd.sample(fields, k=rnd.randrange(1, 4)):
            body[name] = value()
        r = push(hub, zlib.compress(json.dumps(body).encode()))
        assert r.status_code < 500, (body, r.status_code, r.text[:300])
        assert r.json()
        statuses.add(r.status_code)
    assert statuses & {400, 403, 413, 422}


def test_the_per_person_cap_counts_one_citizen_once_across_the_hub_and_the_desk(world, pg_db):  # noqa: F811
    """per_person_per_day = 2: one booking on the hub's page as "+84 912 345 678", one at the center's desk as
    "0912.345.678"; a third is refused at either. The center hashes with the province's key, which came down the
    link; the hub counts the desk's booking it received."""
    hub, center, api = world
    deadline = time.monotonic() + 30
    while not center.db.with_suffix(".phone-key").exists():
        assert time.monotonic() < deadline, "the province's key never came down the link"
        time.sleep(0.2)
    day = _tomorrow(2)
    slots = [s for s in _slots(hub, api, day) if s["left"] > 0]
    r = requests.post(hub.url + "/hub/api/bookings", headers=api, timeout=10,
                      json={"center": "hoabinh", "site": "main", "service": "CT", "slot_at": slots[0]["slot_at"],
                            "phone": "+84 912 345 678"})
    assert r.status_code == 201, r.text
    _wait_center(center.db, r.json()["code"], "booked")  # it came down: the desk counts it
    free = [s for s in center.get(f"/api/bookings/slots?site=main&service=CT&day={day}", who="admin").json()["slots"]
            if s["free"] and not s["past"]]
    r = center.post("/api/bookings", who="admin", json={"site": "main", "service": "CT", "slot_at": free[-1]["slot_at"],
                                                        "phone": "0912.345.678"})
    assert r.status_code == 201, r.text
    r = center.post("/api/bookings", who="admin", json={"site": "main", "service": "CT", "slot_at": free[-2]["slot_at"],
                                                        "phone": "912345678"})
    assert r.status_code == 409 and r.json()["error"] == "per_person_cap", r.text
    deadline = time.monotonic() + 30
    while True:  # the desk's booking reached the hub
        with psycopg.connect(pg_db) as conn:
            if conn.execute("SELECT count(*) FROM bookings WHERE center = 'hoabinh' AND origin <> 'hub' AND "
                            "service_day = %s", (day,)).fetchone()[0]:
                break
        assert time.monotonic() < deadline, "the desk's booking never reached the hub"
        time.sleep(0.2)
    r = requests.post(hub.url + "/hub/api/bookings", headers=api, timeout=10,
                      json={"center": "hoabinh", "site": "main", "service": "CT", "slot_at": slots[1]["slot_at"],
                            "phone": "84912345678"})
    assert r.status_code == 409 and r.json()["error"] == "per_person_cap", r.text
