"""`make bench`: run every benchmark module and write BENCHMARKS.md with the machine and the date.

Each module has `run() -> dict`; nested dicts become tables. Targets come from the issues.
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODULES = [
    ("bench_core", "Core: issuing, calling, live events, memory",
     "≥ 600 tickets/s with 8 clients and zero duplicates; call-next → ticket.called p99 ≤ 30 ms with 200 other "
     "Socket.IO clients connected; server RSS ≤ 150 MB with those clients"),
    ("bench_queue", "Issuing as the day's queue grows",
     "worker CPU per ticket with 10,000 waiting ≤ 1.2 × with an empty queue (8 clients, the day not closed)"),
    ("bench_ticket", "Tickets: render + encode, tap → ticket on screen", "render + encode ≤ 20 ms median"),
    ("bench_first_tap", "Tickets: the first tap after a server start",
     "the first tap after a start as fast as any other: tap → ticket on screen ≤ 1 s, printed ≤ 2 s, and never "
     "announced as a print failure when it printed (3.1 s and a failure message before, issue)"),
    ("bench_display", "Display: call → DOM update", "p99 ≤ 50 ms with 200 Socket.IO clients connected"),
    ("bench_voice", "Display: voice at peak",
     "six calls within 2 s → the 6th call's announcement starts ≤ 20 s after its call (59.7 s before issue 13)"),
    ("bench_reports", "Reports on generated history", "one-site yearly report ≤ 300 ms; province yearly ≤ 3 s"),
    ("bench_day", "Day simulation", "estimated wait median absolute error ≤ 25 %"),
    ("bench_booking", "Bookings in a busy day",
     "with 25 % of citizens booking: booked citizens' wait after their slot p90 ≤ 10 min, while walk-ins' mean "
     "wait grows by ≤ 10 % against the same day without bookings (issue 17)"),
    ("bench_range", "Estimated wait: the printed range",
     "the share of actual waits inside the printed range matches its 70 % level within ±5 points over the "
     "lab's 24 days, with the narrowest range that does (issue 13)"),
    ("bench_flood", "Anonymous flood: kiosk issues while anonymous sockets resync in a loop",
     "kiosk issue latency max ≤ 500 ms with the flood running"),
    ("bench_sync", "Sync: a node's records to its center",
     "≤ 400 B on the wire per ticket with its events, procedures and rating; a busy point's week (2,000 tickets) "
     "caught up through a 256 kbit/s link in ≤ 60 s; an event at the node in the center's database ≤ 5 s p95 "
     "while the link is up; no visible cost to the center's own calls while a node catches up (issue 15)"),
    ("bench_hub", "Province hub on PostgreSQL",
     "100 centers pushing at once through the real protocol; the province's yearly report (~10 M tickets) ≤ 1 s "
     "for each grouping over all centers and ≤ 150 ms for one center; hub memory, a center's catch-up after 30 "
     "days offline, disk per ticket (issue 16)"),
]


def machine() -> str:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    sqlite = __import__("sqlite3").sqlite_version
    return (f"{platform.node()}: {os.cpu_count()} cores ({cpu}), {mem:.0f} GiB RAM, Linux {platform.release()}, "
            f"Python {platform.python_version()}, SQLite {sqlite}")


def to_markdown(data: object, depth: int = 0) -> list[str]:
    if not isinstance(data, dict):
        return [f"`{json.dumps(data, ensure_ascii=False)}`"]
    scalars = {k: v for k, v in data.items() if not isinstance(v, dict | list)}
    nested = {k: v for k, v in data.items() if isinstance(v, dict | list)}
    lines = []
    if scalars:
        lines += ["| measure | value |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in scalars.items()]
        lines.append("")
    for k, v in nested.items():
        lines.append(f"{'#' * min(6, 4 + depth)} {k}")
        lines.append("")
        if isinstance(v, list):
            lines += [f"- `{json.dumps(item, ensure_ascii=False)}`" for item in v]
            lines.append("")
        else:
            lines += to_markdown(v, depth + 1)
    return lines


def _method(name: str) -> str:
    """How a section measures (its module's METHOD), when it says."""
    try:
        method = getattr(importlib.import_module(f"benchmarks.{name}"), "METHOD", "")
    except ModuleNotFoundError:
        return ""
    return f"How: {method}\n\n" if method else ""


def _sections(path: Path) -> dict[str, str]:
    """The sections of an existing BENCHMARKS.md by title, as written."""
    if not path.exists():
        return {}
    parts = path.read_text(encoding="utf-8").split("\n## ")[1:]
    return {part.split("\n", 1)[0]: "## " + part.rstrip("\n") + "\n" for part in parts}


def main() -> int:
    """`python -m benchmarks.run [name ...]`: run all (or the named) benchmarks; the others keep their last
    results (var/benchmarks.json), so BENCHMARKS.md always has every section."""
    only = sys.argv[1:]
    store = ROOT / "var" / "benchmarks.json"
    fresh: dict = {}
    for name, _title, _target in MODULES:
        if only and name not in only:
            continue
        try:
            module = importlib.import_module(f"benchmarks.{name}")
        except ModuleNotFoundError:
            continue
        print(f"running {name} …", flush=True)
        t0 = time.perf_counter()
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        try:
            result = module.run()
        except Exception:  # noqa: BLE001 - report the failure in the file rather than lose the others
            result = {"error": traceback.format_exc(limit=3)}
        fresh[name] = {"measured_at": f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC", "load_at_start": load,
                       "took_s": round(time.perf_counter() - t0), **result}
        print(json.dumps(result, ensure_ascii=False, indent=1), flush=True)
    # Read the other sections only now: another run may have finished while this one ran.
    raw = {**(json.loads(store.read_text()) if store.exists() else {}), **fresh}
    # A section neither run now nor in var/benchmarks.json (a fresh clone) keeps its text from BENCHMARKS.md.
    previous = _sections(ROOT / "BENCHMARKS.md")
    sections = [f"## {title}\n\nTarget: {target}.\n\n{_method(name)}" + "\n".join(to_markdown(raw[name]))
                if name in raw else previous[title]
                for name, title, target in MODULES if name in raw or title in previous]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=ROOT).stdout.strip()
    path = ROOT / "BENCHMARKS.md"
    if only and path.exists():  # a partial run keeps the header: the date, commit and machine of the others
        header = path.read_text(encoding="utf-8").split("\n## ", 1)[0].rstrip("\n") + "\n"
    else:
        header = (f"# Benchmarks\n\nMeasured by `make bench` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit "
                  f"{commit}.\n\nMachine: {machine()}.\n\nServers are started with the production command "
                  "(`python -m center serve`, gunicorn gevent worker); clients run on the same 2-core machine, so "
                  "client and server share the CPU. Each section records the machine's load average when it "
                  "started: figures taken while other work ran are not comparable. The machine is a shared VM: "
                  "the hypervisor sometimes takes 10–60 % of the CPU (steal), which the core section records "
                  "per burst.\n")
    path.write_text(header + "\n" + "\n\n".join(sections) + "\n", encoding="utf-8")
    store.parent.mkdir(exist_ok=True)
    store.write_text(json.dumps(raw, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
