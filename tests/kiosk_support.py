"""Test helpers for kiosks and printing: a fake ESC/POS network printer and a raster decoder.

FakePrinter listens on 127.0.0.1 like a printer on port 9100 and captures what it receives. Its `mode`
makes it misbehave the way real printers do:
  ok          reads everything, answers DLE EOT status queries (online, paper present)
  silent      reads everything, never answers status queries (many cheap printers)
  paper_out   answers DLE EOT with "paper end"; reads what it is sent
  paper_low   answers "paper near end"
  never_read  accepts the connection and never reads a byte (tiny receive buffer, like a hung printer)
  no_accept   a full listen backlog: connection attempts are never answered (like a host that is down)
"""

from __future__ import annotations

import contextlib
import re
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent

STATUS = {  # replies to DLE EOT 1, 2, 4
    "ok": {1: 0x12, 2: 0x12, 4: 0x12},
    "paper_out": {1: 0x1A, 2: 0x32, 4: 0x72},
    "paper_low": {1: 0x12, 2: 0x12, 4: 0x1E},
}


class FakePrinter:
    def __init__(self, mode: str = "ok", port: int = 0):
        self.mode = mode
        self.jobs: list[bytes] = []
        self.connections = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if mode == "never_read":
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
        self.sock.bind(("127.0.0.1", port))
        self.port = self.sock.getsockname()[1]
        self._held: list[socket.socket] = []
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._got = threading.Condition()
        if mode == "no_accept":
            self.sock.listen(0)
            # Fill the backlog so that further SYNs are dropped and connect() times out.
            for _ in range(4):
                c = socket.socket()
                c.setblocking(False)
                with contextlib.suppress(BlockingIOError):
                    c.connect(("127.0.0.1", self.port))
                self._held.append(c)
            time.sleep(0.2)
            return
        self.sock.listen(8)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.connections += 1
            if self.mode == "never_read":
                self._held.append(conn)
                continue
            threading.Thread(target=self._client, args=(conn,), daemon=True).start()

    def _client(self, conn: socket.socket) -> None:
        data = b""
        answered = 0
        conn.settimeout(5)
        try:
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
                if self.mode != "silent":
                    # Status queries come before the job: answer each DLE EOT n seen so far.
                    head = data.split(b"\x1b@", 1)[0]
                    queries = re.findall(rb"\x10\x04([\x01-\x04])", head)
                    for n in queries[answered:]:
                        table = STATUS.get(self.mode, STATUS["ok"])
                        conn.sendall(bytes([table.get(n[0], 0x12)]))
                    answered = len(queries)
        except OSError:
            pass
        finally:
            conn.close()
        job = data.split(b"\x1b@", 1)
        with self._got:
            if len(job) == 2:
                self.jobs.append(b"\x1b@" + job[1])
            self._got.notify_all()

    def wait_job(self, count: int = 1, timeout: float = 10) -> bytes:
        deadline = time.monotonic() + timeout
        with self._got:
            while len(self.jobs) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"the printer received {len(self.jobs)} job(s), expected {count}")
                self._got.wait(left)
            return self.jobs[count - 1]

    def close(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(2)  # accept() in progress keeps the port listening until it returns
        for s in self._held:
            s.close()
        self.sock.close()


def decode_raster(data: bytes) -> Image.Image:
    """Every `GS v 0` block of an ESC/POS job, stacked back into one Pillow image (black = 0)."""
    parts = []
    i = 0
    while True:
        i = data.find(b"\x1dv0", i)
        if i < 0:
            break
        _mode, xbytes, height = data[i + 3], *struct.unpack("<HH", data[i + 4:i + 8])
        size = xbytes * height
        raw = data[i + 8:i + 8 + size]
        assert len(raw) == size, "truncated raster block"
        # ESC/POS 1 = black; Pillow "1" 1 = white.
        parts.append(Image.frombytes("1", (xbytes * 8, height), bytes(b ^ 0xFF for b in raw)))
        i += 8 + size
    assert parts, "no GS v 0 raster in the job"
    width = parts[0].width
    out = Image.new("1", (width, sum(p.height for p in parts)), 1)
    y = 0
    for p in parts:
        out.paste(p, (0, y))
        y += p.height
    return out


def has_cut(data: bytes) -> bool:
    return b"\x1dV\x00" in data or b"\x1dV\x01" in data or b"\x1dVA" in data or b"\x1dVB" in data


def kiosk_config(tmp_path: Path, printer: str, kiosk: str = "main-kiosk-1") -> Path:
    """A copy of config.toml where `kiosk`'s printer line is replaced by `printer` (an inline TOML table)."""
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    marker = f'id = "{kiosk}"'
    start = text.index(marker)
    line_start = text.index("printer = ", start)
    line_end = text.index("\n", line_start)
    text = text[:line_start] + f"printer = {printer}" + text[line_end:]
    path = tmp_path / f"config-{kiosk}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def network_printer(port: int, **extra: object) -> str:
    opts = "".join(f", {k} = {v!r}" if isinstance(v, str) else f", {k} = {str(v).lower()}"
                   for k, v in extra.items())
    return '{ driver = "network", host = "127.0.0.1", port = ' + str(port) + opts + " }"



@contextlib.contextmanager
def print_agent(server: object, printer_port: int, log_path: Path) -> Iterator[subprocess.Popen]:
    """`python -m printer_drivers.agent` for main-kiosk-1, printing to the fake printer on `printer_port`."""
    with log_path.open("wb") as log:
        agent = subprocess.Popen(
            [sys.executable, "-m", "printer_drivers.agent", "--server", server.url,  # type: ignore[attr-defined]
             "--token", server.tokens["main-kiosk-1"],  # type: ignore[attr-defined]
             "--printer", f"network:127.0.0.1:{printer_port},paper=58,profile=POS-5890", "--wait", "2"],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        try:
            yield agent
        finally:
            agent.terminate()
            agent.wait(10)
