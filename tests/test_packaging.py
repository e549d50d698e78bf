"""Installs as a center and a kiosk PC get them: from the offline bundle (`make bundle`), into fresh virtual
environments (no system site-packages), with pip's index switched off. The server from the bundle checks a
config and serves the screens with their front-end files and font; the print agent installed alone (no
Flask, no gunicorn, no server code) prints a real server's ticket on a fake network printer.

Building the bundle downloads the locked wheels from PyPI (or takes them from pip's cache); installing
from it reads nothing but the bundle.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tarfile
import time
import uuid
from pathlib import Path

import pytest
import requests

from tests.conftest import ROOT, Server, free_port
from tests.kiosk_support import FakePrinter, decode_raster, kiosk_config

pytestmark = pytest.mark.slow


def offline_env() -> dict[str, str]:
    """The environment without any pip setting of this machine (find-links, extra indexes): only the bundle."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PYTHON", "VIRTUAL_ENV"))}
    return {**env, "PIP_CONFIG_FILE": os.devnull, "PIP_NO_INDEX": "1", "PYTHON": sys.executable}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    """`scripts/make_bundle.py` (what `make bundle` runs), unpacked: the folder a USB stick would carry."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "scripts/make_bundle.py", "--out", str(out)], cwd=ROOT, check=True,
                   capture_output=True, timeout=900)
    (archive,) = out.glob("xephang-bundle-*.tar.gz")
    with tarfile.open(archive) as tar:
        tar.extractall(out / "unpacked", filter="data")
    (folder,) = (out / "unpacked").iterdir()
    return folder


def install(bundle: Path, dest: Path, what: str) -> None:
    out = subprocess.run([str(bundle / "install.sh"), str(dest), what], env=offline_env(), cwd=dest.parent,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]


def importable(python: Path, module: str) -> bool:
    out = subprocess.run([str(python), "-c", f"import {module}"], capture_output=True, cwd=python.parent)
    return out.returncode == 0


def test_bundle_holds_every_wheel_the_front_end_files_and_the_font(bundle):
    wheels = {p.name.split("-")[0].lower() for p in (bundle / "wheels").glob("*.whl")}
    assert {"xephang", "xephang_agent", "flask", "gevent", "gunicorn", "pillow", "redis"} <= wheels
    assert not list((bundle / "wheels").glob("*.tar.gz")), "only wheels: nothing to build on the center's server"
    assert (bundle / "assets/vendor/socket.io.min.js").stat().st_size > 10_000
    assert (bundle / "assets/vendor/chart.umd.min.js").stat().st_size > 10_000
    assert (bundle / "assets/fonts/NotoSans[wdth,wght].ttf").stat().st_size > 100_000
    assert (bundle / "requirements.lock").read_text() == (ROOT / "requirements.lock").read_text()


def test_a_center_installs_from_the_bundle_offline_then_checks_its_config_and_serves(bundle, tmp_path):
    venv = tmp_path / "xephang"
    install(bundle, venv, "server")
    work = tmp_path / "center"
    work.mkdir()
    check = subprocess.run([str(venv / "bin/xephang"), "check-config", str(bundle / "config.toml")], cwd=work,
                           capture_output=True, text=True, timeout=120)
    assert check.returncode == 0 and "OK" in check.stdout, check.stdout + check.stderr
    # The installed package, not this checkout, is what runs (the folder has no center/ beside it).
    where = subprocess.run([str(venv / "bin/python"), "-c", "import center; print(center.__file__)"], cwd=work,
                           capture_output=True, text=True, check=True).stdout
    assert str(venv) in where, where
    # Every package of this checkout is in the wheel (a new folder or sub-package not packaged fails here).
    folders = [p.parent.relative_to(ROOT).parts for p in ROOT.glob("*/**/__init__.py")]
    packages = sorted(".".join(parts) for parts in folders if all(part.isidentifier() for part in parts)
                      and parts[0] not in ("tests", "benchmarks", "build", "node_modules"))
    missing = subprocess.run([str(venv / "bin/python"), "-c", "import importlib.util, sys; print([m for m in "
                              "sys.argv[1:] if importlib.util.find_spec(m) is None])", *packages],
                             cwd=work, capture_output=True, text=True, check=True).stdout.strip()
    assert "center" in packages and missing == "[]", missing

    port = free_port()
    log = (work / "serve.log").open("wb")
    proc = subprocess.Popen([str(venv / "bin/xephang"), "--db", str(work / "x.sqlite3"), "serve", "--config",
                             str(bundle / "config.toml"), "--host", "127.0.0.1", "--port", str(port)],
                            cwd=work, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                            env=offline_env())
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(url + "/api/health", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, (work / "serve.log").read_text()[-3000:]
            time.sleep(0.2)
        login = requests.get(url + "/login", timeout=10)
        assert login.status_code == 200 and "Đăng nhập" in login.text
        for path in ("/static/vendor/socket.io.min.js", "/static/vendor/chart.umd.min.js",
                     "/fonts/NotoSans%5Bwdth,wght%5D.ttf", "/kiosk/static/kiosk/kiosk.js"):
            assert requests.get(url + path, timeout=10).status_code == 200, path
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(20)
        log.close()


def test_the_print_agent_installs_alone_and_prints_a_real_servers_ticket(bundle, make_server, tmp_path):
    venv = tmp_path / "agent"
    install(bundle, venv, "agent")
    python = venv / "bin/python"
    assert importable(python, "printer_drivers.agent")
    for server_only in ("center", "flask", "gunicorn", "gevent", "redis"):
        assert not importable(python, server_only), f"{server_only} was installed with the agent"

    printer = FakePrinter("ok")
    srv: Server = make_server(config=kiosk_config(tmp_path, '{ driver = "agent" }'))
    work = tmp_path / "kiosk-pc"
    work.mkdir()
    with (work / "agent.log").open("wb") as log:
        agent = subprocess.Popen([str(venv / "bin/xephang-agent"), "--server", srv.url, "--token",
                                  srv.tokens["main-kiosk-1"], "--printer",
                                  f"network:127.0.0.1:{printer.port},paper=58,profile=POS-5890", "--wait", "2"],
                                 cwd=work, stdout=log, stderr=subprocess.STDOUT, env=offline_env())
        try:
            deadline = time.monotonic() + 30
            while True:  # the agent connects within a poll or two; a ticket issued before is reported offline
                body = srv.post("/kiosk/main-kiosk-1/issue", who="main-kiosk-1", headers={"Accept": "application/json"},
                                json={"service": "CT", "request_id": str(uuid.uuid4())}).json()
                if body["print"]["ok"] or time.monotonic() > deadline:
                    break
                time.sleep(1)
            assert body["print"]["ok"] is True and body["print"]["status"] == "printed", \
                (body, (work / "agent.log").read_text()[-2000:])
            assert decode_raster(printer.wait_job(1)).width == 384  # rendered by the agent for its 58 mm printer
        finally:
            agent.terminate()
            agent.wait(10)
            printer.close()
