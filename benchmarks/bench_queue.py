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
METHOD = (f"one fresh server, warmed up by one round and the day closed; then {ROUNDS} rounds of "
          f"{CLIENTS} × {PER_CLIENT} tickets from {CLIENTS} client processes "
          "(kept-alive HTTP, one ticket at a time each, the 8 services in turn), the day never closed, nobody called: "
          "round k starts with 2,000 × k waiting. Figures per round: waiting at its start, tickets/s, worker CPU ms "
          "per ticket; `cpu_ratio_10000_vs_empty` is the CPU per ticket of the round starting at 10,000 waiting "
          "÷ that of the first round (target ≤ 1.2).")


def _waiting(server: BenchServer) -> int:
    with sqlite3.connect(server.db) as conn:
        return conn.execute("SELECT count(*) FROM tickets WHERE status = 'waiting'").fetchone()[0]


def run() -> dict:
    server = BenchServer()
    rounds = []
    try:
        issue_rate(server, CLIENTS, PER_CLIENT)  # warm-up: the worker's first requests cost more
        requests.post(f"{server.url}/api/sites/main/close-day", headers=server.headers("admin"),
                      timeout=60).raise_for_status()
        for _ in range(ROUNDS):
            waiting = _waiting(server)
            r = issue_rate(server, CLIENTS, PER_CLIENT)
            rounds.append({"waiting_at_start": waiting, "per_second": r["per_second"],
                           "worker_cpu_ms_per_ticket": r["worker_cpu_ms_per_ticket"], "errors": r["errors"],
                           "duplicates": r["duplicates"], "steal_pct": r["steal_pct"]})
    finally:
        server.stop()
    first = rounds[0]["worker_cpu_ms_per_ticket"]
    at_10k = next((r for r in rounds if r["waiting_at_start"] >= 10_000), rounds[-1])
    return {"clients": CLIENTS, "tickets_per_round": CLIENTS * PER_CLIENT,
            "cpu_ratio_10000_vs_empty": round(at_10k["worker_cpu_ms_per_ticket"] / first, 2),
            "rounds": {f"round_{i + 1}": r for i, r in enumerate(rounds)}}


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
