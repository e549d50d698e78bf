"""Issue 16: a center pushes its records, and its nodes', to the province hub on PostgreSQL, exactly once."""

from __future__ import annotations

import sqlite3
import time

import psycopg
import requests

from tests.conftest import cli
from tests.hub_support import HubServer, center_with_hub, hub_cli, hub_config
from tests.pg_support import pg, pg_db  # noqa: F401 - fixtures
from tests.sync_support import SYNCED, serve_citizens


def _counts_equal(center_db, dsn: str, center: str) -> dict:
    out = {}
    conn = sqlite3.connect(center_db)
    with psycopg.connect(dsn) as pgc:
        for table in SYNCED:
            a = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            b = pgc.execute(f"SELECT count(*) FROM {table} WHERE center = %s", (center,)).fetchone()[0]
            out[table] = (a, b)
    conn.close()
    return out


def _wait_equal(center_db, dsn: str, center: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        counts = _counts_equal(center_db, dsn, center)
        if all(a == b for a, b in counts.values()) or time.monotonic() > deadline:
            return counts
        time.sleep(0.3)


def test_a_center_joins_the_hub_with_its_history_and_its_new_records_follow(tmp_path, make_server, pg_db):  # noqa: F811
    hub = HubServer(hub_config(tmp_path, pg_db)).start()
    try:
        cfg = center_with_hub(tmp_path, hub.url)
        center = make_server(config=cfg, env={"XEPHANG_SYNC_PASS_S": "0.2"})
        staff = center.tokens["staff1"]
        serve_citizens(center, "main", "main-1", "main-kiosk-1", 3, staff)  # history before joining
        token = hub_cli(hub.config, "token", "hoabinh").strip().splitlines()[-1]
        cli(center.db, "sync", "join", "--config", str(cfg), stdin=token + "\n")
        serve_citizens(center, "main", "main-2", "main-kiosk-1", 2, staff)  # and after
        counts = _wait_equal(center.db, pg_db, "hoabinh")
        assert all(a == b for a, b in counts.values()), counts
        assert counts["tickets"][1] == 5 and counts["ratings"][1] == 5
        with psycopg.connect(pg_db) as conn:
            issued, served, rated, satisfied = conn.execute(
                "SELECT sum(issued), sum(served), sum(rated), sum(satisfied) FROM hub_daily WHERE center = 'hoabinh'"
            ).fetchone()
            parts = conn.execute("SELECT count(*) FROM pg_inherits WHERE inhrelid::regclass::text LIKE 'tickets_%'"
                                 ).fetchone()[0]
        assert (issued, served, rated, satisfied) == (5, 5, 5, 5)
        assert parts >= 1  # stored in a month partition
    finally:
        hub.stop()


def test_a_forged_site_and_a_revoked_center_are_refused(tmp_path, make_server, pg_db):  # noqa: F811
    from center.storage.outbox import Batch
    from center.sync.protocol import encode

    hub = HubServer(hub_config(tmp_path, pg_db)).start()
    try:
        token = hub_cli(hub.config, "token", "tanlap").strip().splitlines()[-1]
        cols = ["id", "site", "service", "service_day", "status", "number", "public_id", "issued_at", "queue_at",
                "source"]
        row = [1, "main", "CT", "2026-12-01", "waiting", "A001", "x1", "2026-12-01T02:00:00.000Z",
               "2026-12-01T02:00:00.000Z", "kiosk"]
        forged = Batch(node="tanlap", after=0, to=1, ver=1, db_id="d1",
                       tables={"tickets": {"cols": cols, "rows": [row]}})
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/x-xephang-batch"}
        r = requests.post(hub.url + "/sync/push", data=encode(forged), headers=headers, timeout=10)
        # never written; held with the reason (issue 25), answered naming it, the rest of a batch would go on
        assert r.status_code == 422 and r.json()["error"] == "records_refused", r.text
        assert "site 'main'" in r.json()["refused"][0]["reason"]
        with psycopg.connect(pg_db) as conn:
            assert conn.execute("SELECT count(*) FROM tickets WHERE center = 'tanlap'").fetchone()[0] == 0
            assert conn.execute("SELECT count(*) FROM hub_held WHERE center = 'tanlap'").fetchone()[0] == 1
        hub_cli(hub.config, "revoke", "tanlap")
        r = requests.post(hub.url + "/sync/push", data=encode(forged), headers=headers, timeout=10)
        assert r.status_code == 401 and r.json()["error"] == "bad_center_token", r.text
    finally:
        hub.stop()
