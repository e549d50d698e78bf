"""Issue 15 on bad links: whatever happens between a node and its center (a cut in the middle of a batch, a
stall, the center down, the node killed, bundles carried by hand, a restored center, several nodes at once,
a revoked or overreaching node), every record reaches the center exactly once.

Real servers on 127.0.0.1, real HTTP, a TCP proxy in front of the center (tests/sync_support.py). Each test
ends by comparing the node's rows of every synced table with the center's copy (0 lost, 0 doubled) and,
where cheap, the manager's report of the node's site read at both ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from center.config.model import BLOCK_SIZE
from center.queue.clock import to_iso
from center.storage.outbox import Batch
from center.sync.protocol import CONTENT_TYPE, encode
from tests.conftest import Server, cli
from tests.sync_support import (
    LinkProxy,
    center_config,
    center_mark,
    db_value,
    link_state,
    make_node,
    node_acked,
    outbox_top,
    run_cli,
    same_report,
    serve_citizens,
    staff_token,
    wait_idle,
    wait_synced,
    wait_until,
)

KIOSK = {"branch": "branch-kiosk-1", "mobile1": "ld1-kiosk"}
SITE = {"branch": "branch", "mobile1": "luudong1"}
COUNTER = {"branch": "branch-1", "mobile1": "ld1-1"}


@dataclass
class Place:
    """A center behind a link proxy, and the nodes made for it (stopped at the end of the test)."""

    tmp: Path
    center: Server
    proxy: LinkProxy
    nodes: list[Server] = field(default_factory=list)

    def node(self, name: str = "branch", *, start: bool = True, **env: str) -> Server:
        node = make_node(self.tmp, self.center, name, via=self.proxy.url, start=start, env=env)
        self.nodes.append(node)
        if start:
            node.tokens["staff1"] = staff_token(node)
        return node

    def serve(self, node: Server, n: int) -> list[int]:
        """n citizens served the whole way at the node's first counter."""
        name = node_name(node)
        return serve_citizens(node, SITE[name], COUNTER[name], KIOSK[name], n, node.tokens["staff1"])

    def all_arrived_once(self, node: Server, tickets: int, *, served: int | None = None,
                         report: bool = True) -> dict[str, Any]:
        """The center holds exactly the node's records (none lost, none doubled) and, read at both ends, the
        manager's report of the node's site is the same."""
        site = SITE[node_name(node)]
        synced = wait_synced(node, self.center, (site,))
        assert len(synced["tickets"][1]) == tickets
        served = tickets if served is None else served
        assert len(synced["ratings"][1]) == len(synced["ticket_procedures"][1]) == served
        for table, (_, theirs) in synced.items():
            ids = [r[0] for r in theirs]
            assert len(ids) == len(set(ids)), table
        if report:
            rep = same_report(node, self.center, site)
            assert rep["summary"]["issued"] == tickets
        return synced


def node_name(node: Server) -> str:
    return node.config.stem


@pytest.fixture
def place(tmp_path: Path, make_server: Any) -> Iterator[Place]:
    center = make_server(config=center_config(tmp_path))
    proxy = LinkProxy(center.port)
    p = Place(tmp_path, center, proxy)
    yield p
    for node in p.nodes:
        node.stop()
    proxy.close()


def held_answer(place: Place, node: Server) -> int:
    """Let the node's next batch through at full speed but hold the center's answer back: returns once the
    center has committed the batch, while the node has not heard of it yet (its mark before)."""
    mark = center_mark(place.center, node_name(node))
    acked = node_acked(node)
    place.proxy.set("throttle", rate=1e7, rate_down=20)  # an answer of ~400 bytes takes 20 s to come back
    wait_until(lambda: center_mark(place.center, node_name(node)) > mark, "the center to commit the batch")
    assert node_acked(node) == acked
    return acked


def test_a_link_cut_in_the_middle_of_a_batch_or_of_its_answer_loses_and_doubles_nothing(place: Place):
    center, proxy = place.center, place.proxy
    node = place.node()
    wait_idle(node, center)
    proxy.set("cut")
    place.serve(node, 6)
    mark = center_mark(center, "branch")
    # Cut with part of the batch on the wire: the center never had it whole, so it committed nothing.
    proxy.bytes_up = 0
    proxy.set("throttle", rate=500)  # ~1.7 kB of request (6 citizens, compressed): over 3 s
    wait_until(lambda: proxy.bytes_up >= 512, "part of the batch to be on its way")
    proxy.set("cut")
    assert center_mark(center, "branch") == mark
    # Cut after the center committed the batch, before its answer reached the node: the node sends it again.
    acked = held_answer(place, node)
    proxy.set("cut")
    top = outbox_top(node)
    proxy.set("pass")
    wait_idle(node, center)
    assert db_value(center.db, "SELECT count(*) FROM sync_batches WHERE node = 'branch' AND from_seq = ? AND "
                               "to_seq = ?", (acked, top)) == 2  # the same batch twice, applied as one
    place.all_arrived_once(node, 6)


def test_a_stalled_link_never_slows_the_node_and_everything_goes_once_it_moves(place: Place):
    center, proxy = place.center, place.proxy
    node = place.node(XEPHANG_SYNC_READ_TIMEOUT_S="3")
    wait_idle(node, center)
    mark = center_mark(center, "branch")
    proxy.set("stall")
    place.serve(node, 4)
    staff = {"Authorization": f"Bearer {node.tokens['staff1']}"}
    for _ in range(3):  # issuing never waits for the link (a pass waits 3 s for the center's answer)
        r = requests.post(f"{node.url}/api/tickets", json={"site": "branch", "service": "HT"}, headers=staff,
                          timeout=10)
        assert r.status_code == 201 and r.elapsed.total_seconds() < 1, (r.status_code, r.elapsed)
    state = wait_until(lambda: (s := link_state(node))["last_error"] and "timeout" in s["last_error"].lower() and s,
                       "a pass to time out", timeout=20, step=0.3)
    assert state["pending"] > 0
    assert center_mark(center, "branch") == mark  # nothing went through
    proxy.set("pass")
    place.all_arrived_once(node, 7, served=4)
    wait_idle(node, center)  # the records may arrive before the node hears (a request held in the stall went on)
    assert link_state(node)["last_error"] is None


def test_a_center_down_for_long_gets_everything_once_it_is_back(place: Place):
    center = place.center
    node = place.node()
    place.serve(node, 2)
    wait_idle(node, center)
    center.stop()
    place.serve(node, 3)  # the node serves on, its records wait
    failed: set[str] = set()
    wait_until(lambda: failed.add(link_state(node)["last_try_at"]) or len(failed) >= 4, "several failed passes",
               timeout=30, step=0.3)
    place.serve(node, 2)
    state = link_state(node)
    assert state["pending"] > 0 and "link down" in state["last_error"], state
    center.start()
    place.all_arrived_once(node, 7)
    wait_idle(node, center)
    state = link_state(node)
    assert state["pending"] == 0 and state["last_error"] is None, state


def test_a_node_killed_while_the_center_answers_sends_again_and_nothing_doubles(place: Place):
    center, proxy = place.center, place.proxy
    node = place.node()
    wait_idle(node, center)
    proxy.set("cut")
    place.serve(node, 5)
    acked = held_answer(place, node)
    node.kill()  # SIGKILL: the center has the batch, the node never heard
    proxy.set("pass")
    node.start()
    assert node_acked(node) == acked
    place.serve(node, 2)  # its ids go on in its block, past those the center already has
    place.all_arrived_once(node, 7)


def test_a_bundle_imported_twice_counts_once_and_a_damaged_one_is_refused(place: Place, tmp_path: Path):
    center, proxy = place.center, place.proxy
    node = place.node(start=False)
    proxy.set("cut")  # no link at all
    node.start()
    node.tokens["staff1"] = staff_token(node)
    place.serve(node, 4)
    cli(node.db, "sync", "export", "--dest", str(tmp_path / "usb"), "--config", str(node.config))
    (bundle,) = (tmp_path / "usb").glob("*.xhb")
    written = []
    for _ in range(2):
        out = cli(center.db, "sync", "import", str(bundle), "--config", str(center.config))
        written.append(int(out.split(" new or newer")[0].rsplit(" ", 1)[-1]))
    assert written[0] > 0 and written[1] == 0, written
    assert db_value(center.db, "SELECT records FROM sync_nodes WHERE node = 'branch'") == written[0]  # `node list`
    place.all_arrived_once(node, 4)

    damaged = tmp_path / "damaged.xhb"
    data = bytearray(bundle.read_bytes())
    data[data.index(b"\n") + 40] ^= 0x01
    damaged.write_bytes(bytes(data))
    batches = db_value(center.db, "SELECT count(*) FROM sync_batches")
    result = run_cli(center.db, "sync", "import", str(damaged), "--config", str(center.config))
    assert result.returncode != 0
    assert "checksum" in result.stderr and "damaged" in result.stderr, result.stderr
    assert db_value(center.db, "SELECT count(*) FROM sync_batches") == batches
    place.all_arrived_once(node, 4, report=False)


def test_a_bundle_and_the_live_link_carrying_the_same_records_keep_one_copy_the_newest(place: Place, tmp_path: Path):
    center, proxy = place.center, place.proxy
    node = place.node(start=False)
    proxy.set("cut")
    node.start()
    node.tokens["staff1"] = staff_token(node)
    place.serve(node, 3)
    staff = {"Authorization": f"Bearer {node.tokens['staff1']}"}
    r = requests.post(f"{node.url}/api/tickets", json={"site": "branch", "service": "CT"}, headers=staff, timeout=10)
    assert r.status_code == 201
    late = r.json()["id"]
    cli(node.db, "sync", "export", "--dest", str(tmp_path / "usb"), "--config", str(node.config))
    (bundle,) = (tmp_path / "usb").glob("*.xhb")
    for step, body in (("call-next", {}), ("start", {}), ("finish", {"procedures": ["CT-BS"]})):
        r = requests.post(f"{node.url}/api/counters/branch-1/{step}", headers=staff, json=body, timeout=10)
        assert r.status_code == 200, r.text
    r = requests.post(f"{node.url}/counter/branch-1/rating", headers=staff,
                      json={"ticket": late, "level": "satisfied"}, timeout=10)
    assert r.status_code == 201, r.text
    proxy.set("pass")
    wait_idle(node, center)
    out = cli(center.db, "sync", "import", str(bundle), "--config", str(center.config))
    assert " 0 new or newer" in out, out  # every record of the bundle is already there, as new or newer
    assert db_value(center.db, "SELECT status FROM tickets WHERE id = ?", (late,)) == "served"
    assert db_value(center.db, "SELECT level FROM ratings WHERE ticket_id = ?", (late,)) == "satisfied"
    place.all_arrived_once(node, 4)


def test_a_center_restored_from_an_older_backup_gets_again_what_it_lost(place: Place, tmp_path: Path):
    center = place.center
    node = place.node(XEPHANG_SYNC_HEARTBEAT_S="0.5")
    place.serve(node, 3)
    before = wait_idle(node, center)
    cli(center.db, "backup", "--dest", str(tmp_path / "backups"), "--config", str(center.config))
    (backup,) = (tmp_path / "backups").iterdir()
    place.serve(node, 3)
    after = wait_idle(node, center)
    assert after > before
    center.stop()
    cli(center.db, "restore", str(backup), "--config", str(center.config))
    assert center_mark(center, "branch") == before  # yesterday's center: the last three citizens are gone
    assert db_value(center.db, "SELECT count(*) FROM tickets WHERE site = 'branch'") == 3
    center.start()
    place.all_arrived_once(node, 6)
    assert node_acked(node) == center_mark(center, "branch") == outbox_top(node)


def test_two_nodes_push_at_once_while_the_center_serves_its_own_citizens(place: Place):
    center = place.center
    nodes = [place.node("branch"), place.node("mobile1")]
    own: list[int] = []
    for _ in range(2):  # the second round: the center issues after its nodes' records are in its tables
        with ThreadPoolExecutor(3) as pool:
            jobs = [pool.submit(place.serve, n, 4) for n in nodes]
            main = pool.submit(serve_citizens, center, "main", "main-1", "main-kiosk-1", 4, center.tokens["staff1"])
            for job in jobs:
                job.result()
            own += main.result()
        for n in nodes:
            wait_idle(n, center)
    audit = 0
    for n in nodes:
        audit += len(place.all_arrived_once(n, 8)["audit_log"][0])
    assert all(i < BLOCK_SIZE for i in own), own
    tickets = [tuple(r) for r in _rows(center.db, "SELECT id, status FROM tickets WHERE site = 'main' ORDER BY id")]
    assert tickets == [(i, "served") for i in sorted(own)]
    for table in ("ticket_events", "ticket_procedures", "counter_events"):
        assert db_value(center.db, f"SELECT count(*) FROM {table} WHERE site = 'main' AND id >= ?",  # noqa: S608
                        (BLOCK_SIZE,)) == 0, table
    assert db_value(center.db, "SELECT count(*) FROM ratings WHERE site = 'main'") == 8
    assert db_value(center.db, "SELECT count(*) FROM print_jobs WHERE kiosk = 'main-kiosk-1' AND id >= ?",
                    (BLOCK_SIZE,)) == 0
    assert db_value(center.db, "SELECT count(*) FROM audit_log WHERE id >= ?", (BLOCK_SIZE,)) == audit


def test_a_revoked_token_and_records_of_another_site_are_refused_and_nothing_is_written(place: Place):
    center = place.center
    node = place.node()
    place.serve(node, 2)
    mark = wait_idle(node, center)
    token = node.node_token  # type: ignore[attr-defined]
    counts = {t: db_value(center.db, f"SELECT count(*) FROM {t}") for t in ("tickets", "sync_batches")}  # noqa: S608
    cols = ["id", "visit_id", "public_id", "site", "service", "service_day", "seq", "number", "source", "device",
            "status", "issued_at", "queue_at"]
    now = to_iso(datetime.now(UTC))
    db_id = db_value(node.db, "SELECT db_id FROM sync_link")  # the node's own database: only what it holds differs

    def ticket(tid: int, site: str) -> list[Any]:
        return [tid, tid, "x", site, "CT", now[:10], 99, "C99", "desk", "staff1", "waiting", now, now]

    # Another node's credentials: refused whole, nothing written, the mark stays.
    batch = Batch(node="mobile1", after=mark, to=mark + 1, ver=mark + 1, db_id=db_id,
                  tables={"tickets": {"cols": cols, "rows": [ticket(2 * BLOCK_SIZE + 10**6, "luudong1")]}})
    r = _push(center, token, encode(batch, {"sent_at": now, "version": "test"}))
    assert r.status_code == 403 and r.json()["error"] == "sync_refused" and "credentials" in r.json()["message_en"]
    assert center_mark(center, "branch") == mark
    # Rows that are not the node's (the center's own site, another node's ids): never written, held with the
    # reason (issue 25), answered 422 naming them, the rest applied and the mark kept as the batch says (here it
    # claims no new position: the node's own records since `mark` still go, below).
    for site, tid, says in (("main", BLOCK_SIZE + 10**6, "'main'"),  # the center's own site
                            ("branch", 2 * BLOCK_SIZE + 10**6, "block")):  # mobile1's ids
        batch = Batch(node="branch", after=mark, to=mark, ver=mark, db_id=db_id,
                      tables={"tickets": {"cols": cols, "rows": [ticket(tid, site)]}})
        r = _push(center, token, encode(batch, {"sent_at": now, "version": "test"}))
        assert r.status_code == 422 and r.json()["error"] == "records_refused", r.text
        assert r.json()["refused"][0]["key"] == tid and says in r.json()["refused"][0]["reason"], r.text
        assert db_value(center.db, "SELECT count(*) FROM tickets WHERE id = ?", (tid,)) == 0
        assert db_value(center.db, "SELECT count(*) FROM sync_held WHERE key = ?", (str(tid),)) == 1
        assert center_mark(center, "branch") == mark
    assert db_value(center.db, "SELECT count(*) FROM tickets") == counts["tickets"]

    cli(center.db, "node", "revoke", "branch", "--config", str(center.config))
    empty = encode(Batch(node="branch", after=mark, to=mark, ver=mark, db_id=db_id),
                   {"sent_at": now, "version": "test"})
    r = _push(center, token, empty)
    assert r.status_code == 401 and r.json()["error"] == "bad_node_token", r.text
    r = requests.get(f"{center.url}/sync/manifest", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert r.status_code == 401 and r.json()["error"] == "bad_node_token", r.text
    place.serve(node, 1)  # the node serves on; its link is refused and says why
    wait_until(lambda: "bad_node_token" in (link_state(node)["last_error"] or ""), "the node to be refused",
               timeout=15, step=0.3)
    assert center_mark(center, "branch") == mark
    # A new token (`node token`, then `sync join` at the node): what waited goes, once.
    new = cli(center.db, "node", "token", "branch", "--config", str(center.config)).strip().splitlines()[-1]
    cli(node.db, "sync", "join", "--config", str(node.config), stdin=new + "\n")
    place.all_arrived_once(node, 3)


def _push(center: Server, token: str, body: bytes) -> requests.Response:
    return requests.post(f"{center.url}/sync/push", data=body, timeout=10,
                         headers={"Authorization": f"Bearer {token}", "Content-Type": CONTENT_TYPE})


def _rows(db: Path, sql: str) -> list[Any]:
    import sqlite3

    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()



def _morning_of_transfers(node: Server, n: int) -> None:
    """n citizens at the node's first counter, each transferred once to another service (call, start, transfer,
    call again, start, finish, rating), one recalled, one no-show, a pause and a resume: a reception point's
    morning with its link down."""
    h = {"Authorization": f"Bearer {node.tokens['staff1']}"}

    def post(path: str, body: dict | None = None, ok: tuple[int, ...] = (200, 201)) -> dict:
        r = requests.post(f"{node.url}{path}", json=body or {}, headers=h, timeout=10)
        assert r.status_code in ok, (path, r.text)
        return r.json()

    post("/api/counters/branch-1/take")
    for i in range(n):
        post("/api/tickets", {"site": "branch", "service": "CT"})
        post("/api/counters/branch-1/call-next")
        if i == 0:
            post("/api/counters/branch-1/recall")
        post("/api/counters/branch-1/start")
        post("/api/counters/branch-1/transfer", {"service": "HD"})
        moved = post("/api/counters/branch-1/call-next")
        assert moved["service"] == "HD", moved
        post("/api/counters/branch-1/start")
        done = post("/api/counters/branch-1/finish", {"procedures": ["HD-DVC"]})
        post("/counter/branch-1/rating", {"ticket": done["id"], "level": "very_satisfied"})
        if i == n // 2:
            post("/api/counters/branch-1/pause", {"reason": "break"})
            post("/api/counters/branch-1/resume")
    post("/api/tickets", {"site": "branch", "service": "CT"})
    post("/api/counters/branch-1/call-next")
    post("/api/counters/branch-1/no-show", {"confirmed": True})


@pytest.mark.parametrize("positions", ["1", "7", "250"])
def test_a_morning_of_transfers_arrives_whole_in_every_batch_split(place: Place, positions: str):
    """Issue 25: with every citizen transferred once, every POST /sync/push once answered 500 (a row referring to
    a ticket of a later batch) and the node's mark never moved again. Whatever the batch size, and with the link
    cut again mid-way, the center now gets every record once, holds nothing back, and the node shows no refusal."""
    center, proxy = place.center, place.proxy
    node = place.node(XEPHANG_SYNC_BATCH_POSITIONS=positions)
    wait_idle(node, center)
    proxy.set("cut")
    _morning_of_transfers(node, 12)
    proxy.set("pass")
    wait_until(lambda: center_mark(center, "branch") > 0 and node_acked(node) > 0, "the first batches")
    proxy.set("cut")  # and once more, with part of the backlog across
    proxy.set("pass")
    synced = place.all_arrived_once(node, 12 * 2 + 1, served=12, report=False)
    assert same_report(node, center, "branch")["summary"]["issued"] == 13  # a transfer is no new citizen
    assert db_value(center.db, "SELECT count(*) FROM tickets WHERE transferred_to IS NOT NULL") == 12
    assert db_value(center.db, "SELECT count(*) FROM sync_held") == 0
    state = link_state(node)
    assert not state["refused"] and not any(b["kind"] == "link_refused" for b in state["banners"]), state
    assert len(synced["tickets"][1]) == 25
