"""The figures one summary cell of the hub holds, in one place: their columns, how each is counted from a
center's tickets, and how cells add up into coarser ones (center/hub/summary.py, rollup.py, rollup_read.py).

Everything is additive except `wait_max` (a maximum) so a month, a center or the province is the sum of its
cells. Wait times are also kept as a histogram over center/reports/percentiles.py's buckets, one nullable
column per bucket (`h0` …): a sum over many cells is then one SQL aggregate per bucket, and an empty bucket
costs a bit in the row's null bitmap. Medians and p90s over long ranges come from these histograms exactly
as a center computes them from its own roll-ups (within one bucket's width of the exact value).
"""

from __future__ import annotations

from typing import Any

from ..reports.percentiles import BUCKETS, NB, _hist_percentiles

HIST = tuple(f"h{i}" for i in range(NB))  # wait time, per bucket
PHIST = tuple(f"p{i}" for i in range(NB))  # a procedure's own time, per bucket

COUNTS = ("issued", "served", "no_show", "left_before", "cancelled", "transferred", "waited", "in_target",
          "sl_total", "service_n", "rated", "satisfied", "booked_n", "walkin_n")
SECONDS = ("wait_sum", "service_sum", "booked_wait_sum", "walkin_wait_sum")
SUMS = COUNTS + SECONDS
BOOKED = ("b_made", "b_kept", "b_cancelled", "b_no_show", "b_late")  # bookings of the slot's day (issue 17)
FROM_BOOKINGS = {"b_made": "count(*)", "b_kept": "count(*) FILTER (WHERE b.status = 'checked_in')",
                 "b_cancelled": "count(*) FILTER (WHERE b.status = 'cancelled')",
                 "b_no_show": "count(*) FILTER (WHERE b.status = 'no_show')",
                 "b_late": "count(*) FILTER (WHERE b.late = 1)"}
PROC_SUMS = ("issued", "served", "no_show", "waited", "wait_sum", "in_target", "sl_total", "rated", "satisfied",
             "proc_n", "proc_sum")

TARGET = "coalesce((%(targets)s::jsonb ->> t.service)::float8, 15) * 60"
SATISFIED = "r.level = ANY(%(satisfied)s)"

# How each figure is counted from tickets `t` (with `b`, the wait's bucket) and their ratings `r`.
FROM_TICKETS: dict[str, str] = {
    "issued": "count(*) FILTER (WHERE t.transferred_from IS NULL)",
    "served": "count(*) FILTER (WHERE t.status = 'served')",
    "no_show": "count(*) FILTER (WHERE t.status = 'no_show')",
    "left_before": "count(*) FILTER (WHERE t.status = 'left')",
    "cancelled": "count(*) FILTER (WHERE t.status = 'cancelled')",
    "transferred": "count(*) FILTER (WHERE t.status = 'transferred')",
    "waited": "count(t.wait_s)",
    "wait_sum": "coalesce(sum(t.wait_s), 0)",
    "in_target": f"count(*) FILTER (WHERE t.wait_s <= {TARGET})",
    # the service level's denominator: called, or left / cancelled before, once each (center/reports/figures.py)
    "sl_total": "count(*) FILTER (WHERE t.wait_s IS NOT NULL OR t.status IN ('left', 'cancelled'))",
    "service_n": "count(*) FILTER (WHERE t.status = 'served' AND t.service_s IS NOT NULL)",
    "service_sum": "coalesce(sum(t.service_s) FILTER (WHERE t.status = 'served'), 0)",
    "rated": "count(r.level)",
    "satisfied": f"count(r.level) FILTER (WHERE {SATISFIED})",
    "booked_n": "count(t.wait_s) FILTER (WHERE t.booking IS NOT NULL AND t.transferred_from IS NULL)",
    "booked_wait_sum": "coalesce(sum(t.wait_s) FILTER (WHERE t.booking IS NOT NULL AND t.transferred_from IS NULL), 0)",
    "walkin_n": "count(t.wait_s) FILTER (WHERE t.booking IS NULL AND t.transferred_from IS NULL)",
    "walkin_wait_sum": "coalesce(sum(t.wait_s) FILTER (WHERE t.booking IS NULL AND t.transferred_from IS NULL), 0)",
    "wait_max": "max(t.wait_s)",
    **{h: f"nullif(count(*) FILTER (WHERE t.b = {i}), 0)" for i, h in enumerate(HIST)},
}

# A value's bucket: PostgreSQL's width_bucket over the lower bounds, one call (a CASE of 75 branches, repeated
# in each of the 76 aggregates, took 28 ms to plan for every batch); negative values count in the first.
_BOUNDS = "'{" + ",".join(str(b) for b in BUCKETS) + "}'::float8[]"
BUCKETED = f"CASE WHEN t.wait_s IS NOT NULL THEN greatest(width_bucket(t.wait_s, {_BOUNDS}) - 1, 0) END"
BUCKETED_PROC = f"CASE WHEN p.seconds IS NOT NULL THEN greatest(width_bucket(p.seconds, {_BOUNDS}) - 1, 0) END"
# Each ticket's rating, looked up by its key: one index probe a ticket whatever the planner's row estimates
# (a plain join, planned on a fresh partition's estimates, read every rating of the center for each ticket).
DAY_RATINGS = ("LEFT JOIN LATERAL (SELECT level FROM ratings r WHERE r.center = t.center AND r.ticket_id = t.id "
               "LIMIT 1) r ON true")


def columns_ddl(sums: tuple[str, ...], hists: tuple[tuple[str, ...], ...], maxes: tuple[str, ...]) -> str:
    """Column definitions: counts as integers, seconds as doubles (0 by default), maxima and buckets nullable."""
    out = [f"{c} {'double precision' if c.endswith('_sum') else 'integer'} NOT NULL DEFAULT 0" for c in sums]
    out += [f"{c} double precision" for c in maxes]
    out += [f"{c} integer" for h in hists for c in h]
    return ", ".join(out)


def added_up(sums: tuple[str, ...], hists: tuple[tuple[str, ...], ...], maxes: tuple[str, ...],
             alias: str = "") -> str:
    """The select list that adds cells up: sums, maxima, and bucket sums (null when empty)."""
    a = f"{alias}." if alias else ""
    out = [f"coalesce(sum({a}{c}), 0)" for c in sums] + [f"max({a}{c})" for c in maxes]
    out += [f"sum({a}{c})" for h in hists for c in h]
    return ", ".join(out)


def percentiles(hist: list[int], n: int, mx: float | None) -> dict[str, float | None]:
    """Median and p90 from summed buckets, as a center reads its roll-ups."""
    return _hist_percentiles(hist, n, mx) if n and any(hist) else {"median": None, "p90": None}


def add_row(acc: dict[str, Any], row: Any, sums: tuple[str, ...], hists: tuple[str, ...], maxes: tuple[str, ...]
            ) -> None:
    """Fold one result row (sums, maxima, then each histogram's buckets, as added_up lists them) into acc."""
    i = 0
    for c in sums:
        acc[c] = acc.get(c, 0) + (row[i] or 0)
        i += 1
    for c in maxes:
        if row[i] is not None:
            acc[c] = row[i] if acc.get(c) is None else max(acc[c], row[i])
        i += 1
    for name in hists:
        h = acc.setdefault(name, [0] * NB)
        for j in range(NB):
            h[j] += row[i + j] or 0
        i += NB
