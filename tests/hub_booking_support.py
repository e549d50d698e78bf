"""Stand-in for the center's side of issue 17 while it is being written: the `booking` part of a center's labels
(center/sync/labels.py), built here from its config and put into the hub's copy when the center did not send it.
Used only until the center sends it itself; the hub then keeps what the center sent."""

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
