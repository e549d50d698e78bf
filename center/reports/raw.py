"""The raw path: a report computed from the ticket rows of the range (exact percentiles). Used for
ranges up to a month, for procedure filters, and whenever the roll-ups are not ready."""

from __future__ import annotations

import sqlite3
from typing import Any

from ..config.model import Config
from . import assemble
from .figures import _AGG, _VEC, _merge, fold_day_hours
from .filters import _KEYS, Filters, _base, _Query
from .labels import Labels
from .percentiles import _indexed_percentiles, _sorted_percentiles

USE_RANK_INDEXES = True  # percentiles by index walks where the filter allows (tests compare both paths)


def _report_raw(conn: sqlite3.Connection, config: Config, f: Filters, lang: str) -> dict[str, Any]:
    """The report from the raw rows: five to six SQL passes (see report())."""
    q = _base(config, f)
    label = Labels(config, lang)
    group = f.group
    dh = fold_day_hours((r[0], r[1], *(r[k] for k in _VEC)) for r in conn.execute(
        f"WITH {q.sql} SELECT t.service_day, t.hour, {_AGG} FROM t GROUP BY 1, 2", q.params))
    total, grouped = dh.total, dh.grouped(group)
    if group in ("site", "service", "counter", "staff"):
        for r in conn.execute(f"WITH {q.sql} SELECT {_KEYS[group]} AS k, {_AGG} FROM t GROUP BY k", q.params):
            _merge(grouped[r["k"]], dict(r))
    served_s = "CASE WHEN t.status = 'served' THEN t.service_s END"
    pct: dict[tuple[str, Any], dict[str, float | None]] = {}
    # Value-ordered indexes answer percentiles when the filter is at most a site and a service.
    indexed = USE_RANK_INDEXES and not (f.counter or f.staff or f.procedure) and bool(f.site or not f.service)
    eq: list[tuple[str, Any]] = ([("site", f.site)] if f.site else []) + ([("service", f.service)] if f.service else [])
    for metric, value, n_field in (("w", "t.wait_s", "wait_n"), ("s", served_s, "service_n")):
        if indexed:
            pct[(metric, "all")] = _indexed_percentiles(conn, metric, eq, f.date_from, f.date_to,
                                                        total.get(n_field, 0))
        else:
            values = f"WITH {q.sql}, v AS (SELECT 'all' AS k, {value} AS x FROM t WHERE x IS NOT NULL"
            for k, v in _sorted_percentiles(conn, values, q.params, None, {"all": total.get(n_field, 0)}).items():
                pct[(metric, k)] = v
        if group in ("none", "procedure"):
            continue
        if indexed and group == "site":
            for k in grouped:
                service = [("service", f.service)] if f.service else []
                pct[("g" + metric, k)] = _indexed_percentiles(conn, metric, [("site", k), *service], f.date_from,
                                                              f.date_to, grouped[k].get(n_field, 0))
        elif indexed and group == "service" and f.site:
            for k in grouped:
                pct[("g" + metric, k)] = _indexed_percentiles(conn, metric, [("site", f.site), ("service", k)],
                                                              f.date_from, f.date_to, grouped[k].get(n_field, 0))
        else:
            values = f"WITH {q.sql}, v AS (SELECT {_KEYS[group]} AS k, {value} AS x FROM t WHERE x IS NOT NULL"
            sizes = {k: grouped[k].get(n_field, 0) for k in grouped}
            for k, v in _sorted_percentiles(conn, values, q.params, "k", sizes).items():
                pct[("g" + metric, k)] = v
    return assemble.assemble_report(
        f, config, label, total=total, total_pct={"w": pct.get(("w", "all"), {}), "s": pct.get(("s", "all"), {})},
        grouped=grouped, group_pct=lambda k: {"w": pct.get(("gw", k), {}), "s": pct.get(("gs", k), {})},
        procedures=_procedure_rows(conn, q, f, label), rating_counts=_rating_counts(conn, q, f), heat=dh.heat,
        by_day=dh.by_day)


def _procedure_rows(conn: sqlite3.Connection, q: _Query, f: Filters, label: Labels) -> list[dict[str, Any]]:
    """Service time per procedure: count, mean, median, p90 and max (one aggregate, one sorted column)."""
    extra = " AND p.procedure = :procedure" if f.procedure else ""
    source = f"t CROSS JOIN ticket_procedures p ON p.ticket_id = t.id WHERE t.status = 'served'{extra}"
    rows = conn.execute(f"WITH {q.sql} SELECT p.procedure AS k, count(p.seconds) AS n, "
                        "count(DISTINCT p.ticket_id) AS tickets, avg(p.seconds) AS mean, max(p.seconds) AS mx "
                        f"FROM {source} GROUP BY k ORDER BY k", q.params).fetchall()
    values = f"WITH {q.sql}, v AS (SELECT p.procedure AS k, p.seconds AS x FROM {source} AND p.seconds IS NOT NULL"
    pct = _sorted_percentiles(conn, values, q.params, "k", {r["k"]: r["n"] for r in rows})
    return [assemble.procedure_row(label, r["k"], r["n"], r["tickets"], r["mean"], pct.get(r["k"], {}), r["mx"])
            for r in rows]


def _rating_counts(conn: sqlite3.Connection, q: _Query, f: Filters) -> dict[str, dict[Any, dict[str, int]]]:
    """Ratings per level overall, by counter, staff member and procedure (only the filter's procedure)."""
    rows = conn.execute(f"WITH {q.sql} SELECT r.counter_id, r.staff, r.level, count(*) FROM t CROSS JOIN ratings r "
                        "ON r.ticket_id = t.id GROUP BY 1, 2, 3", q.params).fetchall()
    extra = " AND p.procedure = :procedure" if f.procedure else ""
    procedure_rows = conn.execute(
        f"WITH {q.sql} SELECT p.procedure, r.level, count(DISTINCT r.ticket_id) FROM t CROSS JOIN ratings r "
        f"ON r.ticket_id = t.id CROSS JOIN ticket_procedures p ON p.ticket_id = t.id WHERE 1{extra} "
        "GROUP BY 1, 2", q.params).fetchall()
    return assemble.rating_counts(rows, procedure_rows)
