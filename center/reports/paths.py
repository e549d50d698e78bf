"""report(): the one entry for a range report, which picks the path that answers it: the roll-ups of
past days plus today's raw rows for long ranges once they are ready, else the raw rows."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import datetime
from typing import Any

from ..config.model import Config
from .bookings import booking_section
from .filters import Filters, _counter_site
from .raw import _report_raw
from .rollup_fresh import _yesterday, rollups_ready, uses_rollups
from .rollup_plan import _only_site
from .rollup_read import _report_rollup


def report(conn: sqlite3.Connection, config: Config, f: Filters, lang: str = "vi", *, today: str | None = None,
           rollups: bool | None = None) -> dict[str, Any]:
    """The whole report for a date range: summary, grouped rows, procedures, satisfaction, heat map, trend.

    Ranges longer than a month (or `rollups=True`) read the daily roll-ups of past days plus today's raw rows
    when every past day is rolled up and fresh (ensure_rollups), else everything is computed from the raw rows:
    five to six SQL passes: (day × hour) aggregates give the summary, trend, heat map and day/hour/weekday
    groups; one pass for other groupings; one sort for every percentile; procedures; satisfaction.
    """
    f.check()
    today_s = today or datetime.now(config.tz).date().isoformat()
    want = uses_rollups(f) if rollups is None else rollups
    scope = f.site or (_counter_site(conn, config, f.counter) if f.counter else None)
    last = min(f.date_to, _yesterday(config, today_s))
    if want and not f.procedure and f.date_from < today_s and rollups_ready(conn, config, f.date_from, last, scope):
        if not scope and (f.counter or f.staff):
            scope = _only_site(conn, config, f, last)
        out = _report_rollup(conn, config, replace(f, site=scope), lang, today_s, raw_site=f.site)
        out["filters"] = f.as_dict()
    else:
        out = _report_raw(conn, config, f, lang)
    if (section := booking_section(conn, f)) is not None:  # absent without bookings: reports stay as they were
        out["bookings"] = section
    return out
