"""Device links at a center with nodes: a node's site gets none at the center (demo-init skips it, `token create`
and the devices page refuse with the reason); the node hands out its own. `token create` prints the URL to open."""

from __future__ import annotations

import contextlib
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.sync_support import center_config


def run_cli(db: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "center", "--db", str(db), *args], text=True, capture_output=True,
                          cwd=ROOT, timeout=120)


@pytest.fixture
def setup(tmp_path) -> tuple[Path, Path]:
    from center.storage.store import Store

    db = tmp_path / "center.sqlite3"
    Store(db).close()
    return db, center_config(tmp_path)


def tokens_of(db: Path) -> list[str]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return [r[0] for r in conn.execute("SELECT name FROM tokens ORDER BY name")]


def test_demo_init_prints_no_device_link_for_a_site_a_node_serves(setup):
    db, cfg = setup
    r = run_cli(db, "demo-init", "--config", str(cfg), "--base-url", "http://10.0.0.5:8080")
    assert r.returncode == 0, r.stderr
    assert "http://10.0.0.5:8080/kiosk/main-kiosk-1#token=xh_" in r.stdout
    assert "/display/main-hall#token=" in r.stdout
    for device in ("branch-kiosk-1", "ld1-kiosk"):  # sites "branch" and "luudong1" run on their nodes
        assert device not in r.stdout
    assert "node branch" in r.stdout and "node mobile1" in r.stdout
    assert not [t for t in tokens_of(db) if t.startswith(("branch-", "ld1-"))]


def test_token_create_refuses_a_device_of_a_nodes_site_and_says_where_to_make_it(setup):
    db, cfg = setup
    r = run_cli(db, "token", "create", "--device", "branch-kiosk-1", "--config", str(cfg))
    assert r.returncode == 2
    assert "máy tại chỗ" in r.stderr and "node branch" in r.stderr and "token create" in r.stderr
    assert tokens_of(db) == []


def test_token_create_prints_the_url_to_open_on_the_device_then_the_token(setup):
    db, cfg = setup
    r = run_cli(db, "token", "create", "--device", "main-hall", "--config", str(cfg),
                "--base-url", "http://192.168.1.10/")
    assert r.returncode == 0, r.stderr
    token = r.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"xh_\S+", token)
    assert f"http://192.168.1.10/display/main-hall#token={token}" in r.stdout


def test_the_devices_page_refuses_a_token_for_a_nodes_site(tmp_path):
    from center.app import create_app
    from tests.conftest import WebClient, prepare_accounts

    db = tmp_path / "c.sqlite3"
    tokens = prepare_accounts(db)
    app = create_app(str(center_config(tmp_path)), str(db), housekeeping=False)
    try:
        web = WebClient(app=app, client=app.test_client(), tokens=tokens)
        csrf = web.sign_in("admin")
        page = web.client.get("/manager/admin/devices").get_data(as_text=True)
        assert 'value="main-kiosk-1"' in page and 'value="branch-kiosk-1"' not in page
        before = tokens_of(db)
        r = web.client.post("/manager/admin/devices", data={"action": "create", "name": "branch-kiosk-1",
                                                            "role": "kiosk", "site": "branch", "csrf_token": csrf})
        assert r.status_code == 409
        assert "do máy tại chỗ" in r.get_data(as_text=True)
        assert tokens_of(db) == before
    finally:
        app.extensions["xephang"].store.close()


def test_close_day_and_backup_say_the_day_and_time_in_vietnamese(setup, tmp_path):
    from tests.conftest import DEMO_CONFIG

    db, _cfg = setup
    r = run_cli(db, "close-day", "--site", "main", "--config", str(DEMO_CONFIG))
    assert r.returncode == 0, r.stderr
    day = re.search(r"Đã đóng ngày phục vụ (\d\d/\d\d/\d{4}) tại main", r.stdout)
    assert day, r.stdout
    assert not re.search(r"\d{4}-\d\d-\d\d", r.stdout.splitlines()[0].split(" / ")[0])
    r = run_cli(db, "backup", "--dest", str(tmp_path / "b"), "--config", str(DEMO_CONFIG))
    assert r.returncode == 0, r.stderr
    assert re.search(r"Đã sao lưu lúc \d\d:\d\d \d\d/\d\d/\d{4} \(giờ địa phương\)", r.stdout), r.stdout
    r = run_cli(db, "close-day", "--site", "moon", "--config", str(DEMO_CONFIG))
    assert r.returncode == 2 and "lỗi: Không có điểm tiếp nhận" in r.stderr and "error: Unknown site" in r.stderr
