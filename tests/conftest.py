"""Shared fixtures: real SQLite files, a controllable clock, and real server processes on 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
DEMO_CONFIG = ROOT / "config.toml"
PASSWORD = "correct-horse-battery"


class FakeClock:
    """A clock tests move by hand; starts on a Monday at 09:00 in Vietnam (02:00 UTC)."""

    def __init__(self, start: datetime | None = None):
        self.now = start or datetime(2026, 11, 23, 2, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def demo_config():
    from center.config.read import load_config

    return load_config(DEMO_CONFIG)


@pytest.fixture
def engine(tmp_path, demo_config, clock):
    from center.queue.engine import Engine
    from center.storage.store import Store

    events: list = []
    store = Store(tmp_path / "queue.sqlite3")
    eng = Engine(store, demo_config, clock=clock, publish=events.extend)
    eng.events = events  # type: ignore[attr-defined]
    yield eng
    store.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(db: Path, *args: str, stdin: str | None = None) -> str:
    out = subprocess.run([sys.executable, "-m", "center", "--db", str(db), *args], input=stdin, text=True,
                         capture_output=True, cwd=ROOT, check=True)
    return out.stdout


STARTED: list[Server] = []


@pytest.fixture(autouse=True)
def _stop_started_servers() -> Iterator[None]:
    """Servers a test's helpers started without a fixture of their own (tests/sync_support.py's nodes) end with
    the test: one left running keeps its sync loop going for the rest of the session."""
    yield
    while STARTED:
        STARTED.pop().stop()


@dataclass
class Server:
    """A real `python -m center serve` process."""

    db: Path
    config: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None
    log: Path | None = None
    extra: tuple[str, ...] = ()
    tokens: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Server:
        self.log = self.db.with_suffix(f".{self.port}.log")
        # A stop waits out gunicorn's graceful shutdown while a browser keeps its websocket open (10 s by
        # default): 2 s here, so each browser test does not end with 10 s of teardown; a test of the shutdown
        # itself sets its own.
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "XEPHANG_GRACEFUL_S": "2", **self.env}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "center", "--db", str(self.db), "serve", "--config", str(self.config),
             "--host", "127.0.0.1", "--port", str(self.port), *self.extra],
            cwd=ROOT, stdout=self.log.open("ab"), stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-3000:]}")
            try:
                if requests.get(self.url + "/api/health", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server did not start: {self.log.read_text()[-3000:]}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def restart(self) -> Server:
        self.stop()
        return self.start()

    def headers(self, who: str = "admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def post(self, path: str, who: str | None = "admin", **kwargs):
        headers = kwargs.pop("headers", {})
        if who:
            headers.update(self.headers(who))
        return requests.post(self.url + path, headers=headers, timeout=10, **kwargs)

    def get(self, path: str, who: str | None = "admin", **kwargs):
        headers = kwargs.pop("headers", {})
        if who:
            headers.update(self.headers(who))
        return requests.get(self.url + path, headers=headers, timeout=10, **kwargs)


def prepare_accounts(db: Path) -> dict[str, str]:
    """Users admin/manager/staff1/staff2 (password PASSWORD) and tokens for them and the demo devices."""
    from center.storage.store import Store
    from center.web.auth import Accounts

    store = Store(db)
    accounts = Accounts(store)
    tokens = {}
    for name, role in (("admin", "admin"), ("manager", "manager"), ("staff1", "staff"), ("staff2", "staff")):
        accounts.add_user(name, role, PASSWORD)
        tokens[name] = accounts.create_token(user=name)
    for device, role, site in (("main-kiosk-1", "kiosk", "main"), ("branch-kiosk-1", "kiosk", "branch"),
                               ("main-hall", "display", "main")):
        tokens[device] = accounts.create_token(device=device, role=role, site=site)
    with store.connection() as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    return tokens


@pytest.fixture(scope="session")
def accounts_template(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """One database with the test accounts, made once (password hashing is slow on purpose) and copied."""
    db = tmp_path_factory.mktemp("template") / "accounts.sqlite3"
    return db, prepare_accounts(db)


@pytest.fixture
def make_server(tmp_path, accounts_template) -> Iterator:
    """Factory for server processes on one shared database in tmp_path (call it several times)."""
    servers: list[Server] = []
    db = tmp_path / "center.sqlite3"
    shutil.copyfile(accounts_template[0], db)
    secret = accounts_template[0].with_suffix(".secret")
    if secret.exists():
        shutil.copyfile(secret, db.with_suffix(".secret"))

    def make(config: Path = DEMO_CONFIG, **kwargs) -> Server:
        server = Server(db=db, config=config, tokens=dict(accounts_template[1]), **kwargs)
        servers.append(server)
        return server.start()

    yield make
    for s in servers:
        s.stop()


def server_with_accounts(directory: Path, accounts_template, config: Path = DEMO_CONFIG) -> Server:
    """A started server on a copy of the accounts database, for module-scoped fixtures."""
    db = directory / "center.sqlite3"
    shutil.copyfile(accounts_template[0], db)
    return Server(db=db, config=config, tokens=dict(accounts_template[1])).start()


@pytest.fixture
def printer_port() -> int:
    """A free port for a fake network printer (nothing listens until a FakePrinter takes it)."""
    return free_port()


@pytest.fixture
def kiosk_server(make_server, tmp_path, printer_port) -> Server:
    """A server whose main kiosk prints to the network printer at `printer_port`."""
    from .kiosk_support import kiosk_config, network_printer

    return make_server(config=kiosk_config(tmp_path, network_printer(printer_port)))


@pytest.fixture
def server(make_server) -> Server:
    return make_server()


# Playwright drives Debian's chromium; it never downloads a browser of its own.
@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": "/usr/bin/chromium",
        "args": ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic",
                 "--autoplay-policy=no-user-gesture-required"],
    }


# ------------------------------------------------------------------------------------------------ in-process app


@dataclass
class WebClient:
    """Flask's test client on the real app, in this process: the same requests as `Server.get/post` without a
    server process (view-level tests: roles, JSON errors, pages). `who` names a token from prepare_accounts."""

    app: object
    client: object
    tokens: dict[str, str]

    def _headers(self, who: str | None, headers: dict[str, str] | None) -> dict[str, str]:
        out = dict(headers or {})
        if who:
            out["Authorization"] = f"Bearer {self.tokens[who]}"
        return out

    def get(self, path: str, who: str | None = "admin", headers: dict[str, str] | None = None, **kwargs):
        return self.client.get(path, headers=self._headers(who, headers), **kwargs)  # type: ignore[attr-defined]

    def post(self, path: str, who: str | None = "admin", headers: dict[str, str] | None = None, **kwargs):
        return self.client.post(path, headers=self._headers(who, headers), **kwargs)  # type: ignore[attr-defined]

    def sign_in(self, user: str, password: str = PASSWORD) -> str:
        """Sign in through /login (a cookie session, as a browser); returns the session's CSRF token."""
        import re

        page = self.client.get("/login").get_data(as_text=True)  # type: ignore[attr-defined]
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token, page[:500]
        r = self.client.post("/login", data={"username": user, "password": password,  # type: ignore[attr-defined]
                                             "csrf_token": token.group(1)})
        assert r.status_code == 302, r.get_data(as_text=True)[:500]
        # Signing in starts a new session (and a new CSRF token): read it from a page, as the screens do.
        page = self.client.get("/").get_data(as_text=True)  # type: ignore[attr-defined]
        token = re.search(r'name="csrf-token" content="([^"]+)"', page)
        assert token, page[:500]
        return token.group(1)


@pytest.fixture
def web_app(tmp_path, accounts_template, clock):
    """The app built by the real factory (center.app.create_app) on a copy of the accounts database, with the demo
    config and the test clock; no housekeeping thread. Flask's TESTING stays off: errors go through the app's
    own handlers, as in production."""
    from center.app import create_app

    db = tmp_path / "center.sqlite3"
    shutil.copyfile(accounts_template[0], db)
    app = create_app(str(DEMO_CONFIG), str(db), clock=clock, housekeeping=False)
    yield app
    app.extensions["xephang"].store.close()


@pytest.fixture
def web(web_app, accounts_template) -> WebClient:
    """A test client on `web_app` that knows the test accounts' tokens (`web.get(path, who="staff1")`)."""
    return WebClient(app=web_app, client=web_app.test_client(), tokens=dict(accounts_template[1]))


# ------------------------------------------------------------------------------------------------ test tiers
# `fast`: runs in this process only. A test is not fast when it (or a fixture or a tests/ helper it uses) starts a
# server or another process, or drives the browser; `make test-fast` runs the rest (pytest -m fast).

_PROCESS_WORDS = ("make_server", "server_with_accounts", "kiosk_server", "Server(", "Popen", "subprocess.",
                  "cli(", "print_agent", "playwright", "redis_server", "venv")


_BROWSER_FIXTURES = {"page", "context", "new_context", "browser", "launch_browser", "browser_type"}


def _source(obj: object) -> str:
    import inspect

    try:
        return inspect.getsource(obj)  # type: ignore[arg-type]
    except (OSError, TypeError):
        return ""


def _helpers_of(fn: object) -> list[object]:
    """Functions and classes of tests/ that `fn` names (one level: the *_support helpers)."""
    code = getattr(fn, "__code__", None)
    module = sys.modules.get(getattr(fn, "__module__", "") or "")
    if code is None or module is None:
        return []
    found = []
    for name in code.co_names:
        obj = getattr(module, name, None)
        if getattr(obj, "__module__", "").startswith("tests.") and obj is not fn:
            found.append(obj)
    return found


_seen: dict[tuple[int, int], bool] = {}


def _starts_processes(fn: object, depth: int = 2) -> bool:
    key = (id(fn), depth)
    if key not in _seen:  # each function is read once, not once per parametrized case
        _seen[key] = any(word in _source(fn) for word in _PROCESS_WORDS) or (
            depth > 0 and any(_starts_processes(h, depth - 1) for h in _helpers_of(fn)))
    return _seen[key]


def pytest_collection_modifyitems(config, items) -> None:
    for item in items:
        fn = getattr(item, "function", None)
        heavy = item.get_closest_marker("browser") is not None or (fn is not None and _starts_processes(fn))
        for defs in getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {}).values():
            for d in defs:
                module = getattr(d.func, "__module__", "") or ""
                if module.startswith("pytest_playwright") and d.argname in _BROWSER_FIXTURES:
                    item.add_marker(pytest.mark.browser)
                    heavy = True
                elif module.startswith("tests") and d.argname != "_fast_tests_start_no_server" and \
                        _starts_processes(d.func):
                    heavy = True
        item.add_marker(pytest.mark.server if heavy else pytest.mark.fast)


@pytest.fixture(autouse=True)
def _fast_tests_start_no_server(request, monkeypatch):
    """A test marked fast that starts a server or a browser anyway fails here, naming the command: the tier stays
    honest when a helper changes."""
    if request.node.get_closest_marker("fast") is None:
        return
    original = subprocess.Popen._execute_child  # type: ignore[attr-defined]

    def guarded(self, args, *rest, **kwargs):
        words = [str(a) for a in (args if isinstance(args, list | tuple) else [args])]
        if ("center" in words and "serve" in words) or any("chromium" in w or "playwright" in w for w in words):
            raise RuntimeError(f"a test of the fast tier starts {' '.join(words)[:200]}: add it to the words of "
                               "tests/conftest.py that mark a test as starting processes")
        return original(self, args, *rest, **kwargs)

    monkeypatch.setattr(subprocess.Popen, "_execute_child", guarded)
