"""Issue 15: what the center manages flows down to its nodes; a node runs on its last copy, and only serves
its own sites (the center refuses to serve them too)."""

from __future__ import annotations

import subprocess
import sys
import time

import requests

from tests.conftest import ROOT, cli
from tests.sync_support import LinkProxy, center_config, make_node, node_config, staff_token

FAST = {"XEPHANG_SYNC_HEARTBEAT_S": "0.5"}


def _wait(predicate, timeout: float = 30, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_node_serves_only_its_sites_and_the_center_refuses_to_serve_them(tmp_path, make_server):
    center = make_server(config=center_config(tmp_path))
    node = make_node(tmp_path, center, "branch")
    sites = [s["code"] for s in requests.get(node.url + "/api/sites", timeout=10).json()["sites"]]
    assert sites == ["branch"]
    r = center.post("/api/tickets", json={"site": "branch", "service": "CT"})
    assert r.status_code == 409 and r.json()["error"] == "served_by_node", r.text
    r = center.post("/api/counters/branch-1/take", who="staff1", json={})
    assert r.status_code == 409 and r.json()["error"] == "served_by_node", r.text
    assert center.post("/api/tickets", json={"site": "main", "service": "CT"}).status_code == 201


def test_an_account_changed_at_the_center_changes_at_the_node_and_ends_its_sessions_there(tmp_path, make_server):
    center = make_server(config=center_config(tmp_path))
    node = make_node(tmp_path, center, "branch", env=FAST)
    token = staff_token(node, "staff2")
    headers = {"Authorization": f"Bearer {token}"}
    assert requests.get(node.url + "/api/counters/branch-1", headers=headers, timeout=10).status_code == 200
    cli(center.db, "user", "lock", "staff2")
    _wait(lambda: requests.get(node.url + "/api/counters/branch-1", headers=headers, timeout=10).status_code == 401,
          what="the locked account to be refused at the node")
    cli(center.db, "user", "reset-password", "staff1", stdin="a-new-long-password-2026\n")

    def same_hash() -> bool:
        import sqlite3

        a = sqlite3.connect(center.db).execute("SELECT password_hash FROM users WHERE username = 'staff1'").fetchone()
        b = sqlite3.connect(node.db).execute("SELECT password_hash FROM users WHERE username = 'staff1'").fetchone()
        return a == b

    _wait(same_hash, what="the new password hash at the node")


def test_a_node_picks_up_a_config_change_when_the_link_returns_and_works_on_its_last_copy_meanwhile(
        tmp_path, make_server):
    cfg = center_config(tmp_path)
    center = make_server(config=cfg)
    proxy = LinkProxy(center.port)
    try:
        node = make_node(tmp_path, center, "branch", via=proxy.url, env=FAST)
        proxy.set("cut")
        cfg.write_text(cfg.read_text(encoding="utf-8").replace('name = "Quầy 1 – Chứng thực, Trả kết quả"',
                                                               'name = "Quầy 1 – Một cửa"'), encoding="utf-8")
        center.restart()
        # No link: the node still issues and shows its last copy.
        assert node.post("/api/tickets", who="branch-kiosk-1", json={"site": "branch", "service": "CT"}
                         ).status_code == 201

        def counter_name() -> str:
            site = requests.get(node.url + "/api/sites", timeout=10).json()["sites"][0]
            return next(c["name"] for c in site["counters"] if c["id"] == "branch-1")

        assert counter_name() == "Quầy 1 – Chứng thực, Trả kết quả"
        proxy.set("pass")

        def renamed() -> bool:
            try:
                return counter_name() == "Quầy 1 – Một cửa"
            except (requests.RequestException, ValueError):
                return False  # the workers are restarting on the new manifest

        _wait(renamed, timeout=60, what="the node to run on the new configuration")
    finally:
        proxy.close()


def test_a_node_without_its_centers_configuration_refuses_to_start_and_says_what_to_run(tmp_path):
    cfg = node_config(tmp_path, "branch", "http://127.0.0.1:9")
    out = subprocess.run([sys.executable, "-m", "center", "--db", str(tmp_path / "n.sqlite3"), "serve", "--config",
                          str(cfg), "--port", "9"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert "sync join" in out.stderr, out.stderr[-2000:]


def test_a_revoked_token_cannot_join(tmp_path, make_server):
    center = make_server(config=center_config(tmp_path))
    token = cli(center.db, "node", "token", "mobile1", "--config", str(center.config)).strip().splitlines()[-1]
    cli(center.db, "node", "revoke", "mobile1", "--config", str(center.config))
    cfg = node_config(tmp_path, "mobile1", center.url)
    out = subprocess.run([sys.executable, "-m", "center", "--db", str(tmp_path / "m.sqlite3"), "sync", "join",
                          "--config", str(cfg)], input=token + "\n", cwd=ROOT, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 2 and "bad_node_token" in out.stderr, out.stderr
