"""The roll-up path: a report from the roll-ups of past days plus the raw rows from today on, the same
shape and figures as the raw path (percentiles within one histogram bucket)."""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from datetime import date, timedelta
from typing import Any

from ..config.model import Config
from . import assemble
from .figures import _AGG, _SUMS, _VEC, _merge, _order_key, fold_day_hours
from .filters import _KEYS, Filters, _base, _Query
from .labels import Labels
from .percentiles import NB, _add_hists, _bucket_sql, _hist_percentiles, _hists, _raw_hists
from .rollup_plan import _all_sites_built, _Plan

_RSUM = (", ".join(f'sum("{c}") AS "{c}"' for c in _SUMS)
         + ", max(wait_max) AS wait_max, max(service_max) AS service_max")


def _report_rollup(conn: sqlite3.Connection, config: Config, f: Filters, lang: str, today_s: str, *,
                   raw_site: str | None) -> dict[str, Any]:
    """The report from the roll-ups of past days plus the raw rows from today on (same shape as report()).

    Whole months come from the monthly roll-ups, the days at the ends of the range from the daily ones; the
    summary, trend, heat map and the hour, day and weekday groups from one pass of (day × hour) sums. `raw_site`
    is the site filter of today's raw rows (f.site may be the one site a counter or staff member belongs to)."""
    label = Labels(config, lang)
    group = f.group
    yday = (date.fromisoformat(today_s) - timedelta(days=1)).isoformat()
    plan = _Plan(conn, config, f, f.date_from, min(f.date_to, yday))
    rw, rp = plan.rw, plan.params
    raw = f.date_to >= today_s
    fr = Filters(max(f.date_from, today_s), f.date_to, raw_site, f.service, None, f.counter, f.staff, group)
    q = _base(config, fr) if raw else None
    unfiltered = not (f.service or f.counter or f.staff)  # only a site (or none): the narrow tables will do
    coarse = not (f.counter or f.staff)

    def agg(rkey: str, tkey: str) -> dict[Any, dict[str, Any]]:
        """Additive figures per key: roll-up cells of past days (summed in SQL) merged with today's raw rows."""
        acc: dict[Any, dict[str, Any]] = defaultdict(dict)
        for table, where in plan.arms("rollup_cells", "rollup_m_keys"):  # per period without the hour
            for r in conn.execute(f"SELECT {rkey} AS k, {_RSUM} FROM {table} WHERE {where} GROUP BY 1", rp):
                _merge(acc[r["k"]], r)
        if q:
            for r in conn.execute(f"WITH {q.sql} SELECT {tkey} AS k, {_AGG} FROM t GROUP BY 1", q.params):
                _merge(acc[r["k"]], r)
        return acc

    def hists(daily: str, monthly: str | None, key: str, dense: bool, monthly_dense: bool | None = None
              ) -> list[dict[Any, list[int]]]:
        outs: list[dict[Any, list[int]]] = [{}, {}]
        for table, where in plan.arms(daily, monthly):
            d = dense if table == daily else (dense if monthly_dense is None else monthly_dense)
            for i, h in enumerate(_hists(conn, f"SELECT {key}, wait_hist, service_hist FROM {table} WHERE {where}",
                                         rp, d, 2)):
                _add_hists(outs[i], h)
        return outs

    # one pass of (day × hour) sums: summary, trend, heat map, and the hour / day / weekday groups
    table, where = ("rollup_day_sums" if unfiltered else "rollup_cells"), rw
    if unfiltered and not f.site and _all_sites_built(conn, "rollup_all_days", rp):
        table = "rollup_all_day_sums"  # the same sums over all sites, 1/N of the rows
    # one service over all sites: the same sums per service over all sites (1/(N × services) of the cells' rows)
    all_service = bool(f.service) and coarse and not f.site and _all_sites_built(conn, "rollup_all_service_days", rp)
    if all_service:
        table, where = "rollup_all_service_sums", "service = :service AND service_day BETWEEN :rd0 AND :rd1"
    rows = [tuple(r) for r in conn.execute(
        f"SELECT service_day, hour, {_RSUM} FROM {table} WHERE {where} GROUP BY 1, 2", rp)]  # noqa: S608
    if q:
        rows += [(r[0], r[1], *(r[k] for k in _VEC)) for r in conn.execute(
            f"WITH {q.sql} SELECT t.service_day, t.hour, {_AGG} FROM t GROUP BY 1, 2", q.params)]
    dh = fold_day_hours(rows)
    total, by_day, weekday_of, heat = dh.total, dh.by_day, dh.weekday_of, dh.heat
    column = {"site": ("site", "t.site"), "service": ("service", "t.service"),
              "counter": ("counter_id", "t.counter_id"), "staff": ("staff", "t.staff")}
    grouped = agg(*column[group]) if group in column else dh.grouped(group)
    served_s = "CASE WHEN t.status = 'served' THEN t.service_s END"
    hist: dict[tuple[str, str], dict[Any, list[int]]] = {}
    shared = coarse and group in ("site", "service", "day", "weekday")  # the groups' histograms sum to the total
    if not shared:
        if coarse:
            hw, hs = hists("rollup_hists", "rollup_m_hists", "'all'", True)
        else:
            hw, hs = hists("rollup_staff_hists", "rollup_m_staff_hists", "'all'", False)
        hist[("w", "all")], hist[("s", "all")] = hw, hs
        if q:
            _add_hists(hist[("w", "all")], _raw_hists(conn, q, "'all'", "t.wait_s"))
            _add_hists(hist[("s", "all")], _raw_hists(conn, q, "'all'", served_s))
    if group not in ("none", "procedure"):
        if group in ("day", "weekday"):  # daily histograms of every day
            if unfiltered:
                table, dense = "rollup_day_hists", True
            elif all_service:
                table, dense = "rollup_all_service_hists", True
            else:
                table, dense = ("rollup_hists", True) if coarse else ("rollup_staff_hists", False)
            hs = list(_hists(conn, f"SELECT service_day, wait_hist, service_hist FROM {table} WHERE "
                             f"{where if all_service else rw}", rp, dense, 2))
        elif group == "hour":
            if unfiltered:
                hs = hists("rollup_cells", "rollup_m_hour_hists", "hour", False, True)
            else:
                hs = hists("rollup_cells", "rollup_m_cells", "hour", False)
        elif coarse and group in ("site", "service"):
            hs = hists("rollup_hists", "rollup_m_hists", group, True)
        else:
            gcol = {"site": "site", "service": "service", "counter": "counter_id", "staff": "staff"}[group]
            hs = hists("rollup_staff_hists", "rollup_m_staff_hists", gcol, False)
        if shared:
            for metric, h, x in (("w", hs[0], "t.wait_s"), ("s", hs[1], served_s)):
                cols = list(h.values())
                hist[(metric, "all")] = {"all": [sum(c) for c in zip(*cols, strict=True)]} if cols else {}
                if q:
                    _add_hists(hist[(metric, "all")], _raw_hists(conn, q, "'all'", x))
        for metric, h, x in (("w", hs[0], "t.wait_s"), ("s", hs[1], served_s)):
            if group == "weekday":
                by_wd: dict[Any, list[int]] = {}
                for d, v in h.items():
                    _add_hists(by_wd, {weekday_of.get(d, date.fromisoformat(d).weekday()): v})
                h = by_wd
            if q:
                _add_hists(h, _raw_hists(conn, q, _KEYS[group], x))
            hist[(metric, "g")] = h

    def pct(metric: str, key: Any, acc: dict[str, Any], kind: str) -> dict[str, float | None]:
        n_field, mx = ("wait_n", "wait_max") if metric == "w" else ("service_n", "service_max")
        h = hist.get((metric, kind), {}).get(key)
        return _hist_percentiles(h, acc.get(n_field, 0), acc.get(mx)) if h else {}

    total_pct = {"w": pct("w", "all", total, "all"), "s": pct("s", "all", total, "all")}
    return assemble.assemble_report(
        f, config, label, total=total, total_pct=total_pct, grouped=grouped,
        group_pct=lambda k: {"w": pct("w", k, grouped[k], "g"), "s": pct("s", k, grouped[k], "g")},
        procedures=_procedure_rows_rollup(conn, plan, q, label), rating_counts=_rating_counts_rollup(conn, plan, q),
        heat=heat, by_day=by_day, source="rollup")


def _procedure_rows_rollup(conn: sqlite3.Connection, plan: _Plan, q: _Query | None, label: Labels
                           ) -> list[dict[str, Any]]:
    acc: dict[str, dict[str, Any]] = defaultdict(lambda: {"n": 0, "tickets": 0, "sum": 0.0, "max": None})
    rows = []
    hist: dict[Any, list[int]] = {}
    for table, where in plan.arms("rollup_procedures", "rollup_m_procedures"):
        rows += conn.execute(f"SELECT procedure, sum(n), sum(tickets), total(seconds_sum), max(seconds_max) "
                             f"FROM {table} WHERE {where} GROUP BY 1", plan.params).fetchall()
        _add_hists(hist, _hists(conn, f"SELECT procedure, hist FROM {table} WHERE {where}", plan.params, False)[0])
    if q:
        rows += conn.execute(
            f"WITH {q.sql} SELECT p.procedure, count(p.seconds), count(DISTINCT p.ticket_id), total(p.seconds), "
            "max(p.seconds) FROM t CROSS JOIN ticket_procedures p ON p.ticket_id = t.id WHERE t.status = 'served' "
            "GROUP BY 1", q.params).fetchall()
        for k, b, n in conn.execute(
                f"WITH {q.sql} SELECT p.procedure, {_bucket_sql('p.seconds')}, count(*) FROM t CROSS JOIN "
                "ticket_procedures p ON p.ticket_id = t.id WHERE t.status = 'served' AND p.seconds IS NOT NULL "
                "GROUP BY 1, 2", q.params):
            hist.setdefault(k, [0] * NB)[b] += n
    for k, n, tickets, total_s, mx in rows:
        a = acc[k]
        a["n"] += n or 0
        a["tickets"] += tickets or 0
        a["sum"] += total_s or 0.0
        if mx is not None and (a["max"] is None or mx > a["max"]):
            a["max"] = mx
    out = []
    for k in sorted(acc, key=_order_key):
        a = acc[k]
        p = _hist_percentiles(hist[k], a["n"], a["max"]) if k in hist else {}
        out.append(assemble.procedure_row(label, k, a["n"], a["tickets"], a["sum"] / a["n"] if a["n"] else None, p,
                                          a["max"]))
    return out


def _rating_counts_rollup(conn: sqlite3.Connection, plan: _Plan, q: _Query | None
                          ) -> dict[str, dict[Any, dict[str, int]]]:
    """Ratings per level overall, by counter, staff member and procedure: roll-ups of past days, raw today."""
    rows: list[Any] = []
    prows: list[Any] = []
    for table, where in plan.arms("rollup_ratings", "rollup_m_ratings"):  # one pass: rows per counter/staff
        for counter, staff, proc, level, n in conn.execute(  # have no procedure, rows per procedure have one
                f"SELECT r_counter, r_staff, procedure, level, sum(n) FROM {table} WHERE {where} "
                "GROUP BY 1, 2, 3, 4", plan.params):
            if proc is None:
                rows.append((counter, staff, level, n))
            else:
                prows.append((proc, level, n))
    if q:
        rows += list(conn.execute(f"WITH {q.sql} SELECT r.counter_id, r.staff, r.level, count(*) FROM t CROSS JOIN "
                                  "ratings r ON r.ticket_id = t.id GROUP BY 1, 2, 3", q.params))
        prows += list(conn.execute(
            f"WITH {q.sql} SELECT p.procedure, r.level, count(DISTINCT r.ticket_id) FROM t CROSS JOIN ratings r "
            "ON r.ticket_id = t.id CROSS JOIN ticket_procedures p ON p.ticket_id = t.id GROUP BY 1, 2", q.params))
    return assemble.rating_counts(rows, prows)
