"""A production server process for benchmarks: `python -m center serve` on a fresh database."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "config.toml"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class BenchServer:
    """Starts the production server command; tokens for an admin, staff and the demo kiosk and display."""

    def __init__(self, config: Path = CONFIG, workers: int = 1, extra: tuple[str, ...] = ()):
        from center.auth import Accounts
        from center.store import Store

        self.dir = Path(tempfile.mkdtemp(prefix="xephang-bench-"))
        self.db = self.dir / "bench.sqlite3"
        self.port = free_port()
        store = Store(self.db)
        accounts = Accounts(store)
        self.tokens = {}
        for name, role in (("admin", "admin"), ("staff1", "staff"), ("staff2", "staff")):
            accounts.add_user(name, role, "bench-password-123")
            self.tokens[name] = accounts.create_token(user=name)
        self.tokens["kiosk"] = accounts.create_token(device="main-kiosk-1", role="kiosk", site="main")
        self.tokens["display"] = accounts.create_token(device="main-hall", role="display", site="main")
        store.close()
        self.log = (self.dir / "server.log").open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "center", "--db", str(self.db), "serve", "--config", str(config), "--host",
             "127.0.0.1", "--port", str(self.port), "--workers", str(workers), *extra],
            cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(self.url + "/api/health", timeout=1).ok:
                    return
            except requests.RequestException:
                time.sleep(0.1)
        raise RuntimeError("bench server did not start")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def rss_mb(self) -> float:
        import psutil

        proc = psutil.Process(self.proc.pid)
        procs = [proc, *proc.children(recursive=True)]
        return sum(p.memory_info().rss for p in procs) / 2**20

    def worker_rss_mb(self) -> float:
        import psutil

        children = psutil.Process(self.proc.pid).children(recursive=True)
        return max((p.memory_info().rss for p in children), default=0) / 2**20

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)
