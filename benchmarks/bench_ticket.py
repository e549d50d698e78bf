"""Ticket printing benchmarks: render + ESC/POS encode per ticket, and tap → ticket on screen.

- render_encode: Pillow drawing of the Vietnamese ticket plus the `GS v 0` raster, for 80 and 58 mm paper.
  Text blocks that repeat (header, service, counters, footer) are laid out once and cached; the
  "*_fresh_lines" rows give every ticket a waiting line never seen before, so that block is drawn each time.
- tap_to_ticket: the kiosk's request (POST /kiosk/<id>/issue) round trip against the production server,
  with no printer ("none") and with a network printer (a local TCP sink that reads and answers status):
  that is what stands between the citizen's tap and the number on screen. Kiosks are rate-limited
  (5 at once, then one every 2 s), so the taps are spread over several kiosks of a benchmark config.
"""

from __future__ import annotations

import socket
import statistics
import threading
import time
import uuid
from pathlib import Path

import requests

from .common import ROOT, BenchServer

KIOSKS = 8
TAPS_PER_KIOSK = 5


def _stats(samples: list[float]) -> dict:
    s = sorted(samples)
    return {"n": len(s), "median_ms": round(statistics.median(s), 2),
            "p95_ms": round(s[min(len(s) - 1, int(len(s) * 0.95))], 2), "max_ms": round(s[-1], 2)}


def render_encode(n: int = 200) -> dict:
    from printer_drivers.drivers import encode_image
    from printer_drivers.ticket import TicketData, paper_width, render_ticket

    out = {}
    for paper, profile, fresh in ((80, "TM-T88V", False), (58, "POS-5890", False), (80, "TM-T88V", True),
                                  (58, "POS-5890", True)):
        width = paper_width(paper, profile)
        times, sizes = [], []
        for i in range(n + 5):
            data = TicketData(
                center_name="Trung tâm Phục vụ hành chính công phường Hòa Bình",
                site_name="Điểm tiếp nhận số 1 – Trụ sở phường", number=f"A{i % 999 + 1:03d}",
                service_name="Tư pháp – Hộ tịch" if i % 2 else "Hỗ trợ dịch vụ công trực tuyến, VNeID",
                counters=(1, 2, 3, 6), ahead=(1000 + i) if fresh else i % 40,
                estimated_wait_s=60 * (2000 + i if fresh else i % 40),
                issued_at="2026-11-23T02:15:00+00:00", priority_name="Người cao tuổi (từ 75 tuổi)" if i % 5 == 0
                else None, url=f"http://192.168.1.10:8080/t/{uuid.uuid4().hex[:16]}",
                footer="Xin cảm ơn Ông/Bà! Vui lòng chú ý màn hình và loa gọi số.")
            start = time.perf_counter()
            job = encode_image(render_ticket(data, width), profile)
            elapsed = (time.perf_counter() - start) * 1000
            if i >= 5:  # the first few load the font
                times.append(elapsed)
                sizes.append(len(job))
        key = f"{paper}mm" + ("_fresh_lines" if fresh else "")
        out[key] = {**_stats(times), "width_dots": width, "job_kb": round(statistics.mean(sizes) / 1024, 1)}
    return out


class _PrinterSink:
    """A network printer that reads everything and answers DLE EOT with "online, paper OK"."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._client, args=(conn,), daemon=True).start()

    @staticmethod
    def _client(conn: socket.socket) -> None:
        with conn:
            answered = False
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                if not answered and b"\x10\x04" in chunk:
                    conn.sendall(b"\x12\x12\x12")
                    answered = True


def _bench_config(directory: Path, port: int) -> Path:
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    anchor = text.index("[[sites.displays]]")
    extra = ""
    for i in range(KIOSKS):
        extra += (f'[[sites.kiosks]]\nid = "bench-none-{i}"\nname = "bench"\nprinter = {{ driver = "none" }}\n\n'
                  f'[[sites.kiosks]]\nid = "bench-net-{i}"\nname = "bench"\n'
                  f'printer = {{ driver = "network", host = "127.0.0.1", port = {port} }}\n\n')
    path = directory / "bench-kiosks.toml"
    path.write_text(text[:anchor] + extra + text[anchor:], encoding="utf-8")
    return path


def tap_to_ticket() -> dict:
    import tempfile

    from center.storage.store import Store
    from center.web.auth import Accounts

    sink = _PrinterSink()
    config = _bench_config(Path(tempfile.mkdtemp(prefix="xephang-bench-kiosk-")), sink.port)
    server = BenchServer(config=config)
    try:
        store = Store(server.db)
        accounts = Accounts(store)
        tokens = {f"bench-{kind}-{i}": accounts.create_token(device=f"bench-{kind}-{i}", role="kiosk", site="main")
                  for kind in ("none", "net") for i in range(KIOSKS)}
        store.close()
        out = {}
        session = requests.Session()
        for kind in ("none", "net"):
            times = []
            for i in range(KIOSKS):
                kiosk = f"bench-{kind}-{i}"
                for t in range(TAPS_PER_KIOSK):
                    start = time.perf_counter()
                    r = session.post(f"{server.url}/kiosk/{kiosk}/issue", timeout=10,
                                     json={"service": "CT" if t % 2 else "HT", "request_id": uuid.uuid4().hex},
                                     headers={"Authorization": f"Bearer {tokens[kiosk]}",
                                              "Accept": "application/json"})
                    elapsed = (time.perf_counter() - start) * 1000
                    body = r.json()
                    if r.status_code != 201 or (kind == "net" and body["print"]["status"] != "printed"):
                        raise RuntimeError(f"kiosk issue failed: {r.status_code} {r.text[:200]}")
                    times.append(elapsed)
            out["printer_none" if kind == "none" else "network_printer"] = _stats(times)
        return out
    finally:
        server.stop()
        sink.sock.close()


def run() -> dict:
    return {"render_encode": render_encode(), "tap_to_ticket": tap_to_ticket()}


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
