"""Issuing as the day's queue grows: the core section closes the day before every burst, so it never
shows what a long queue costs. Here one server issues round after round without closing the day, and
each round records how many were waiting, the tickets/s with 8 kiosks and the worker's CPU per ticket."""

from __future__ import annotations

import sqlite3

import requests

from .bench_core import issue_rate
from .common import BenchServer

CLIENTS = 8
PER_CLIENT = 250  # 2,000 tickets a round
ROUNDS = 7  # 0 → 14,000 waiting
SERIES = 3  # the whole climb, repeated: the median of each round is the figure
METHOD = (f"one fresh server, warmed up by one round; then {SERIES} series, each starting from an empty queue (the "
          f"day closed), of {ROUNDS} rounds of {CLIENTS} × {PER_CLIENT} tickets from {CLIENTS} client processes "
          "(kept-alive HTTP, one ticket at a time each, the 8 services in turn), the day not closed between rounds "
          "and nobody called: round k starts with 2,000 × (k − 1) waiting. Per round, the median over the series "
          "of tickets/s and of the worker's CPU ms per ticket (and each series' value); `cpu_ratio_10000_vs_empty` "
          "is the CPU per ticket of the round starting at 10,000 waiting ÷ that of the round starting empty "
          "(target ≤ 1.2), with the medians and with the least of each round (`_min`: other work on the machine only "
          "adds to it). `engine_in_process`: the same climb without the server (CPU per `Engine.issue` over 1,000 "
          "tickets from 0, 2,000, 5,000, 10,000 and 13,500 waiting, 5 climbs, the least), free of the HTTP and "
          "scheduling noise of this shared 2-core VM.")


def _waiting(server: BenchServer) -> int:
    with sqlite3.connect(server.db) as conn:
        return conn.execute("SELECT count(*) FROM tickets WHERE status = 'waiting'").fetchone()[0]


def _close_day(server: BenchServer) -> None:
    requests.post(f"{server.url}/api/sites/main/close-day", headers=server.headers("admin"),
                  timeout=60).raise_for_status()


def _median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def in_process(levels: tuple[int, ...] = (0, 2_000, 5_000, 10_000, 13_500), batch: int = 1000,
               climbs: int = 5) -> dict:
    """The engine alone (no HTTP, no gevent, no other process): CPU per `Engine.issue` over `batch` tickets
    from each queue length, the 8 services in turn, the center's clock moving 1 ms per reading; the climb
    from an empty queue `climbs` times (the day closed in between), the least per level (other work on the
    machine only ever adds to it)."""
    import tempfile
    import time
    from datetime import UTC, datetime, timedelta
    from pathlib import Path

    from center.config.read import load_config
    from center.queue.engine import Engine
    from center.storage.store import Store

    from .common import CONFIG

    class Clock:
        def __init__(self) -> None:
            self.now = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)

        def __call__(self) -> datetime:
            self.now += timedelta(milliseconds=1)
            return self.now

    services = ("CT", "HT", "CC", "DD", "KT", "XH", "TKQ", "HD")
    each: dict[str, list[float]] = {f"waiting_{level}": [] for level in levels}
    n = 0
    with tempfile.TemporaryDirectory() as directory:
        store = Store(Path(directory) / "queue.sqlite3")
        engine = Engine(store, load_config(CONFIG), clock=Clock())
        try:
            for _ in range(batch):  # warm-up
                engine.issue("main", services[n % len(services)])
                n += 1
            for _ in range(climbs):
                engine.close_day("main")
                waiting = 0
                for level in levels:
                    while waiting < level:
                        engine.issue("main", services[n % len(services)])
                        n += 1
                        waiting += 1
                    t0 = time.process_time()
                    for _ in range(batch):
                        engine.issue("main", services[n % len(services)])
                        n += 1
                    each[f"waiting_{level}"].append(round((time.process_time() - t0) / batch * 1000, 3))
                    waiting += batch
        finally:
            store.close()
    least = {k: min(v) for k, v in each.items()}
    return {"cpu_ms_per_issue_min": least, "cpu_ms_per_issue_each": each,
            "cpu_ratio_10000_vs_empty": round(least["waiting_10000"] / least["waiting_0"], 2)}


def run() -> dict:
    engine_alone = in_process()
    server = BenchServer()
    series: list[list[dict]] = []
    try:
        issue_rate(server, CLIENTS, PER_CLIENT)  # warm-up: the worker's first requests cost more
        for _ in range(SERIES):
            _close_day(server)
            runs = []
            for _ in range(ROUNDS):
                waiting = _waiting(server)
                runs.append({"waiting": waiting, **issue_rate(server, CLIENTS, PER_CLIENT)})
            series.append(runs)
    finally:
        server.stop()
    rounds = {}
    for k in range(ROUNDS):
        each = [s[k] for s in series]
        rounds[f"round_{k + 1}"] = {
            "waiting_at_start": each[0]["waiting"],
            "per_second_median": _median([r["per_second"] for r in each]),
            "worker_cpu_ms_per_ticket_median": _median([r["worker_cpu_ms_per_ticket"] for r in each]),
            "worker_cpu_ms_per_ticket_min": min(r["worker_cpu_ms_per_ticket"] for r in each),
            "errors": sum(r["errors"] for r in each), "duplicates": sum(r["duplicates"] for r in each),
            "per_second_each": [r["per_second"] for r in each],
            "worker_cpu_ms_per_ticket_each": [r["worker_cpu_ms_per_ticket"] for r in each],
            "steal_pct_each": [r["steal_pct"] for r in each],
        }
    cpu = [r["worker_cpu_ms_per_ticket_median"] for r in rounds.values()]
    least = [r["worker_cpu_ms_per_ticket_min"] for r in rounds.values()]
    at_10k = next(i for i, r in enumerate(rounds.values()) if r["waiting_at_start"] >= 10_000)
    return {"clients": CLIENTS, "tickets_per_round": CLIENTS * PER_CLIENT, "series": SERIES,
            "cpu_ratio_10000_vs_empty": round(cpu[at_10k] / cpu[0], 2),
            "cpu_ratio_10000_vs_empty_min": round(least[at_10k] / least[0], 2), "rounds": rounds,
            "engine_in_process": engine_alone}


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
