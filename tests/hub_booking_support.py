"""Helpers for the hub's booking tests (issue 17): the `booking` part of a center's labels built from its config,
put into the hub's copy when the center did not send it (a stand-in from before the center sent its own), and
past days of walk-ins for a center's booking plan."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg


def booking_labels(config_path: Path) -> dict[str, Any]:
    from center.config.read import load_config

    config = load_config(config_path)
    b = config.booking

    def hm(t: Any) -> str:
        return "24:00" if t is None else t.strftime("%H:%M")

    return {"enabled": b.enabled, "slot_min": b.slot_min, "share": b.share, "per_person_per_day": b.per_person_per_day,
            "grace_min": b.grace_min, "early_min": b.early_min, "days_ahead": b.days_ahead,
            "capacity": dict(b.capacity),
            "sites": {s.code: {"hours": {d: [[hm(a), hm(z)] for a, z in iv] for d, iv in s.hours.items()},
                               "closed_dates": list(s.closed_dates)} for s in config.sites.values()},
            "services": {sv.code: {"default_service_min": sv.default_service_min,
                                   "counters": {s.code: [c.id for c in s.counters if sv.code in c.services]
                                                for s in config.sites.values()}}
                         for sv in config.services.values()}}


def ensure_booking_labels(dsn: str, center: str, config_path: Path) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT labels FROM hub_labels WHERE center = %s", (center,)).fetchone()
        if row and not row[0].get("booking"):
            conn.execute("UPDATE hub_labels SET labels = labels || %s::jsonb WHERE center = %s",
                         (json.dumps({"booking": booking_labels(config_path)}), center))


def busy_past_days(db: Path, config_path: Path, waits: dict[str, float], *, days: tuple[int, ...] = (1, 2, 3),
                   service: str = "CT", procedure: str = "CT-BS", n: int = 5,
                   handling_min: float = 6) -> None:
    """Past days for the booking plan (issue 17), written with the engine's own operations on a clock set back to
    them (the server not running): on each of `days` days before today (Vietnam), at each local "HH:MM" of
    `waits`, `n` walk-ins of `service` at site main; the first is called at main-1 `waits[hhmm]` minutes later,
    each served `handling_min` (so the next waits that much longer, and the handling time is measured)."""
    from datetime import UTC, datetime, time, timedelta
    from zoneinfo import ZoneInfo

    from center.config.read import load_config
    from center.queue.actors import Actor
    from center.queue.engine import Engine
    from center.storage.store import Store

    class Clock:
        now = datetime.now(UTC)

        def __call__(self) -> datetime:
            return self.now

    tz = ZoneInfo("Asia/Ho_Chi_Minh")
    staff, clock = Actor("canbo", "staff"), Clock()
    store = Store(db)
    try:
        engine = Engine(store, load_config(config_path), clock=clock)
        today = datetime.now(tz).date()
        for ago in days:
            for hhmm, wait in sorted(waits.items()):
                h, m = map(int, hhmm.split(":"))
                clock.now = datetime.combine(today - timedelta(days=ago), time(h, m), tz).astimezone(UTC)
                ids = [engine.issue("main", service)["id"] for _ in range(n)]
                clock.now += timedelta(minutes=wait)
                for _ in ids:
                    assert engine.call_next("main-1", staff)["id"] in ids
                    clock.now += timedelta(minutes=handling_min)
                    engine.finish("main-1", staff, [procedure])
    finally:
        store.close()
