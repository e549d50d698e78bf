"""The bookings section of a report (issue 17): bookings made, kept, cancelled, no-show and late over the
range, and the wait of booked citizens (from their slot: what they were promised) against walk-ins. Added
only when the range holds bookings, so a report of a center without them stays as it was, byte for byte."""

from __future__ import annotations

import math
import sqlite3
from typing import Any

from .filters import Filters


def _p90(values: list[float]) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return round(values[min(len(values) - 1, math.ceil(0.9 * len(values)) - 1)], 1)


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None


def booking_section(conn: sqlite3.Connection, f: Filters) -> dict[str, Any] | None:
    """Counts by outcome and the two waits, for the report's site and service filters (a counter or staff
    filter narrows the waits, which are the tickets'), or None when the range has no booking."""
    where, params = ["service_day BETWEEN ? AND ?"], [f.date_from, f.date_to]
    for name in ("site", "service"):
        if getattr(f, name):
            where.append(f"{name} = ?")
            params.append(getattr(f, name))
    row = conn.execute(
        "SELECT count(*), count(*) FILTER (WHERE status = 'checked_in'), count(*) FILTER (WHERE status = "
        "'cancelled'), count(*) FILTER (WHERE status = 'no_show'), count(*) FILTER (WHERE late = 1), "
        "count(*) FILTER (WHERE status = 'booked') FROM bookings WHERE " + " AND ".join(where), params).fetchone()
    if not row[0]:
        return None
    t_where, t_params = ["t.service_day BETWEEN ? AND ?", "t.transferred_from IS NULL", "t.called_at IS NOT NULL"], \
        [f.date_from, f.date_to]
    for name, column in (("site", "site"), ("service", "service"), ("counter", "counter_id"), ("staff", "staff")):
        if getattr(f, name):
            t_where.append(f"t.{column} = ?")
            t_params.append(getattr(f, name))
    booked, walkin = [], []
    for is_booked, wait in conn.execute(
            "SELECT t.booking IS NOT NULL, CASE WHEN t.booking IS NOT NULL THEN max(0.0, (julianday(t.called_at) - "
            "julianday(coalesce((SELECT b.slot_at FROM bookings b WHERE b.code = t.booking), t.queue_at))) * 86400) "
            "ELSE t.wait_s END FROM tickets t WHERE " + " AND ".join(t_where),
            t_params):
        if wait is not None:
            (booked if is_booked else walkin).append(float(wait))
    return {"made": row[0], "kept": row[1], "cancelled": row[2], "no_show": row[3], "late": row[4],
            "pending": row[5], "kept_share": round(row[1] / row[0], 4),
            "booked_called": len(booked), "booked_wait_mean_s": _mean(booked), "booked_wait_p90_s": _p90(booked),
            "walkin_called": len(walkin), "walkin_wait_mean_s": _mean(walkin), "walkin_wait_p90_s": _p90(walkin)}
