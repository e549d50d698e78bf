"""A real PostgreSQL server for the province hub's tests (issue 16): Debian's own binaries, a throwaway cluster.

The hub's guarantees (a committed batch survives a crash, a restart, a killed server) can only be tested on the
database that will run them, so nothing here is mocked or run with fsync off. One cluster per pytest session
(initdb and a start take about a second); each test module takes a fresh database in it with
`pg.new_database(name)` or the `pg_db` fixture.

    from tests.pg_support import pg  # noqa: F401  (the fixture)

    def test_x(pg):
        with psycopg.connect(pg.dsn) as conn: ...
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from glob import glob
from pathlib import Path

import psutil
import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from tests.conftest import free_port

PG_GLOB = "/usr/lib/postgresql/*/bin/postgres"
SERVER_USER = "postgres"  # the system user of Debian's package: PostgreSQL refuses to run as root
SUPERUSER = "postgres"  # the cluster's superuser, over the unix socket only (trust, in a private directory)
ROLE = "xephang"  # what the hub connects as: a plain role with a password, over TCP (scram-sha-256)
DATABASE = "xephang"
SETTINGS = {  # fsync, synchronous_commit and full_page_writes stay on: the tests check real durability
    "listen_addresses": "'127.0.0.1'",
    "shared_buffers": "128MB",
    "max_connections": "200",
    "logging_collector": "off",  # the server's messages go to postgres.log (pg_ctl -l), quoted when a start fails
}


class PgError(RuntimeError):
    """The test cluster could not be set up or started; the message says why and what to install."""


def find_bindir() -> Path:
    """The newest installed PostgreSQL's bin directory (Debian installs each major version side by side)."""
    found = [Path(p).parent for p in glob(PG_GLOB)]
    found = [d for d in found if (d / "initdb").exists() and (d / "pg_ctl").exists()]
    if not found:
        raise PgError(f"no PostgreSQL server binaries ({PG_GLOB} with initdb and pg_ctl): the province hub's tests "
                      "need a real server. Install Debian's package: `sudo apt-get install postgresql` "
                      "(or `make system` as root); the client alone (psql) is not enough.")

    def version(d: Path) -> tuple[int, ...]:
        return tuple(int(n) for n in re.findall(r"\d+", d.parent.name)) or (0,)

    return max(found, key=version)


class PgCluster:
    """A PostgreSQL cluster in a temporary directory, on 127.0.0.1 and a free port, run by the unprivileged
    `postgres` user when the tests run as root (as in CI), else by the current user."""

    def __init__(self, bindir: Path | None = None) -> None:
        self.bindir = bindir or find_bindir()
        self.as_root = os.geteuid() == 0
        if self.as_root:
            try:
                pwd.getpwnam(SERVER_USER)
            except KeyError:
                raise PgError(f"running as root, but there is no `{SERVER_USER}` system user to run PostgreSQL "
                              "as (Debian's postgresql package creates it)") from None
            if shutil.which("runuser") is None:
                raise PgError("running as root, but `runuser` (util-linux) is missing to run PostgreSQL as "
                              f"`{SERVER_USER}`")
        self.root = Path(tempfile.mkdtemp(prefix="xephang-pg-"))
        self.data = self.root / "data"
        self.socket_dir = self.root / "s"  # short: a unix socket path has a 107-byte limit
        self.log = self.root / "postgres.log"
        self.host = "127.0.0.1"
        self.port = free_port()
        self.user = ROLE
        self.password = secrets.token_hex(18)
        self.dbname = DATABASE
        self.running = False

    # ---------------------------------------------------------------------------------------------- set-up
    def _as_server(self, *cmd: str | Path) -> list[str]:
        prefix = ["runuser", "-u", SERVER_USER, "--"] if self.as_root else []
        return [*prefix, *(str(c) for c in cmd)]

    def _run(self, *cmd: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        out = subprocess.run(self._as_server(*cmd), cwd=self.root, capture_output=True, text=True, timeout=timeout,
                             check=False)
        if out.returncode != 0:
            raise PgError(f"{' '.join(map(str, cmd))} failed ({out.returncode}):\n{out.stdout[-2000:]}"
                          f"{out.stderr[-2000:]}\n{self.log_tail()}")
        return out

    def _own(self, path: Path) -> None:
        """Give a file or directory we created to the server user (PostgreSQL checks its data dir's owner)."""
        if self.as_root:
            shutil.chown(path, SERVER_USER, SERVER_USER)

    def init(self) -> PgCluster:
        """initdb, then start, then the role and database the tests connect with; on failure, nothing is left."""
        try:
            self._init()
        except BaseException:
            self.close()
            raise
        return self

    def _init(self) -> None:
        self.root.chmod(0o700)
        self.socket_dir.mkdir(mode=0o700)
        self._own(self.root)
        self._own(self.socket_dir)
        if self.as_root:
            probe = subprocess.run(self._as_server("test", "-w", self.root), capture_output=True, check=False)
            if probe.returncode != 0:
                raise PgError(f"the `{SERVER_USER}` user cannot reach {self.root}: set TMPDIR to a directory "
                              "every user can traverse (such as /tmp)")
        self._run(self.bindir / "initdb", "-D", self.data, "-U", SUPERUSER, "-E", "UTF8", "--locale=C.UTF-8",
                  "--auth-local=trust", "--auth-host=scram-sha-256")
        with open(self.data / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write("\ninclude 'xephang.conf'  # written by tests/pg_support.py\n")
        for attempt in range(3):  # the free port can be taken between free_port() and the server binding it
            self._write_settings()
            try:
                self.start()
                break
            except PgError:
                if attempt == 2 or "could not create any TCP/IP sockets" not in self.log_tail():
                    raise
                self.port = free_port()
        with self.admin() as conn:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(self.user), sql.Literal(self.password)))
        self.new_database(self.dbname)

    def _write_settings(self) -> None:
        settings = {**SETTINGS, "port": str(self.port), "unix_socket_directories": f"'{self.socket_dir}'"}
        path = self.data / "xephang.conf"
        path.write_text("".join(f"{k} = {v}\n" for k, v in settings.items()), encoding="utf-8")
        self._own(path)

    # ---------------------------------------------------------------------------------------------- connecting
    @property
    def dsn(self) -> str:
        """The libpq connection string of the tests' database: TCP and a password, as the hub will connect."""
        return self.dsn_for(self.dbname)

    def dsn_for(self, dbname: str) -> str:
        return make_conninfo(host=self.host, port=self.port, dbname=dbname, user=self.user, password=self.password)

    @property
    def admin_dsn(self) -> str:
        """The superuser over the unix socket: to create databases, watch or terminate backends."""
        return make_conninfo(host=str(self.socket_dir), port=self.port, dbname="postgres", user=SUPERUSER)

    def admin(self) -> psycopg.Connection:
        return psycopg.connect(self.admin_dsn, autocommit=True)

    def new_database(self, name: str) -> str:
        """A fresh, empty database owned by the tests' role (dropped first if an earlier module left one); its dsn."""
        with self.admin() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(self.user)))
        return self.dsn_for(name)

    # ---------------------------------------------------------------------------------------------- life cycle
    def start(self) -> None:
        """Start and wait until it accepts connections (after kill(), that includes crash recovery)."""
        self._run(self.bindir / "pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t", "60", "start")
        self.running = True

    def stop(self, mode: str = "fast") -> None:
        """A clean shutdown: `fast` rolls back open transactions; `smart` waits for clients to disconnect."""
        if self.running:
            self._run(self.bindir / "pg_ctl", "-D", self.data, "-m", mode, "-w", "-t", "60", "stop")
            self.running = False

    def restart(self) -> None:
        """A clean stop and start, as for an upgrade or a reboot; the dsn stays valid (same port and password)."""
        self.stop()
        self.start()

    def postmaster_pid(self) -> int:
        return int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])

    def kill(self, timeout: float = 30) -> None:
        """SIGKILL the postmaster, as the OOM killer or a crash would: no checkpoint, no clean shutdown; start()
        then runs crash recovery. Waits for its backends to notice and exit, so start() finds no old shared memory."""
        postmaster = psutil.Process(self.postmaster_pid())
        children = postmaster.children(recursive=True)
        postmaster.send_signal(signal.SIGKILL)
        alive = _wait_dead([postmaster, *children], timeout)
        for proc in alive:  # a backend stuck past the timeout: it would keep the old shared memory in use
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
        if stuck := _wait_dead(alive, 10):
            raise PgError(f"processes of the killed server are still running: {[p.pid for p in stuck]}")
        zombie = False
        with contextlib.suppress(psutil.NoSuchProcess):
            zombie = postmaster.status() == psutil.STATUS_ZOMBIE
        if zombie:
            # Dead, but a zombie when nobody reaps it (pytest as PID 1 of a container): PostgreSQL would take the
            # zombie's pid in its lock files for a running server and refuse to start. After a real crash no such
            # process exists, so removing them changes nothing else.
            socket = self.socket_dir / f".s.PGSQL.{self.port}"
            for lock in (self.data / "postmaster.pid", socket.with_name(socket.name + ".lock"), socket):
                lock.unlink(missing_ok=True)
        self.running = False

    def close(self) -> None:
        """Stop the server (killing it if a clean stop fails) and remove the directory."""
        try:
            self.stop(mode="immediate")
        except (PgError, subprocess.TimeoutExpired):
            if (self.data / "postmaster.pid").exists():
                with contextlib.suppress(psutil.Error, ValueError, OSError):
                    self.kill()
        shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")[-chars:]
        except OSError:
            return ""


def _gone_or_zombie(proc: psutil.Process) -> bool:
    try:
        return proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _wait_dead(procs: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Wait for processes that are not our children (psutil's wait_procs would take a zombie for alive)."""
    deadline = time.monotonic() + timeout
    alive = list(procs)
    while alive and time.monotonic() < deadline:
        alive = [p for p in alive if not _gone_or_zombie(p)]
        if alive:
            time.sleep(0.02)
    return [p for p in alive if not _gone_or_zombie(p)]


@pytest.fixture(scope="session")
def pg() -> Iterator[PgCluster]:
    """The session's PostgreSQL server. Fails (never skips) when PostgreSQL is not installed: a hub test that
    silently does not run would pass the suite with the hub untested."""
    cluster, error = None, ""
    try:
        cluster = PgCluster().init()
    except PgError as e:
        error = str(e)  # failed outside the except: one clear message, not two chained tracebacks
    if cluster is None:
        pytest.fail(f"the test PostgreSQL server could not start: {error}", pytrace=False)
    yield cluster
    cluster.close()


@pytest.fixture(scope="module")
def pg_db(pg: PgCluster, request: pytest.FixtureRequest) -> str:
    """A fresh database for this test module, named after it; its dsn."""
    return pg.new_database(request.module.__name__.rsplit(".", 1)[-1])
