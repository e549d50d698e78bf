"""The province hub for real: a PostgreSQL server (tests/pg_support.py), a hub server process, and centers
that push to it with the same link as a node to its center."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import requests

from tests.conftest import DEMO_CONFIG, ROOT, free_port

SECOND_CENTER = ("tanlap", "Trung tâm PVHCC phường Tân Lập")


def hub_config(directory: Path, dsn: str) -> Path:
    path = directory / "hub.toml"
    path.write_text(f'''[hub]
name = "Tỉnh Thử Nghiệm"
name_en = "Test Province"
dsn = "{dsn}"

[[centers]]
id = "hoabinh"
name = "Trung tâm PVHCC phường Hòa Bình"
sites = ["main", "branch"]

[[centers]]
id = "{SECOND_CENTER[0]}"
name = "{SECOND_CENTER[1]}"
sites = ["tl-main", "tl-branch"]
''', encoding="utf-8")
    return path


def center_with_hub(directory: Path, hub_url: str, center: str = "hoabinh") -> Path:
    """The demo center's config with a [hub]; the second center's sites, counters and devices renamed."""
    text = DEMO_CONFIG.read_text(encoding="utf-8")
    if center != "hoabinh":
        text = text.replace('"main', '"tl-main').replace('"branch', '"tl-branch')
    path = directory / f"{center}.toml"
    path.write_text(text + f'\n[hub]\nurl = "{hub_url}"\ncenter = "{center}"\n', encoding="utf-8")
    return path


@dataclass
class HubServer:
    """A real `python -m center hub serve` process."""

    config: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> HubServer:
        log = self.config.with_suffix(f".{self.port}.log")
        self.proc = subprocess.Popen([sys.executable, "-m", "center", "hub", "serve", "--config", str(self.config),
                                      "--port", str(self.port), "--workers", "1"], cwd=ROOT,
                                     stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hub exited: {log.read_text()[-3000:]}")
            try:
                if requests.get(self.url + "/api/health", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"hub did not start: {log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(15)


def hub_cli(config: Path, *args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "center", "hub", *args, "--config", str(config)], cwd=ROOT,
                         capture_output=True, text=True, check=True)
    return out.stdout


def hub_rows(dsn: str, center: str, table: str) -> int:
    with psycopg.connect(dsn) as conn:
        return conn.execute(f"SELECT count(*) FROM {table} WHERE center = %s", (center,)).fetchone()[0]
