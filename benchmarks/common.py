"""A production server process for benchmarks: `python -m center serve` on a fresh database."""

from __future__ import annotations

import heapq
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
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
        from center.storage.store import Store
        from center.web.auth import Accounts

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


class SimClock:
    """A clock moved by hand (UTC): the in-process day simulations (estimate_lab, bench_booking) give it to the
    Engine and move it from event to event."""

    def __init__(self, start: datetime):
        self.now = start.astimezone(UTC)

    def __call__(self) -> datetime:
        return self.now


def run_processes(clock: SimClock, procs: list[Iterator[datetime]]) -> None:
    """A discrete-event loop: each process is a generator yielding the (aware) moment it wants to run next; they
    run in time order (ties in list order) and the clock moves to each moment, never back."""
    heap = [(clock.now, n, p) for n, p in enumerate(procs)]
    heapq.heapify(heap)
    while heap:
        at, n, p = heapq.heappop(heap)
        clock.now = max(clock.now, at.astimezone(UTC))
        try:
            nxt = next(p)
        except StopIteration:
            continue
        heapq.heappush(heap, (nxt.astimezone(UTC), n, p))


CROWD = r"""
import asyncio, json, sys, time, socketio
url, per_auth, auths = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])

async def main():
    # One asyncio loop for the whole crowd: the load generator must not eat the CPU the server needs.
    seen, clients = [], []  # seen: (ticket id, recall, perf_counter when received)
    for auth in auths:
        for _ in range(per_auth):
            client = socketio.AsyncClient(reconnection=True)
            client.on("ticket.called", lambda data: seen.append((data["ticket"], bool(data.get("recall")),
                                                                  time.perf_counter())))
            # Each its own phone or screen: its own address, as nginx on the same host would report it (the
            # server allows at most 50 anonymous sockets per address).
            n = len(clients)
            await client.connect(url, auth=auth, transports=["websocket"], wait_timeout=20,
                                 headers={"X-Real-IP": f"10.{n // 250}.{n % 250 + 1}.1"})
            clients.append(client)
    print("connected", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    for client in clients:
        await client.disconnect()
    print(json.dumps(seen), flush=True)

asyncio.run(main())
"""


class Crowd:
    """Socket.IO clients (`per_auth` for each auth dict) in a process of their own, one asyncio loop: screens
    and phones for the server to feed, kept off the benchmark's own GIL. `stop()` returns every
    `ticket.called` they received as (ticket id, recall, time.perf_counter() at receipt): on Linux that clock
    is the system's monotonic clock, comparable with this process's."""

    def __init__(self, url: str, auths: list[dict], per_auth: int):
        self.proc = subprocess.Popen([sys.executable, "-c", CROWD, url, str(per_auth), json.dumps(auths)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        if "connected" not in self.proc.stdout.readline():
            self.proc.kill()
            raise RuntimeError("the crowd of Socket.IO clients did not connect")

    def stop(self) -> list[tuple[int, bool, float]]:
        out, _ = self.proc.communicate("\n", timeout=120)
        return [tuple(x) for x in json.loads(out)] if out.strip() else []


def open_display_page(p, server, voice: str = "auto"):
    """Debian's chromium showing the main hall display with its device token, once its socket is connected:
    (browser, page). `voice` is the page's ?voice= mode."""
    browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=[
        "--no-sandbox", "--disable-gpu", "--autoplay-policy=no-user-gesture-required"])
    page = browser.new_page(viewport={"width": 1920, "height": 1080})
    page.goto(f"{server.url}/display/main-hall?voice={voice}#token={server.tokens['display']}")
    deadline = time.monotonic() + 30
    while not page.evaluate("!!(window.xephangSocket && window.xephangSocket.connected)"):
        if time.monotonic() > deadline:
            raise RuntimeError("display did not connect")
        time.sleep(0.05)
    time.sleep(1)
    return browser, page
