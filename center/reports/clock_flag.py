"""How many tickets of a report came from a node whose clock was off (tickets.clock_offset_s, set at the
center when the node's batch arrived). Their waits and service times are right (both ends on one clock), but
their hour, weekday and even day may be shifted: the report says how many, so no one over-reads them."""

from __future__ import annotations

import sqlite3
from typing import Any

from ..config.model import Config
from .filters import Filters, _base


def clock_flag(conn: sqlite3.Connection, config: Config, f: Filters, tolerance_s: float) -> dict[str, Any] | None:
    """{"tickets", "max_offset_s"} for the report's filters, or None when there are none. The tickets are only
    flagged from a batch whose offset was past `tolerance_s` and every such batch is in sync_batches (a small
    table), so a center that never had one answers without reading a single ticket."""
    if conn.execute("SELECT 1 FROM sync_batches WHERE abs(clock_offset_s) > ? LIMIT 1", (tolerance_s,)).fetchone() \
            is None:
        return None
    q = _base(config, f)
    n, worst = conn.execute(f"WITH {q.sql} SELECT count(*), max(abs(x.clock_offset_s)) FROM t "  # noqa: S608
                            "JOIN tickets x ON x.id = t.id WHERE x.clock_offset_s IS NOT NULL", q.params).fetchone()
    return {"tickets": n, "max_offset_s": round(worst)} if n else None
