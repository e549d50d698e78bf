"""`make hub-demo`: the province hub on this machine, for IT to try before a real deployment (issue 16).

A throwaway PostgreSQL cluster under var/hub-pg (Debian's binaries; run as the `postgres` user when started as
root, since PostgreSQL refuses to run as root), `hub init`, hub accounts with generated passwords, the hub server on
127.0.0.1:8090, and two demo centers on 8091 and 8092 (the demo config.toml as "hoabinh", the same with its own
names and renamed sites as "tanlap"), each on its own SQLite file under var/hub-demo/, with a few weeks of
generated history joined to the hub, then serving and pushing live. Ports: HUB_PORT, HUB_CENTER1_PORT,
HUB_CENTER2_PORT; HUB_DEMO_VAR moves var/, HUB_DEMO_DAYS sets the days of history.
Everything is made fresh at each run (a center's database identity is fixed at the hub once it joined).
Ctrl+C stops everything.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from glob import glob
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
VAR = Path(os.environ.get("HUB_DEMO_VAR") or ROOT / "var")  # where the cluster and the centers' files go
PG_DIR = VAR / "hub-pg"
DEMO_DIR = VAR / "hub-demo"


def _port(name: str, default: int) -> int:
    """A port from the environment (`make hub-demo HUB_PORT=9090`), checked before anything starts."""
    raw = os.environ.get(name) or str(default)
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        sys.exit(f"{name}={raw!r}: a port number (1-65535) is required")
    return int(raw)


HUB_PORT = _port("HUB_PORT", 8090)
# (id, name in hub.toml, sites, port; the centers' own names and their sites' come from center_config)
CENTERS = (("hoabinh", "Trung tâm PVHCC phường Hòa Bình", ("main", "branch"), _port("HUB_CENTER1_PORT", 8091)),
           ("tanlap", "Trung tâm PVHCC phường Tân Lập", ("tl-main", "tl-branch"), _port("HUB_CENTER2_PORT", 8092)))
HISTORY_DAYS = int(os.environ.get("HUB_DEMO_DAYS", "21"))
# The second center's own names: a copy of the demo config.toml would name it Hòa Bình, and the hub's booking
# page would send a citizen booked at Tân Lập to Hòa Bình's address (each text the first center's, then ours).
TANLAP_NAMES = (
    ('name = "Trung tâm Phục vụ hành chính công phường Hòa Bình"',
     'name = "Trung tâm Phục vụ hành chính công phường Tân Lập"'),
    ('name_en = "Hoa Binh Ward Public Administration Service Center"',
     'name_en = "Tan Lap Ward Public Administration Service Center"'),
    ('name = "Điểm tiếp nhận số 1 – Trụ sở phường"', 'name = "Điểm tiếp nhận số 1 – Trụ sở phường Tân Lập"'),
    ('name_en = "Reception point 1 – Ward headquarters"', 'name_en = "Reception point 1 – Tan Lap ward headquarters"'),
    ('name = "Điểm tiếp nhận số 2 – Trụ sở cũ phường Tân Lập"', 'name = "Điểm tiếp nhận số 2 – Nhà văn hóa khu phố 3"'),
    ('name_en = "Reception point 2 – Former Tan Lap ward headquarters"',
     'name_en = "Reception point 2 – Quarter 3 community house"'),
    ('address = "12 Lê Lợi, phường Hòa Bình"', 'address = "8 Nguyễn Trãi, phường Tân Lập"'),
    ('address = "45 Trần Phú, phường Hòa Bình"', 'address = "21 Hùng Vương, phường Tân Lập"'),
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalPg:
    """A PostgreSQL cluster in PG_DIR on 127.0.0.1: a `xephang` role with a password over TCP, the superuser
    over a unix socket in the cluster's own directory (the same set-up as tests/pg_support.py, kept on disk)."""

    def __init__(self, root: Path) -> None:
        found = sorted(Path(p).parent for p in glob("/usr/lib/postgresql/*/bin/initdb"))
        if not found:
            sys.exit("no PostgreSQL server binaries: `sudo apt-get install postgresql` (or `make system` as root)")
        self.bindir = found[-1]
        self.root, self.data, self.socket_dir = root, root / "data", root / "s"
        self.log = root / "postgres.log"
        self.as_root = os.geteuid() == 0
        self.port = free_port()
        self.password = secrets.token_hex(12)

    def _cmd(self, *cmd: str | Path) -> list[str]:
        return [*(["runuser", "-u", "postgres", "--"] if self.as_root else []), *map(str, cmd)]

    def _run(self, *cmd: str | Path, stdin: str | None = None) -> None:
        out = subprocess.run(self._cmd(*cmd), input=stdin, capture_output=True, text=True, check=False, cwd=self.root)
        if out.returncode:
            sys.exit(f"{' '.join(map(str, cmd))} failed:\n{out.stdout}{out.stderr}")

    def init(self) -> None:
        self.stop_leftover()
        shutil.rmtree(self.root, ignore_errors=True)
        self.socket_dir.mkdir(parents=True, mode=0o700)
        self.root.chmod(0o700)
        if self.as_root:
            pwd.getpwnam("postgres")  # Debian's package makes this user
            for p in (self.root, self.socket_dir):
                shutil.chown(p, "postgres", "postgres")
        self._run(self.bindir / "initdb", "-D", self.data, "-U", "postgres", "-E", "UTF8", "--locale=C.UTF-8",
                  "--auth-local=trust", "--auth-host=scram-sha-256")
        with open(self.data / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write(f"\nlisten_addresses = '127.0.0.1'\nport = {self.port}\n"
                       f"unix_socket_directories = '{self.socket_dir}'\n")
        self._run(self.bindir / "pg_ctl", "-D", self.data, "-l", self.log, "-w", "start")
        psql = ("psql", "-h", self.socket_dir, "-p", str(self.port), "-U", "postgres", "-d", "postgres", "-q",
                "-v", "ON_ERROR_STOP=1")
        self._run(*psql, stdin=f"CREATE ROLE xephang LOGIN PASSWORD '{self.password}';\n"
                               "CREATE DATABASE xephang OWNER xephang;\n")

    @property
    def dsn(self) -> str:
        return f"host=127.0.0.1 port={self.port} dbname=xephang user=xephang password={self.password}"

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            subprocess.run(self._cmd(self.bindir / "pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop"),
                           capture_output=True, check=False)

    def stop_leftover(self) -> None:
        """A cluster left running by an earlier demo that was killed (not Ctrl+C'd)."""
        if (self.data / "postmaster.pid").exists():
            self.stop()


def center_config(center: str, sites: tuple[str, ...]) -> Path:
    """The demo config.toml with a [hub]; the second center with its own names, and its sites, counters and
    devices renamed."""
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    if sites[0] != "main":
        text = text.replace('"main', '"tl-main').replace('"branch', '"tl-branch')
        for ours, theirs in TANLAP_NAMES:
            if ours not in text:
                sys.exit(f"config.toml changed: {ours!r} is not in it (update TANLAP_NAMES in {__file__})")
            text = text.replace(ours, theirs)
    path = DEMO_DIR / f"{center}.toml"
    path.write_text(text + f'\n[hub]\nurl = "http://127.0.0.1:{HUB_PORT}"\ncenter = "{center}"\n', encoding="utf-8")
    return path


def xephang(*args: str | Path, stdin: str | None = None) -> str:
    out = subprocess.run([sys.executable, "-m", "center", *map(str, args)], input=stdin, capture_output=True,
                         text=True, check=False, cwd=ROOT)
    if out.returncode:
        sys.exit(f"xephang {' '.join(map(str, args))} failed:\n{out.stdout}{out.stderr}")
    return out.stdout


def hub_accounts(hub_toml: Path) -> str:
    """A province account and one manager per center, with generated passwords (shown once, as `make run`
    shows the center's): what `hub user add` makes for a real province (docs/federation.md, "Hub accounts")."""
    from center.web.auth import generate_password

    lines = ["Hub accounts (generated now, shown once):"]
    for name, role, center in (("tinh", "province", None), *((f"{c}-quanly", "center", c) for c, *_ in CENTERS)):
        password = generate_password()
        xephang("hub", "user", "add", name, "--role", role, *(["--center", center] if center else []),
                "--password-stdin", "--config", hub_toml, stdin=password + "\n")
        lines.append(f"  {role + (' ' + center if center else ''):16} {name:16} password: {password}")
    return "\n".join(lines)


def wait_up(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"{url} exited:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(url + "/api/health", timeout=1).status_code == 200:
                return
        time.sleep(0.2)
    sys.exit(f"{url} did not start:\n{log.read_text()[-3000:]}")


def spawn(args: list[str | Path], log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "center", *map(str, args)], cwd=ROOT, stdout=log.open("ab"),
                            stderr=subprocess.STDOUT, start_new_session=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM (a service manager, `kill`) cleans up as Ctrl+C does


def check_ports() -> None:
    """Each chosen port distinct and free, said before anything starts (not as a server's log line later)."""
    ports = [HUB_PORT, *(c[3] for c in CENTERS)]
    if len(set(ports)) != len(ports):
        sys.exit(f"the ports must differ: hub {HUB_PORT}, centers {', '.join(str(c[3]) for c in CENTERS)}")
    for name, port in zip(("HUB_PORT", "HUB_CENTER1_PORT", "HUB_CENTER2_PORT"), ports, strict=True):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                sys.exit(f"port {port} is in use: choose another, e.g. `make hub-demo {name}={port + 100}`")


def main() -> int:
    signal.signal(signal.SIGTERM, _interrupt)
    check_ports()
    pg = LocalPg(PG_DIR)
    procs: list[subprocess.Popen] = []
    try:
        print(f"PostgreSQL cluster in {PG_DIR} …")
        pg.init()
        shutil.rmtree(DEMO_DIR, ignore_errors=True)
        DEMO_DIR.mkdir(parents=True)
        hub_toml = DEMO_DIR / "hub.toml"
        centers = "".join(f'\n[[centers]]\nid = "{c}"\nname = "{name}"\nsites = {json.dumps(list(sites))}\n'
                          for c, name, sites, _ in CENTERS)
        hub_toml.write_text('[hub]\nname = "Tỉnh Thử Nghiệm"\nname_en = "Demo Province"\n'
                            f'dsn = "{pg.dsn}"\n{centers}', encoding="utf-8")
        hub_toml.chmod(0o600)  # the DSN has the password
        print(xephang("hub", "init", "--config", hub_toml).strip())
        hub_creds = hub_accounts(hub_toml)
        hub_log = DEMO_DIR / "hub.log"
        procs.append(spawn(["hub", "serve", "--config", hub_toml, "--port", str(HUB_PORT), "--workers", "2"], hub_log))
        wait_up(f"http://127.0.0.1:{HUB_PORT}", procs[-1], hub_log)
        credentials = []
        for center, name, sites, port in CENTERS:
            cfg = center_config(center, sites)
            db = DEMO_DIR / f"{center}.sqlite3"
            base = f"http://127.0.0.1:{port}"
            credentials.append((name, base, xephang("--db", db, "demo-init", "--config", cfg, "--base-url", base)))
            print(f"{center}: {HISTORY_DAYS} days of history …", flush=True)
            xephang("--db", db, "generate-history", "--config", cfg, "--days", str(HISTORY_DAYS), "--quiet")
            token = xephang("hub", "token", center, "--config", hub_toml).strip().splitlines()[-1]
            print(xephang("--db", db, "sync", "join", "--config", cfg, stdin=token + "\n").strip())
            log = DEMO_DIR / f"{center}.log"
            procs.append(spawn(["--db", db, "serve", "--config", cfg, "--host", "127.0.0.1", "--port", str(port)], log))
            wait_up(base, procs[-1], log)
        print("\n" + "=" * 100)
        print(f"Province hub:  http://127.0.0.1:{HUB_PORT}/   (config {hub_toml}, log {hub_log})")
        print(f"Booking page:  http://127.0.0.1:{HUB_PORT}/dat-lich")
        print(hub_creds)
        print(f"PostgreSQL:    {pg.dsn}")
        print(f"               superuser: psql -h {pg.socket_dir} -p {pg.port} -U postgres xephang")
        for name, base, creds in credentials:
            print(f"\n{name}: {base}/\n{creds.rstrip()}")
        print(f"\nCenters push their history, then each new record within a second. Watch: python -m center hub list "
              f"--config {hub_toml}\nCtrl+C stops everything.")
        while all(p.poll() is None for p in procs):
            time.sleep(1)
        print("a server exited; see the logs in", DEMO_DIR)
        return 1
    except KeyboardInterrupt:
        print("\nstopping …")
        return 0
    finally:
        for p in reversed(procs):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
        pg.stop()


if __name__ == "__main__":
    sys.exit(main())
