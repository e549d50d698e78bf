"""Correcting the records of a node whose clock was off (`xephang sync fix-clock NODE`).

At every contact the center learns how far the node's clock is from its own; a batch that arrives while the
difference is past the tolerance marks its new tickets with it (`tickets.clock_offset_s`), and reports count
them. Waiting and service times are differences of two readings of the same clock, so they are right as
they are; what is wrong is *when* things happened (the hour, sometimes the day). This moves the flagged
tickets' times, their events, procedures and rating by the offset, and marks them corrected (offset 0):
they stay recognisable as records that came from a wrong clock.

The node keeps its own copy; a later change of a corrected ticket at the node (rare: it is usually over)
would bring the node's times back, and the next fix-clock corrects it again.
"""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from typing import Any

from ..config.model import BLOCK_SIZE, Node
from ..queue.clock import from_iso, to_iso

TICKET_TIMES = ("issued_at", "queue_at", "called_at", "last_called_at", "started_at", "ended_at")


def _shift(value: str | None, seconds: float) -> str | None:
    return None if value is None else to_iso(from_iso(value) - timedelta(seconds=seconds))


def flagged(conn: sqlite3.Connection, node: Node) -> list[tuple[int, float]]:
    """(ticket id, offset) of the node's tickets that still carry a clock offset."""
    lo, hi = node.block * BLOCK_SIZE, (node.block + 1) * BLOCK_SIZE
    return [(r[0], r[1]) for r in conn.execute(
        "SELECT id, clock_offset_s FROM tickets WHERE id >= ? AND id < ? AND clock_offset_s IS NOT NULL "
        "AND clock_offset_s != 0", (lo, hi))]


def fix(conn: sqlite3.Connection, node: Node) -> dict[str, Any]:
    """Correct every flagged ticket of the node inside the caller's write transaction."""
    tickets = flagged(conn, node)
    for tid, offset in tickets:
        row = conn.execute(f"SELECT {', '.join(TICKET_TIMES)} FROM tickets WHERE id = ?", (tid,)).fetchone()  # noqa: S608
        sets = ", ".join(f"{c} = ?" for c in TICKET_TIMES)
        conn.execute(f"UPDATE tickets SET {sets}, clock_offset_s = 0 WHERE id = ?",  # noqa: S608
                     (*(_shift(v, offset) for v in row), tid))
        for table, columns in (("ticket_events", ("at",)), ("ticket_procedures", ("started_at", "ended_at")),
                               ("ratings", ("at",))):
            key = "ticket_id"
            for r in conn.execute(f"SELECT rowid, {', '.join(columns)} FROM {table} WHERE {key} = ?",  # noqa: S608
                                  (tid,)).fetchall():
                conn.execute(f"UPDATE {table} SET {', '.join(f'{c} = ?' for c in columns)} WHERE rowid = ?",  # noqa: S608
                             (*(_shift(v, offset) for v in r[1:]), r[0]))
        conn.execute("INSERT OR IGNORE INTO rollup_dirty (site, service_day) SELECT site, service_day FROM tickets "
                     "WHERE id = ?", (tid,))
    return {"node": node.id, "tickets": len(tickets),
            "offsets_s": sorted({round(o) for _, o in tickets})}
