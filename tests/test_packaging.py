"""Installs as a center and a kiosk PC get them: from the offline bundle (`make bundle`), into fresh virtual
environments (no system site-packages), with pip's index switched off. The server from the bundle checks a
config and serves the screens with their front-end files and font; the print agent installed alone (no
Flask, no gunicorn, no server code) prints a real server's ticket on a fake network printer.

Building the bundle downloads the locked wheels from PyPI (or takes them from pip's cache); installing
from it reads nothing but the bundle.
"""

from __future__ import annotations

import os
import re
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


# Paths of the bundle's install steps, moved under a temporary root: the steps run as they are written, as root
# would run them, but in a folder of the test's own (no system user, no systemd: their lines are checked instead).
SYSTEM_PATHS = ("/opt/xephang", "/etc/xephang", "/var/lib/xephang", "/var/backups/xephang", "/etc/systemd/system")


def install_steps(bundle: Path) -> list[str]:
    """The shell lines of INSTALL.md's code block, continuation lines joined."""
    text = (bundle / "INSTALL.md").read_text(encoding="utf-8")
    block = text.split("```sh\n", 1)[1].split("```", 1)[0]
    return [line.strip() for line in block.replace("\\\n", " ").splitlines() if line.strip()]


def moved(text: str, root: Path, port: int) -> str:
    for path in SYSTEM_PATHS:
        text = text.replace(path, str(root) + path)
    return text.replace("8080", str(port))


def test_every_file_the_bundles_install_steps_and_docs_name_is_in_the_bundle(bundle):
    named = set()
    for doc in ("INSTALL.md", "README.md", "docs/deploy.md"):
        named |= set(re.findall(r"(?<![\w/.])((?:deploy|docs)/[\w.@-]+\.\w+)", (bundle / doc).read_text("utf-8")))
    named |= {"deploy/xephang.service", "deploy/xephang-backup.service", "deploy/xephang-backup.timer",
              "deploy/nginx.conf", "deploy/node.toml", "docs/deploy.md", "docs/federation.md"}
    missing = sorted(p for p in named if not (bundle / p).is_file())
    assert not missing, missing
    for step in install_steps(bundle):  # every relative file a step copies or runs (systemctl names units)
        for word in ([] if "systemctl" in step else step.split()):
            if re.fullmatch(r"(\./)?[\w-]+(/[\w.@-]+)*\.(sh|service|timer|toml|conf|lock)", word):
                assert (bundle / word).exists(), (word, step)


def test_the_bundles_units_and_timer_are_valid_systemd_files(bundle, tmp_path):
    import configparser
    import shutil

    units = [bundle / "deploy" / n for n in ("xephang.service", "xephang-backup.service", "xephang-backup.timer")]
    for unit in units:
        ini = configparser.ConfigParser(strict=False, interpolation=None)
        ini.optionxform = str  # type: ignore[assignment, method-assign]
        ini.read_string(unit.read_text(encoding="utf-8"))
        assert "Unit" in ini and ini["Unit"].get("Description"), unit
        if unit.suffix == ".service":
            assert ini["Service"].get("ExecStart"), unit
        if unit.name != "xephang-backup.service":  # started by its timer; the others by `systemctl enable`
            assert ini["Install"].get("WantedBy"), unit
    timer = units[2].read_text(encoding="utf-8")
    assert "OnCalendar=" in timer and (bundle / "deploy/xephang-backup.service").exists()
    analyze = shutil.which("systemd-analyze")
    if analyze:  # the installed paths exist under tmp_path: verify then checks every ExecStart's program too
        venv = tmp_path / "opt/xephang/.venv"
        venv.parent.mkdir(parents=True)
        install(bundle, venv, "server")
        for unit in units:
            (tmp_path / unit.name).write_text(moved(unit.read_text(encoding="utf-8"), tmp_path, 8080).replace(
                "User=xephang", "User=root").replace("Group=xephang", "Group=root"), encoding="utf-8")
        out = subprocess.run([analyze, "verify", *(str(tmp_path / u.name) for u in units)], capture_output=True,
                             text=True, timeout=120)
        assert out.returncode == 0 and "xephang" not in out.stdout + out.stderr, out.stdout + out.stderr


def test_the_bundles_install_steps_reach_a_running_server_with_its_backup(bundle, tmp_path):
    """INSTALL.md's steps, line by line, under tmp_path; then the commands of the installed unit files (what
    systemd runs after `enable --now`): check-config, serve, and one run of the backup service."""
    port = free_port()
    env = offline_env()
    ran = []
    for step in install_steps(bundle):
        if step.startswith(("sudo adduser", "sudo systemctl", "sudo chown")):
            continue  # a system user and systemd: checked by the unit tests above; root owns everything here
        command = moved(step, tmp_path, port).replace("sudo -u xephang ", "").replace("sudo ", "")
        if command.startswith("cd "):
            continue  # the steps run in the bundle's folder (cwd below)
        if command.startswith("curl"):
            break  # after the service starts (below)
        for path in SYSTEM_PATHS[:2] + SYSTEM_PATHS[4:]:
            (tmp_path / path.lstrip("/")).mkdir(parents=True, exist_ok=True)
        (tmp_path / "var/lib/xephang").mkdir(parents=True, exist_ok=True)  # StateDirectory= in the unit
        out = subprocess.run(["bash", "-ec", command], cwd=bundle, env=env, capture_output=True, text=True,
                             timeout=600)
        assert out.returncode == 0, (command, out.stdout[-2000:], out.stderr[-2000:])
        ran.append((command, out.stdout))
    token_out = next(o for c, o in ran if " token create " in c)
    assert "http://192.168.1.10/kiosk/main-kiosk-1#token=xh_" in token_out
    systemd = tmp_path / "etc/systemd/system"
    assert {p.name for p in systemd.iterdir()} >= {"xephang.service", "xephang-backup.service",
                                                   "xephang-backup.timer"}

    def commands(unit: Path, key: str) -> list[str]:
        text = moved(unit.read_text(encoding="utf-8").replace("\\\n", " "), tmp_path, port)
        return [line.split("=", 1)[1] for line in text.splitlines() if line.startswith(key + "=")]

    service = systemd / "xephang.service"
    for pre in commands(service, "ExecStartPre"):
        out = subprocess.run(pre.split(), cwd=tmp_path / "opt/xephang", env=env, capture_output=True, text=True,
                             timeout=120)
        assert out.returncode == 0, (pre, out.stdout, out.stderr)
    (start,) = commands(service, "ExecStart")
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(start.split(), cwd=tmp_path / "opt/xephang", stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True, env=env)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(url + "/api/health", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "serve.log").read_text()[-3000:]
            time.sleep(0.2)
        assert "Đăng nhập" in requests.get(url + "/login", timeout=10).text
        (backup,) = commands(systemd / "xephang-backup.service", "ExecStart")
        out = subprocess.run(backup.split(), cwd=tmp_path / "opt/xephang", env=env, capture_output=True, text=True,
                             timeout=120)
        assert out.returncode == 0 and "integrity ok" in out.stdout, out.stdout + out.stderr
        assert list((tmp_path / "var/backups/xephang").glob("xephang-*.sqlite3"))
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(20)
        log.close()
