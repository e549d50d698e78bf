"""config.toml's `[booking]`: whether citizens may book a time slot (on the province hub's page or at the desk)
and how bookings share the counters with walk-ins (center/queue/bookings.py, center/queue/policy.py)."""

from __future__ import annotations

from typing import Any

from .model import Booking


def parse_booking(r: Any, services: dict[str, Any]) -> Booking:
    """[booking], optional: absent or `enabled = false` keeps every counter for walk-ins."""
    from .read import ConfigError

    capacity: dict[str, int] = {}
    raw = r.data.get("capacity", {})
    if not isinstance(raw, dict):
        raise ConfigError(r.path("capacity"), "must be a table of service code = people per slot")
    for code, value in raw.items():
        if code not in services:
            raise ConfigError(f"{r.path('capacity')}.{code}", f"unknown service {code!r}")
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 1000:
            raise ConfigError(f"{r.path('capacity')}.{code}", "must be a whole number of people per slot, 0–1000")
        capacity[code] = value
    r.data.pop("capacity", None)
    slot_min = r.int("slot_min", 30, low=5, high=240)
    booking = Booking(
        enabled=r.bool("enabled", False), slot_min=slot_min, share=r.num("share", 0.3, low=0, high=1),
        per_person_per_day=r.int("per_person_per_day", 2, low=1, high=20),
        grace_min=r.int("grace_min", 15, low=0, high=240), early_min=r.int("early_min", 120, low=0, high=720),
        days_ahead=r.int("days_ahead", 14, low=0, high=90),
        max_booked_share=r.num("max_booked_share", 0.5, low=0, high=1),
        walkin_wait_min=r.num("walkin_wait_min", 20, low=0, high=600), lead_min=r.int("lead_min", 25, low=0, high=60),
        capacity=capacity, busy_wait_min=r.num("busy_wait_min", 30, low=0, high=600),
        busy_days=r.int("busy_days", 28, low=1, high=365))
    r.finish()
    return booking
