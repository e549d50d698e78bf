"""The hub's roll-ups: what a report over more than a month reads instead of every ticket (issue 16).

Per day (grain 'd', rebuilt in the ingest transaction with the day's `hub_daily` rows): all services, each
service, each hour. Per month (grain 'm'): also each site and service, and each of those per hour, built from
`hub_daily` once the month is over. Per procedure (`hub_rollup_proc`): per day from the tickets and their
procedures, per month from the days. Every cell carries the additive figures and wait-time histograms
(center/hub/cells.py), so a province's year is ~12 rows a center for each key of a grouping.

A batch marks the months it touched `dirty`; `refresh` rebuilds the dirty months that are over, in their own
short transactions, and reports read a month's rows only while it is clean (its days' rows otherwise), so the
figures never depend on when the refresh ran, only their cost does. The hub runs `refresh` every minute
(app.py), `xephang hub refresh` runs it at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import date
from typing import Any

from .cells import (
    BOOKED,
    BUCKETED,
    BUCKETED_PROC,
    DAY_RATINGS,
    FROM_BOOKINGS,
    FROM_TICKETS,
    HIST,
    PHIST,
    PROC_SUMS,
    SUMS,
    added_up,
)
from .schema import month_bounds

log = logging.getLogger(__name__)

_MAIN_COLS = ", ".join((*SUMS, "wait_max", *HIST))
_PROC_WAIT = (*(c for c in PROC_SUMS if not c.startswith("proc_")), "wait_max", *HIST)
_PROC_TIME = {"proc_n": "count(p.seconds)", "proc_sum": "coalesce(sum(p.seconds), 0)", "proc_max": "max(p.seconds)",
              **{c: f"nullif(count(*) FILTER (WHERE p.pb = {i}), 0)" for i, c in enumerate(PHIST)}}
_PROC_COLS = ", ".join((*PROC_SUMS, "wait_max", "proc_max", *HIST, *PHIST))

DAY_SQL = (
    f"INSERT INTO hub_rollup (center, grain, period, site, service, hour, {_MAIN_COLS}) "
    "SELECT center, 'd', service_day, '', coalesce(service, ''), coalesce(hour, -1), "
    f"{added_up(SUMS, (HIST,), ('wait_max',))} FROM hub_daily "
    "WHERE center = %(center)s AND service_day = ANY(%(days)s) "
    "GROUP BY GROUPING SETS ((center, service_day), (center, service_day, service), (center, service_day, hour))")

_DAY_TICKETS = "SELECT * FROM tickets WHERE center = %(center)s AND service_day = ANY(%(days)s)"
_PROC_SETS = "GROUPING SETS ((t.service_day, t.site, t.service, p.procedure), (t.service_day, t.service, p.procedure))"
# Driven by the day's tickets, each one's procedures looked up by its key (an index probe a ticket).
PROC_WAIT_SQL = (
    f"INSERT INTO hub_rollup_proc (center, grain, period, site, service, procedure, {', '.join(_PROC_WAIT)}) "
    "SELECT %(center)s, 'd', t.service_day, coalesce(t.site, ''), t.service, p.procedure, "
    f"{', '.join(FROM_TICKETS[c] for c in _PROC_WAIT)} "
    f"FROM (SELECT *, {BUCKETED} AS b FROM ({_DAY_TICKETS}) t) t "
    "JOIN LATERAL (SELECT DISTINCT coalesce(procedure, '') AS procedure FROM ticket_procedures p "
    "WHERE p.center = t.center AND p.ticket_id = t.id) p ON true "
    f"{DAY_RATINGS} GROUP BY {_PROC_SETS}")
PROC_TIME_SQL = (  # a procedure's own time: every time it was done on a ticket served that day
    f"INSERT INTO hub_rollup_proc (center, grain, period, site, service, procedure, {', '.join(_PROC_TIME)}) "
    "SELECT %(center)s, 'd', t.service_day, coalesce(t.site, ''), t.service, p.procedure, "
    f"{', '.join(_PROC_TIME.values())} FROM ({_DAY_TICKETS}) t "
    f"JOIN LATERAL (SELECT coalesce(procedure, '') AS procedure, seconds, {BUCKETED_PROC} AS pb "
    "FROM ticket_procedures p WHERE p.center = t.center AND p.ticket_id = t.id) p ON true "
    f"WHERE t.status = 'served' GROUP BY {_PROC_SETS} "
    "ON CONFLICT (center, grain, period, site, service, procedure) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _PROC_TIME))

MONTH_SQL = (
    f"INSERT INTO hub_rollup (center, grain, period, site, service, hour, {_MAIN_COLS}) "
    "SELECT center, 'm', %(month)s, coalesce(site, ''), coalesce(service, ''), coalesce(hour, -1), "
    f"{added_up(SUMS, (HIST,), ('wait_max',))} FROM hub_daily "
    "WHERE center = %(center)s AND service_day >= %(month)s AND service_day < %(next)s "
    "GROUP BY GROUPING SETS ((center), (center, service), (center, site, service), (center, hour), "
    "(center, service, hour), (center, site, service, hour))")
MONTH_PROC_SQL = (
    f"INSERT INTO hub_rollup_proc (center, grain, period, site, service, procedure, {_PROC_COLS}) "
    "SELECT center, 'm', %(month)s, coalesce(site, ''), service, procedure, "
    f"{added_up(PROC_SUMS, (HIST, PHIST), ('wait_max', 'proc_max'))} FROM hub_rollup_proc "
    "WHERE center = %(center)s AND grain = 'd' AND period >= %(month)s AND period < %(next)s AND site <> '' "
    "GROUP BY GROUPING SETS ((center, site, service, procedure), (center, service, procedure))")


_BOOKED_SET = ", ".join(f"{c} = excluded.{c}" for c in BOOKED)
BOOK_DAY_SQL = (
    f"INSERT INTO hub_rollup (center, grain, period, site, service, hour, {', '.join(BOOKED)}) "
    "SELECT center, 'd', service_day, '', coalesce(service, ''), -1, "
    f"{', '.join(FROM_BOOKINGS.values())} FROM bookings b WHERE center = %(center)s AND service_day = ANY(%(days)s) "
    "GROUP BY GROUPING SETS ((center, service_day), (center, service_day, service)) "
    f"ON CONFLICT (center, grain, period, site, service, hour) DO UPDATE SET {_BOOKED_SET}")
BOOK_MONTH_SQL = (
    f"INSERT INTO hub_rollup (center, grain, period, site, service, hour, {', '.join(BOOKED)}) "
    f"SELECT center, 'm', %(month)s, '', service, -1, {', '.join(f'sum({c})' for c in BOOKED)} FROM hub_rollup "
    "WHERE center = %(center)s AND grain = 'd' AND period >= %(month)s AND period < %(next)s AND site = '' "
    f"AND hour = -1 GROUP BY center, service ON CONFLICT (center, grain, period, site, service, hour) "
    f"DO UPDATE SET {_BOOKED_SET}")


def days(conn: Any, params: dict[str, Any]) -> None:
    """The day rows of these days of one center (after their hub_daily rows), and their months marked dirty.
    `params` are summary.rebuild's: center, days, targets, satisfied."""
    for table in ("hub_rollup", "hub_rollup_proc"):
        conn.execute(f"DELETE FROM {table} WHERE center = %(center)s AND grain = 'd' "  # noqa: S608 - fixed names
                     "AND period = ANY(%(days)s)", params)
    for sql in (DAY_SQL, BOOK_DAY_SQL, PROC_WAIT_SQL, PROC_TIME_SQL):
        conn.execute(sql, params)
    months = sorted({d.replace(day=1) for d in params["days"]})
    conn.execute("INSERT INTO hub_rollup_months (center, month) SELECT %s, unnest(%s::date[]) "
                 "ON CONFLICT (center, month) DO UPDATE SET dirty = true", (params["center"], months))


def build_month(conn: Any, center: str, month: date) -> None:
    """One month's rows of one center from its day rows (inside the caller's transaction)."""
    first, nxt = month_bounds(month)
    p = {"center": center, "month": first, "next": nxt}
    for table in ("hub_rollup", "hub_rollup_proc"):
        conn.execute(f"DELETE FROM {table} WHERE center = %(center)s AND grain = 'm' "  # noqa: S608 - fixed names
                     "AND period = %(month)s", p)
    for sql in (MONTH_SQL, BOOK_MONTH_SQL, MONTH_PROC_SQL):
        conn.execute(sql, p)


def refresh(conn: Any, today: date, limit: int | None = None) -> int:
    """Rebuild the dirty months that are over (and the summaries of a hub made before the histograms: `stale`),
    each in its own transaction, so ingest waits at most one month's build. Returns the months rebuilt."""
    from .summary import rebuild  # summary builds the day rows with this module

    this_month = today.replace(day=1)
    todo = conn.execute("SELECT center, month FROM hub_rollup_months WHERE dirty AND (month < %s OR stale) "
                        "ORDER BY month, center LIMIT %s", (this_month, limit)).fetchall()
    done = 0
    for center, month in todo:
        with conn.transaction():
            # the center's row first, as ingest takes it: a batch of this center waits instead of deadlocking
            conn.execute("SELECT 1 FROM hub_centers WHERE center = %s FOR UPDATE", (center,))
            row = conn.execute("SELECT stale FROM hub_rollup_months WHERE center = %s AND month = %s AND dirty "
                               "FOR UPDATE SKIP LOCKED", (center, month)).fetchone()
            if row is None:
                continue
            if row[0]:
                first, nxt = month_bounds(month)
                rebuild(conn, center, [r[0] for r in conn.execute(
                    "SELECT DISTINCT service_day FROM tickets WHERE center = %s AND service_day >= %s "
                    "AND service_day < %s", (center, first, nxt))])
            over = month < this_month
            if over:
                build_month(conn, center, month)
            conn.execute("UPDATE hub_rollup_months SET stale = false, dirty = %s WHERE center = %s AND month = %s",
                         (not over, center, month))
            done += 1
    return done


class Refresher:
    """A daemon thread that runs `refresh` every `every_s` seconds in a hub process (a failure is logged and
    retried at the next turn: the reports stay right meanwhile, only slower)."""

    def __init__(self, connect: Callable[[], Any], today: Callable[[], date], every_s: float = 60.0) -> None:
        self.connect, self.today, self.every_s = connect, today, every_s
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="hub-rollup", daemon=True)

    def start(self) -> Refresher:
        self.thread.start()
        return self

    def _run(self) -> None:
        while not self.stopped.wait(self.every_s):
            t = time.monotonic()
            try:
                with self.connect() as conn:
                    n = refresh(conn, self.today())
                if n:
                    log.info("rolled up %d month(s) in %.1f s", n, time.monotonic() - t)
            except Exception:  # noqa: BLE001 - the next turn tries again
                log.exception("roll-up refresh failed")
