"""`make run` on a port already in use: it stops before the demo database is wiped or credentials are printed,
and says which process holds the port."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


@pytest.fixture
def holder():
    """Another program listening on a port of its own: the one make run is asked to use."""
    code = ("import socket, sys, time\ns = socket.socket()\ns.bind(('127.0.0.1', 0))\ns.listen()\n"
            "print(s.getsockname()[1], flush=True)\ntime.sleep(120)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    port = int(proc.stdout.readline())
    yield proc, port
    proc.kill()
    proc.wait(10)


@pytest.mark.skipif(not shutil.which("make"), reason="needs make")
def test_make_run_on_a_taken_port_keeps_the_demo_database_and_names_the_holder(holder, tmp_path):
    proc, port = holder
    demo = tmp_path / "demo.sqlite3"
    demo.write_bytes(b"yesterday's demo")
    # The environment is set up already (.venv, vendor files): -o keeps make from redoing it.
    out = subprocess.run(["make", "-o", ".venv/.stamp", "-o", "center/static/vendor/.stamp", "run", f"PORT={port}",
                          f"DEMO_DB={demo}"], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "MAKEFLAGS": ""})
    text = out.stdout + out.stderr
    assert out.returncode != 0, text
    assert demo.read_bytes() == b"yesterday's demo", "the demo database was touched"
    assert "Demo credentials" not in text and "password:" not in text
    assert f"Cổng {port} đang được dùng" in text and f"pid {proc.pid}" in text, text
    assert f"make run PORT={port + 1}" in text


def test_a_free_port_passes_the_check(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = subprocess.run([sys.executable, "scripts/check_port.py", str(port)], cwd=ROOT, capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0 and out.stderr == "", out.stderr
