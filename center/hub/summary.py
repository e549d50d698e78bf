"""The hub's summary (`hub_daily`): per center, site, service, day and hour, the additive figures of the
center's own reports (center/reports/figures.py: issued = first entries, service level = called within the
service's target among those called, left or cancelled, satisfied = ratings of a `satisfied` level).

Rebuilt inside the ingest transaction for the (center, day)s a batch touches: a batch of a busy day touches
one or two days, each a few hundred tickets, so the cost follows the batch, not the history. Targets and
satisfied levels come from the center's labels (what it sends of its config.toml); when they change, every
day of that center is rebuilt once.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from ..storage.outbox import Batch
from . import rollup
from .cells import BUCKETED, DAY_RATINGS, FROM_TICKETS

_CELL_COLS = tuple(FROM_TICKETS)
SUMMARY_SQL = (
    f"INSERT INTO hub_daily (center, site, service, service_day, hour, {', '.join(_CELL_COLS)}) "
    "SELECT t.center, t.site, t.service, t.service_day, "
    "extract(hour FROM t.issued_at AT TIME ZONE %(tz)s)::smallint AS hour, "
    f"{', '.join(FROM_TICKETS[c] for c in _CELL_COLS)} "
    f"FROM (SELECT *, {BUCKETED} AS b FROM tickets t WHERE t.center = %(center)s AND t.service_day = ANY(%(days)s)) t "
    f"{DAY_RATINGS} "
    "GROUP BY 1, 2, 3, 4, 5")


def labels(conn: Any, center: str) -> dict[str, Any]:
    row = conn.execute("SELECT labels FROM hub_labels WHERE center = %s", (center,)).fetchone()
    return row[0] if row else {}


def rebuild(conn: Any, center: str, days: list[date], tz: str = "Asia/Ho_Chi_Minh") -> None:
    """hub_daily of these days of one center, from its tickets and ratings (inside the caller's transaction)."""
    if not days:
        return
    lab = labels(conn, center)
    targets = {code: s.get("target_wait_min", 15) for code, s in (lab.get("services") or {}).items()}
    satisfied = [lv["code"] for lv in (lab.get("rating_levels") or []) if lv.get("satisfied")]
    conn.execute("DELETE FROM hub_daily WHERE center = %s AND service_day = ANY(%s)", (center, days))
    params = {"tz": lab.get("timezone") or tz, "targets": json.dumps(targets), "satisfied": satisfied,
              "center": center, "days": days}
    conn.execute(SUMMARY_SQL, params)
    rollup.days(conn, params)


def refresh_days(conn: Any, center: str, batch: Batch) -> None:
    """Rebuild the days the batch touched: its tickets' days and those of the tickets its ratings and procedures
    belong to (a ticket's procedures may come in a later batch than the ticket)."""
    days: set[date] = set()
    t = batch.tables.get("tickets")
    if t:
        i = t["cols"].index("service_day")
        days.update(date.fromisoformat(str(r[i])) for r in t["rows"])
    t = batch.tables.get("bookings")  # a booking counts on its slot's day
    if t:
        i = t["cols"].index("service_day")
        days.update(date.fromisoformat(str(r[i])) for r in t["rows"])
    ids: list[int] = []
    for tbl in ("ratings", "ticket_procedures"):
        t = batch.tables.get(tbl)
        if t:
            i = t["cols"].index("ticket_id")
            ids.extend(r[i] for r in t["rows"])
    if ids:
        days.update(r[0] for r in conn.execute(
            "SELECT DISTINCT service_day FROM tickets WHERE center = %s AND id = ANY(%s)", (center, ids)))
    rebuild(conn, center, sorted(days))
