"""Backups of the live database (online backup API) and restore, on real server processes and real files."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from center.storage.backup import BackupError, backup, integrity, list_backups, restore

from .conftest import ROOT


def run_cli(db: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "center", "--db", str(db), *args], text=True,
                          capture_output=True, cwd=ROOT, timeout=120)


def ticket_ids(db: Path) -> set[int]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return {r[0] for r in conn.execute("SELECT id FROM tickets")}


def prefill(db: Path, n: int) -> None:
    """Old served tickets (a past day), so the database has some weight while the server runs."""
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        conn.executemany(
            "INSERT INTO tickets (public_id, site, service, service_day, seq, number, source, status, issued_at, "
            "queue_at) VALUES (?, 'main', 'CT', '2025-01-06', ?, ?, 'kiosk', 'served', '2025-01-06T02:00:00.000Z', "
            "'2025-01-06T02:00:00.000Z')",
            ((f"old-{i:08d}-{'x' * 40}", i, f"C{i:05d}") for i in range(1, n + 1)))


def test_backup_while_server_issues_tickets_is_consistent_and_complete(make_server, tmp_path):
    prefill(tmp_path / "center.sqlite3", 30_000)  # the database make_server() serves
    server = make_server()
    acknowledged: list[int] = []
    stop = threading.Event()
    errors: list[str] = []

    def issue() -> None:
        s = requests.Session()
        n = 0
        while not stop.is_set():
            service = ("CT", "HT", "TKQ")[n % 3]
            n += 1
            r = s.post(server.url + "/api/tickets", json={"site": "main", "service": service},
                       headers=server.headers("admin"), timeout=30)
            if r.status_code != 201:
                errors.append(r.text)
                return
            acknowledged.append(r.json()["id"])

    threads = [threading.Thread(target=issue) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        while len(acknowledged) < 30:
            time.sleep(0.02)
        before = set(acknowledged)
        t0 = time.monotonic()
        path = backup(server.db, tmp_path / "backups", keep=5)
        print(f"backup of {path.stat().st_size / 1e6:.1f} MB in {time.monotonic() - t0:.2f} s while serving")
        after_backup = len(acknowledged)
        while len(acknowledged) < after_backup + 15:  # the server kept issuing after the copy
            time.sleep(0.02)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert not errors, errors[:3]
    assert integrity(path) == "ok"
    assert not Path(f"{path}-wal").exists(), "the backup is one self-contained file"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    copied = ticket_ids(path)
    assert before <= copied, "a ticket acknowledged before the backup started is missing from it"
    final = ticket_ids(server.db)
    assert copied <= final and len(copied) < len(final), "the copy is a snapshot taken before the later tickets"
    with contextlib.closing(sqlite3.connect(path)) as conn:
        # One snapshot: today's numbering has no gap, and every copied ticket has its 'issued' event.
        for service, top, count in conn.execute(
                "SELECT service, max(seq), count(*) FROM tickets WHERE service_day > '2025-01-06' GROUP BY service"):
            assert top == count, f"{service}: numbers 1..{top} but {count} tickets"
        missing = conn.execute("SELECT count(*) FROM tickets t WHERE service_day > '2025-01-06' AND NOT EXISTS "
                               "(SELECT 1 FROM ticket_events e WHERE e.ticket_id = t.id AND e.kind = 'issued')")
        assert missing.fetchone()[0] == 0


def test_retention_keeps_the_newest_n(tmp_path):
    from center.storage.store import Store

    db = tmp_path / "center.sqlite3"
    Store(db).close()
    dest = tmp_path / "backups"
    made = [backup(db, dest, keep=2) for _ in range(4)]
    assert len(set(made)) == 4, "two backups within one second get distinct names"
    assert list_backups(dest, db) == made[-2:]
    assert sorted(p.name for p in dest.iterdir()) == sorted(p.name for p in made[-2:]), "no partial files left"


def test_backup_of_a_missing_database_fails_cleanly(tmp_path):
    with pytest.raises(BackupError):
        backup(tmp_path / "nope.sqlite3", tmp_path / "b")
    assert not (tmp_path / "nope.sqlite3").exists()


def test_restore_brings_back_the_data_and_keeps_the_current_database_aside(make_server, tmp_path):
    server = make_server()
    a = server.post("/api/tickets", json={"site": "main", "service": "CT"}).json()
    out = run_cli(server.db, "backup", "--dest", str(tmp_path / "backups"), "--keep", "3")
    assert out.returncode == 0, out.stderr
    (path,) = list_backups(tmp_path / "backups", server.db)
    assert str(path) in out.stdout and "integrity ok" in out.stdout
    b = server.post("/api/tickets", json={"site": "main", "service": "CT"}).json()

    refused = run_cli(server.db, "restore", str(path))
    assert refused.returncode == 1 and "in use" in refused.stderr, "restore must refuse while the server runs"
    assert b["id"] in ticket_ids(server.db)

    server.stop()
    out = run_cli(server.db, "restore", str(path))
    assert out.returncode == 0, out.stderr
    asides = [p for p in server.db.parent.glob(server.db.name + ".before-restore-*") if p.name[-4:] != "-wal"]
    assert len(asides) == 1 and b["id"] in ticket_ids(asides[0]), "the replaced database is kept"
    assert not Path(f"{server.db}-wal").exists() or Path(f"{server.db}-wal").stat().st_size == 0

    server.start()
    assert server.get(f"/api/tickets/{a['id']}").status_code == 200
    assert server.get(f"/api/tickets/{b['id']}").status_code == 404
    c = server.post("/api/tickets", json={"site": "main", "service": "CT"}).json()
    assert c["number"] == b["number"], "numbering continues from the restored state"


def test_restore_refuses_a_damaged_backup_and_changes_nothing(make_server, tmp_path):
    server = make_server()
    t = server.post("/api/tickets", json={"site": "main", "service": "HT"}).json()
    path = backup(server.db, tmp_path / "backups")
    server.stop()
    with open(path, "r+b") as f:  # overwrite pages in the middle of the file
        f.seek(4096 * 3)
        f.write(os.urandom(4096 * 4))
    before = server.db.read_bytes()
    with pytest.raises(BackupError):
        restore(path, server.db)
    assert server.db.read_bytes() == before
    assert not list(server.db.parent.glob("*.before-restore-*"))
    assert t["id"] in ticket_ids(server.db)


@pytest.mark.skipif(not (ROOT / "center" / "history.py").exists(),
                    reason="center/history.py not present")
def test_generate_history_command_is_wired(tmp_path):
    db = tmp_path / "h.sqlite3"
    out = run_cli(db, "generate-history", "--days", "3", "--end", "2026-01-09", "--quiet")
    assert out.returncode == 0, out.stderr
    with contextlib.closing(sqlite3.connect(db)) as conn:
        days = {r[0] for r in conn.execute("SELECT DISTINCT service_day FROM tickets")}
    assert days and days <= {"2026-01-07", "2026-01-08", "2026-01-09"}
