"""Faults a center meets: a full or read-only disk, and the day rolling over, on a real server.

The disk tests put the database on a small tmpfs they mount themselves (root, as in CI); where
mounting is not allowed they are skipped with the reason.
"""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests

from .conftest import DEMO_CONFIG, ROOT, Server, server_with_accounts


@contextlib.contextmanager
def small_disk(path: Path, size: str = "8m"):
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a test filesystem here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def server_on(disk: Path, accounts_template) -> Server:
    return server_with_accounts(disk, accounts_template)


def issue(server: Server):
    return requests.post(server.url + "/api/tickets", json={"site": "main", "service": "CT"},
                         headers=server.headers("admin"), timeout=15)


def test_disk_full_gives_a_clear_error_loses_nothing_and_recovers(tmp_path, accounts_template):
    with small_disk(tmp_path / "disk") as disk:
        server = server_on(disk, accounts_template)
        try:
            acknowledged = [issue(server).json() for _ in range(5)]
            filler = disk / "filler"
            with contextlib.suppress(OSError), filler.open("wb") as f:  # closing may fail too
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            failures = []
            for _ in range(300):
                r = issue(server)
                if r.status_code == 201:
                    acknowledged.append(r.json())
                else:
                    failures.append(r)
                    break
            assert failures, "the disk never filled up"
            r = failures[0]
            assert r.status_code == 503 and r.json()["error"] == "disk_full" and "đầy" in r.json()["message"]
            assert requests.get(server.url + "/api/queue?site=main", timeout=10).status_code == 200
            filler.unlink()
            after = issue(server)
            assert after.status_code == 201
            for t in acknowledged:
                assert requests.get(f"{server.url}/api/tickets/{t['id']}", headers=server.headers("admin"),
                                    timeout=10).json()["number"] == t["number"]
            assert int(after.json()["number"][1:]) == int(acknowledged[-1]["number"][1:]) + 1
        finally:
            server.stop()
        with sqlite3.connect(disk / "center.sqlite3") as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_read_only_disk_stops_the_server_clearly_and_recovers(tmp_path, accounts_template):
    """A read-only disk (remounted after errors, say) cannot be remounted under open files, so the server
    meets it when it starts: one clear line, no traceback, data intact; it starts again once writable."""
    with small_disk(tmp_path / "disk") as disk:
        server = server_on(disk, accounts_template)
        first = issue(server).json()
        server.stop()
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        try:
            run = subprocess.run([sys.executable, "-m", "center", "--db", str(server.db), "serve", "--config",
                                  str(DEMO_CONFIG), "--port", str(server.port)], capture_output=True, text=True,
                                 timeout=60, cwd=ROOT)
            assert run.returncode != 0
            assert "cannot be used for writing" in run.stderr and "readonly" in run.stderr.replace("-", "")
            assert "Traceback" not in run.stderr
        finally:
            subprocess.run(["mount", "-o", "remount,rw", str(disk)], check=True)
        server.start()
        try:
            again = issue(server)
            assert again.status_code == 201
            assert int(again.json()["number"][1:]) == int(first["number"][1:]) + 1
        finally:
            server.stop()


def test_day_rolls_over_at_the_configured_local_time(make_server):
    """Clock starts 2 minutes before local midnight, 60× fast: numbering restarts, yesterday is closed."""
    tz = ZoneInfo("Asia/Ho_Chi_Minh")
    start = datetime(2026, 11, 23, 23, 58, tzinfo=tz)
    server = make_server(extra=("--simulate-from", start.isoformat(), "--time-scale", "60"),
                         env={"XEPHANG_HOUSEKEEPING_S": "0.5"})
    before = issue(server).json()
    assert before["service_day"] == "2026-11-23" and before["number"] == "A001"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        queue = requests.get(server.url + "/api/queue?site=main", timeout=10).json()
        if queue["service_day"] == "2026-11-24":
            break
        time.sleep(0.2)
    after = issue(server).json()
    assert after["service_day"] == "2026-11-24" and after["number"] == "A001"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        old = requests.get(f"{server.url}/api/tickets/{before['id']}", headers=server.headers("admin"), timeout=10)
        if old.json()["status"] == "cancelled":
            break
        time.sleep(0.2)
    assert old.json()["status"] == "cancelled"
    assert datetime.fromisoformat(after["issued_at"].replace("Z", "+00:00")) - start > timedelta(minutes=2)
