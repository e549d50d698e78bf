"""Places on weak links, for real: a center server, node servers of their own (same code, own SQLite file),
and a TCP proxy between them that passes, cuts, stalls or throttles the link."""

from __future__ import annotations

import contextlib
import json
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from center.contract.records import ORDER
from tests.conftest import DEMO_CONFIG, ROOT, STARTED, Server, cli

# The demo center with its second reception point and a mobile team each running on their own server.
NODES_TOML = """
# ---- a mobile team's place: its own numbers (L…), served from a laptop
[[sites]]
code = "luudong1"
name = "Tổ lưu động số 1 – các thôn phía Bắc"
name_en = "Mobile team 1 – northern hamlets"
services = ["CT", "HT", "HD"]
numbering_starts_at = "00:00"
hours = { default = ["00:00-24:00"] }
numbering = { CT = { prefix = "LC" }, HT = { prefix = "LH" }, HD = { prefix = "LD" } }

[[sites.counters]]
id = "ld1-1"
number = 1
name = "Bàn lưu động 1"
services = ["CT", "HT", "HD"]

[[sites.kiosks]]
id = "ld1-kiosk"
name = "Máy lấy số lưu động"
printer = { driver = "none" }

[[nodes]]
id = "branch"
name = "Điểm 45 Trần Phú"
block = 1
sites = ["branch"]

[[nodes]]
id = "mobile1"
name = "Tổ lưu động 1"
block = 2
sites = ["luudong1"]
"""


def center_config(directory: Path) -> Path:
    path = directory / "center.toml"
    path.write_text(DEMO_CONFIG.read_text(encoding="utf-8") + NODES_TOML, encoding="utf-8")
    return path


def node_config(directory: Path, node: str, upstream_url: str) -> Path:
    path = directory / f"{node}.toml"
    path.write_text(f'[upstream]\nurl = "{upstream_url}"\nnode = "{node}"\n', encoding="utf-8")
    return path


def make_node(directory: Path, center: Server, node: str, *, via: str | None = None, start: bool = True,
              env: dict[str, str] | None = None, extra: tuple[str, ...] = ()) -> Server:
    """A node server: a token made at the center, `sync join`, a kiosk token, then `serve` (one command)."""
    token = cli(center.db, "node", "token", node, "--config", str(center.config)).strip().splitlines()[-1]
    folder = directory / node
    folder.mkdir(exist_ok=True)
    cfg = node_config(folder, node, via or center.url)
    db = folder / "node.sqlite3"
    cli(db, "sync", "join", "--config", str(cfg), stdin=token + "\n")
    server = Server(db=db, config=cfg, tokens=dict(center.tokens),
                    env={"XEPHANG_SYNC_PASS_S": "0.2", "XEPHANG_SYNC_BACKOFF_MAX_S": "1", **(env or {})}, extra=extra)
    kiosk = {"branch": "branch-kiosk-1", "mobile1": "ld1-kiosk"}[node]
    server.tokens[kiosk] = cli(db, "token", "create", "--device", kiosk, "--config", str(cfg)).strip().splitlines()[-1]
    server.node_token = token  # type: ignore[attr-defined]
    STARTED.append(server)  # stopped after the test (tests/conftest.py), started here or later by the test
    return server.start() if start else server


# every synced table a node's site has rows in (counter_state and bookings are compared by the tests that make them)
SYNCED = tuple(t for t in ORDER if t not in ("counter_state", "bookings"))


def rows(db: Path, table: str, where: str = "", params: tuple = ()) -> list[tuple]:
    """Every row of a table (in id order), for comparing a node's records with the center's copy."""
    conn = sqlite3.connect(db)
    try:
        cols = [r[1] for r in conn.execute(f"PRAGMA table_info({table})") if r[1] not in ("sync_ver", "clock_offset_s")]
        key = "ticket_id" if table == "ratings" else ("counter_id" if table == "counter_state" else "id")
        return conn.execute(f"SELECT {', '.join(cols)} FROM {table} {where} ORDER BY {key}", params).fetchall()
    finally:
        conn.close()


def node_block(node_db: Path) -> int:
    """The id block a node's manifest gave it (its records have ids in [block × 10^12, (block + 1) × 10^12))."""
    conn = sqlite3.connect(node_db)
    try:
        return int(json.loads(conn.execute("SELECT manifest FROM sync_link").fetchone()[0])["block"])
    finally:
        conn.close()


def node_rows(node_db: Path, center_db: Path, sites: tuple[str, ...]) -> dict[str, tuple[list, list]]:
    """(node's rows, center's rows of the node's sites) per synced table. Print jobs and the audit log have no
    site: the node's id block tells its rows apart from the center's and the other nodes'."""
    out = {}
    marks = ",".join("?" * len(sites))
    block = node_block(node_db)
    for table in SYNCED:
        if table in ("print_jobs", "audit_log"):
            where, params = "WHERE id >= ? AND id < ?", (block * 10**12, (block + 1) * 10**12)
        else:
            where, params = f"WHERE site IN ({marks})", sites
        out[table] = (rows(node_db, table, where, params), rows(center_db, table, where, params))
    return out


def wait_synced(node: Server, center: Server, sites: tuple[str, ...], timeout: float = 60) -> dict:
    """Wait until the center holds exactly the node's records of its sites; the last comparison."""
    deadline = time.monotonic() + timeout
    last: dict = {}
    while time.monotonic() < deadline:
        last = node_rows(node.db, center.db, sites)
        if all(a == b for a, b in last.values()):
            return last
        time.sleep(0.3)
    diff = {t: (len(a), len(b)) for t, (a, b) in last.items() if a != b}
    raise AssertionError(f"not in sync after {timeout} s: (node, center) rows per table {diff}")


class LinkProxy:
    """A TCP proxy on 127.0.0.1 in front of the center: `mode` is "pass", "cut" (refuse and drop every
    connection), "stall" (accept, forward nothing, never answer) or "throttle" (at `rate` bytes/s each way, or
    `rate_down` bytes/s for the center's answers: a slow answer holds a batch the center has already committed)."""

    def __init__(self, target_port: int):
        self.target = ("127.0.0.1", target_port)
        self.mode = "pass"
        self.rate = 0.0
        self.rate_down: float | None = None
        self.bytes_up = 0
        self.bytes_down = 0
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self.port = self._sock.getsockname()[1]
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def set(self, mode: str, rate: float = 0.0, rate_down: float | None = None) -> None:
        self.mode, self.rate, self.rate_down = mode, rate, rate_down
        if mode == "cut":
            self.drop_all()

    def drop_all(self) -> None:
        with self._lock:
            conns, self._conns = self._conns, []
        for c in conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                c.close()

    def close(self) -> None:
        self._closed = True
        self.drop_all()
        with contextlib.suppress(OSError):
            self._sock.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            if self.mode == "cut":
                client.close()
                continue
            with self._lock:
                self._conns.append(client)
            if self.mode == "stall":
                continue  # held open, never answered
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns.append(upstream)
            threading.Thread(target=self._pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, up: bool) -> None:
        try:
            while True:
                data = src.recv(4096 if self.mode != "throttle" else 512)
                if not data:
                    break
                while self.mode == "stall":
                    time.sleep(0.05)
                if self.mode == "cut":
                    break
                rate = self.rate if up or self.rate_down is None else self.rate_down
                if self.mode == "throttle" and rate > 0:
                    time.sleep(len(data) / rate)
                if self.mode == "cut":  # cut while this chunk was held back
                    break
                dst.sendall(data)
                if up:
                    self.bytes_up += len(data)
                else:
                    self.bytes_down += len(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)


def staff_token(server: Server, user: str = "staff1") -> str:
    """A bearer token for an account that came down in the node's manifest (tokens are each server's own)."""
    return cli(server.db, "token", "create", "--user", user, "--config", str(server.config)).strip().splitlines()[-1]


def serve_citizens(server: Server, site: str, counter: str, kiosk: str, n: int, staff: str,
                   service: str = "CT", procedure: str = "CT-BS", rate: bool = True) -> list[int]:
    """n citizens at one counter, the whole way: issued (the first at the kiosk, the others at the desk: a kiosk
    may issue a burst of 5, then one per 2 s), called, served with a procedure, rated."""
    import requests

    staff_h = {"Authorization": f"Bearer {staff}"}
    ids = []
    for i in range(n):
        who = {"Authorization": f"Bearer {server.tokens[kiosk]}"} if i == 0 else staff_h
        r = requests.post(f"{server.url}/api/tickets", json={"site": site, "service": service}, headers=who,
                          timeout=10)
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    requests.post(f"{server.url}/api/counters/{counter}/take", headers=staff_h, json={}, timeout=10).raise_for_status()
    for tid in ids:
        for step, body in (("call-next", {}), ("start", {}), ("finish", {"procedures": [procedure]})):
            r = requests.post(f"{server.url}/api/counters/{counter}/{step}", headers=staff_h, json=body, timeout=10)
            assert r.status_code == 200, (step, r.text)
        if rate:
            r = requests.post(f"{server.url}/counter/{counter}/rating", headers=staff_h,
                              json={"ticket": tid, "level": "very_satisfied"}, timeout=10)
            assert r.status_code == 201, r.text
    return ids


# ------------------------------------------------------------------------------------------------ faults


def run_cli(db: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    """A command that may fail: its exit code, stdout and stderr (`cli` raises on failure)."""
    return subprocess.run([sys.executable, "-m", "center", "--db", str(db), *args], input=stdin, text=True,
                          capture_output=True, cwd=ROOT, check=False)


def db_value(db: Path, sql: str, params: tuple = ()) -> Any:
    """One value read from a server's database file while it runs (WAL: readers never wait)."""
    conn = sqlite3.connect(db, timeout=10)
    try:
        row = conn.execute(sql, params).fetchone()
        return row[0] if row else None
    finally:
        conn.close()


def center_mark(center: Server, node: str) -> int:
    """The center's high-water mark of a node: every change up to this outbox position has arrived."""
    return int(db_value(center.db, "SELECT coalesce(max(hwm), 0) FROM sync_nodes WHERE node = ?", (node,)) or 0)


def node_acked(node: Server) -> int:
    """The mark the node last heard from the center."""
    return int(db_value(node.db, "SELECT acked FROM sync_link"))


def outbox_top(node: Server) -> int:
    """The node's last outbox position: the center has everything once its mark reaches it."""
    return int(db_value(node.db, "SELECT coalesce(max(seq), 0) FROM sync_outbox"))


def link_state(node: Server) -> dict[str, Any]:
    """`sync status` at the node, as an operator reads it."""
    return json.loads(cli(node.db, "sync", "status", "--config", str(node.config)))


def wait_until(check: Callable[[], Any], what: str, timeout: float = 30, step: float = 0.05) -> Any:
    """Poll until `check()` is truthy; its value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def wait_idle(node: Server, center: Server, timeout: float = 30) -> int:
    """Wait until the node has heard that the center has all of its outbox; that position."""
    return wait_until(lambda: (top := outbox_top(node)) and node_acked(node) == top == center_mark(
        center, node_id(node)) and top, f"{node_id(node)} to be in sync", timeout)


def node_id(node: Server) -> str:
    return str(db_value(node.db, "SELECT node FROM sync_link"))


def service_day(db: Path, site: str) -> str:
    """The service day of a site's latest ticket (the day whose reports are compared)."""
    return str(db_value(db, "SELECT service_day FROM tickets WHERE site = ? ORDER BY id DESC LIMIT 1", (site,)))


def same_report(node: Server, center: Server, site: str) -> dict[str, Any]:
    """The manager's JSON report of the node's site for its day, read at the node (with a manager token made
    there: the account came down in the manifest) and at the center: they must be equal. Returns it."""
    import requests

    day = service_day(node.db, site)
    token = cli(node.db, "token", "create", "--user", "manager", "--config", str(node.config)).strip().splitlines()[-1]
    query = {"from": day, "to": day, "site": site, "group": "service", "lang": "en"}
    reports = []
    for server, tok in ((node, token), (center, center.tokens["manager"])):
        r = requests.get(f"{server.url}/manager/api/report", params=query, headers={"Authorization": f"Bearer {tok}"},
                         timeout=30)
        assert r.status_code == 200, r.text
        reports.append({k: v for k, v in r.json().items() if k != "generated_at"})
    differ = sorted(k for k in reports[0].keys() | reports[1].keys() if reports[0].get(k) != reports[1].get(k))
    assert not differ, f"the node's report differs from the center's in {differ}: {reports}"
    return reports[1]
