"""`make hub-demo` as IT runs it (items 14–16): on ports they choose, it prints a hub account that signs in, and
its two centers carry their own names on the booking page. The real script, a real PostgreSQL cluster and real
servers, in a directory of the test's own (HUB_DEMO_VAR), with one day of history."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import ROOT, free_port
from tests.hub_pages_support import hub_session

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo():
    var = Path(tempfile.mkdtemp(prefix="xephang-hub-demo-"))
    var.chmod(0o755)  # run as root, the cluster's own user must reach it
    ports = [free_port(), free_port(), free_port()]
    env = {**os.environ, "HUB_DEMO_VAR": str(var), "HUB_DEMO_DAYS": "1", "HUB_PORT": str(ports[0]),
           "HUB_CENTER1_PORT": str(ports[1]), "HUB_CENTER2_PORT": str(ports[2]), "PYTHONUNBUFFERED": "1"}
    out = var / "demo.out"
    proc = subprocess.Popen([sys.executable, "scripts/hub_demo.py"], cwd=ROOT, env=env, stdout=out.open("wb"),
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while "Ctrl+C stops everything." not in out.read_text(encoding="utf-8"):
            assert proc.poll() is None, out.read_text(encoding="utf-8")
            assert time.monotonic() < deadline, out.read_text(encoding="utf-8")
            time.sleep(0.5)
        yield out.read_text(encoding="utf-8"), ports
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the script stops its servers and the cluster
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def test_the_demo_runs_on_the_ports_chosen(demo):
    text, (hub, one, two) = demo
    assert f"Province hub:  http://127.0.0.1:{hub}/" in text
    assert f"http://127.0.0.1:{one}/" in text and f"http://127.0.0.1:{two}/" in text
    for port in (hub, one, two):
        assert requests.get(f"http://127.0.0.1:{port}/api/health", timeout=10).status_code == 200


def test_the_demo_prints_hub_accounts_that_sign_in(demo):
    text, (hub, _, _) = demo
    found = re.search(r"^\s+province\s+(\S+)\s+password: (\S+)$", text, re.M)
    assert found, text
    s = hub_session(f"http://127.0.0.1:{hub}", found.group(1), found.group(2))
    assert s.get(f"http://127.0.0.1:{hub}/hub/api/live", timeout=10).status_code == 200
    manager = re.search(r"^\s+center tanlap\s+(\S+)\s+password: (\S+)$", text, re.M)
    assert manager, text
    mine = hub_session(f"http://127.0.0.1:{hub}", manager.group(1), manager.group(2))
    live = mine.get(f"http://127.0.0.1:{hub}/hub/api/live", timeout=10).json()
    assert [c["center"] for c in live["centers"]] == ["tanlap"]


def test_the_demo_centers_carry_their_own_names_on_the_booking_page(demo):
    _, (hub, _, _) = demo
    deadline = time.monotonic() + 60
    while True:  # until both centers' labels arrived with their first pushes
        page = requests.get(f"http://127.0.0.1:{hub}/dat-lich", timeout=10).text
        places = re.findall(r'href="\?place=(\w+)%3A([\w-]+)">([^<]+)<small>([^<]+)', page)
        if {p[0] for p in places} == {"hoabinh", "tanlap"} or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    names = {center: name for center, _, name, _ in places}
    # each center's own name, from its own config (not the province's fallback for a name two centers send)
    assert names == {"hoabinh": "Trung tâm Phục vụ hành chính công phường Hòa Bình",
                     "tanlap": "Trung tâm Phục vụ hành chính công phường Tân Lập"}, places
    sites = {site: name for _, site, _, name in places}
    assert "Tân Lập" in sites["tl-main"] and sites["tl-main"] != sites["main"], places
