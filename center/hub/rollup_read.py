"""A report over a long range at the hub (≥ 32 days, as at a center: center/reports/rollup_fresh.py): the
figures of center/hub/reports.py from the roll-ups (center/hub/rollup.py) instead of the tickets.

Each grouping adds up cells from two places: the month rows of the months wholly inside the range that are
up to date, and the day rows of every other day (the ends of the range, the month under way, a month a late
batch made dirty). The few combinations the day rows do not hold (a site, or hours of one service) come from
`hub_daily`, whose rows of a few days are few. Medians and p90s come from the summed histograms, as a
center computes them over a long range: within one bucket's width of the exact value.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from .cells import BOOKED, HIST, PHIST, PROC_SUMS, SUMS, add_row, added_up, percentiles
from .schema import month_bounds

LONG_DAYS = 32

_MAIN = (SUMS, ("wait_max",))
_KEY = {"all": "'all'", "center": "{a}.center", "service": "{a}.service", "hour": "{a}.hour::int",
        "day": "{a}.{day}::text"}


def is_long(f: Any) -> bool:
    return (date.fromisoformat(f.date_to) - date.fromisoformat(f.date_from)).days + 1 >= LONG_DAYS


def clean_months(conn: Any, params: dict[str, Any]) -> None:
    """Into params: (mc, mm) the (center, month)s wholly inside the range whose month rows are up to date, and
    (sc, sa, sb) each center's spans of the other days, which are read from day rows."""
    d0, d1 = date.fromisoformat(params["d0"]), date.fromisoformat(params["d1"])
    rows = conn.execute("SELECT center, month FROM hub_rollup_months WHERE center = ANY(%s) AND NOT dirty "
                        "AND month >= %s AND month <= %s", (params["centers"], d0, d1)).fetchall()
    whole = sorted((c, m) for c, m in rows if (month_bounds(m)[1] - date.resolution) <= d1)
    params["mc"], params["mm"] = [c for c, _ in whole], [m for _, m in whole]
    months: dict[str, list[date]] = {}
    for c, m in whole:
        months.setdefault(c, []).append(m)
    params["sc"], params["sa"], params["sb"] = [], [], []
    for c in params["centers"]:
        start = d0
        for m in [*months.get(c, []), None]:
            end = d1 if m is None else m - date.resolution
            if start <= end:
                params["sc"].append(c)
                params["sa"].append(start)
                params["sb"].append(end)
            if m is not None:
                start = month_bounds(m)[1]


def _scope(f: Any, key: str, a: str, *, site_col: bool = True) -> list[str]:
    """Which of a roll-up's sets answers this key under these filters ('' and -1 are "all")."""
    out = [f"{a}.hour >= 0" if key == "hour" else f"{a}.hour = -1"]
    if f.site:
        out.append(f"{a}.site = %(site)s")
        out.append(f"{a}.service = %(service)s" if f.service else f"{a}.service <> ''")
    else:
        if site_col:
            out.append(f"{a}.site = ''")
        out.append(f"{a}.service = %(service)s" if f.service else
                   f"{a}.service <> ''" if key == "service" else f"{a}.service = ''")
    return out


# The days outside the rolled-up months: each center's spans, one index range each.
_SPANS = ("JOIN unnest(%(sc)s::text[], %(sa)s::date[], %(sb)s::date[]) s(c, a, b) ON {a}.center = s.c "
          "AND {a}.{day} BETWEEN s.a AND s.b")
_ALL_DAYS = "JOIN unnest(%(centers)s::text[]) s(c) ON {a}.center = s.c AND {a}.{day} BETWEEN %(d0)s AND %(d1)s"


def _sources(f: Any, key: str, params: dict[str, Any]) -> list[tuple[str, str]]:
    """(key expression, FROM … WHERE …) of each place this key's cells come from."""
    out = []
    months = key != "day" and params["mc"]
    if months:
        out.append((_KEY[key].format(a="r", day="period"),
                    "hub_rollup r JOIN unnest(%(mc)s::text[], %(mm)s::date[]) u(c, m) ON r.center = u.c "
                    f"AND r.period = u.m WHERE r.grain = 'm' AND {' AND '.join(_scope(f, key, 'r'))}"))
    days = _SPANS if months else _ALL_DAYS
    if not f.site and not (key == "hour" and f.service):  # the day rows hold it
        out.append((_KEY[key].format(a="r", day="period"), f"hub_rollup r {days.format(a='r', day='period')} "
                    f"WHERE r.grain = 'd' AND {' AND '.join(_scope(f, key, 'r'))}"))
    else:
        where = ["true", *(f"d.{n} = %({n})s" for n in ("site", "service") if getattr(f, n))]
        out.append((_KEY[key].format(a="d", day="service_day"),
                    f"hub_daily d {days.format(a='d', day='service_day')} WHERE {' AND '.join(where)}"))
    return out


def cells(conn: Any, f: Any, params: dict[str, Any], key: str) -> dict[Any, dict[str, Any]]:
    """The figures per key, summed over the range: additive ones, wait_max and the wait histogram `h` (kept
    in params for the report's other uses: the ranking and the booked waits read the per-center cells too)."""
    cache = params.setdefault("_cells", {})  # psycopg reads only the names a query uses
    if key in cache:
        return cache[key]
    acc: dict[Any, dict[str, Any]] = {}
    cache[key] = acc
    for k, source in _sources(f, key, params):
        alias = source.split()[1]
        for row in conn.execute(f"SELECT {k}, {added_up(SUMS, (HIST,), ('wait_max',), alias)} FROM {source} "
                                "GROUP BY 1", params):
            add_row(acc.setdefault(row[0], {}), row[1:], SUMS, ("h",), ("wait_max",))
    return acc


def figures(a: dict[str, Any]) -> dict[str, Any]:
    """A cell's figures under the names reports._finish reads."""
    p = percentiles(a.get("h") or [], a.get("waited", 0), a.get("wait_max"))
    return {"issued": a.get("issued", 0), "served": a.get("served", 0), "no_show": a.get("no_show", 0),
            "wait_n": a.get("waited", 0), "wait_sum": a.get("wait_sum", 0), "sl_within": a.get("in_target", 0),
            "sl_total": a.get("sl_total", 0), "rated": a.get("rated", 0), "satisfied": a.get("satisfied", 0),
            "wait_median": p["median"], "wait_p90": p["p90"]}


def grouped(conn: Any, f: Any, params: dict[str, Any], key: str) -> dict[Any, dict[str, Any]]:
    return {k: figures(a) for k, a in cells(conn, f, params, key).items()}


def procedures(conn: Any, f: Any, params: dict[str, Any]) -> dict[Any, dict[str, Any]]:
    """Per procedure: the figures of the tickets that had it, and its own time (count, mean, median, p90)."""
    scope = ["r.site = %(site)s" if f.site else "r.site = ''"] + (["r.service = %(service)s"] if f.service else [])
    days = _SPANS if params["mc"] else _ALL_DAYS
    sources = [f"hub_rollup_proc r {days.format(a='r', day='period')} WHERE r.grain = 'd' AND {' AND '.join(scope)}"]
    if params["mc"]:
        sources.append("hub_rollup_proc r JOIN unnest(%(mc)s::text[], %(mm)s::date[]) u(c, m) ON r.center = u.c "
                       f"AND r.period = u.m WHERE r.grain = 'm' AND {' AND '.join(scope)}")
    maxes = ("wait_max", "proc_max")
    acc: dict[Any, dict[str, Any]] = {}
    for source in sources:
        for row in conn.execute(f"SELECT r.procedure, {added_up(PROC_SUMS, (HIST, PHIST), maxes, 'r')} "
                                f"FROM {source} GROUP BY 1", params):
            add_row(acc.setdefault(row[0], {}), row[1:], PROC_SUMS, ("h", "p"), maxes)
    out = {}
    for k, a in acc.items():
        out[k] = figures(a)
        if a.get("proc_n"):
            p = percentiles(a["p"], a["proc_n"], a.get("proc_max"))
            out[k].update({"proc_n": a["proc_n"], "proc_mean_s": round(a["proc_sum"] / a["proc_n"], 1),
                           "proc_median_s": None if p["median"] is None else round(p["median"], 1),
                           "proc_p90_s": None if p["p90"] is None else round(p["p90"], 1)})
    return out


def booked_waits(conn: Any, f: Any, params: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per center: booked and walk-in tickets' waits (count and sum), from the same cells."""
    return {k: {n: a.get(n, 0) for n in ("booked_n", "booked_wait_sum", "walkin_n", "walkin_wait_sum")}
            for k, a in cells(conn, f, params, "center").items()}


def booking_counts(conn: Any, f: Any, params: dict[str, Any]) -> dict[str, dict[str, int]] | None:
    """Per center: bookings made, kept, cancelled, no-show and late, from the rows of all sites (None with a
    site filter: those rows are not kept per site, and one site's bookings are few enough to count)."""
    if f.site:
        return None
    scope = "r.site = '' AND r.hour = -1 AND " + ("r.service = %(service)s" if f.service else "r.service = ''")
    sums = ", ".join(f"sum(r.{c})" for c in BOOKED)
    days = _SPANS if params["mc"] else _ALL_DAYS
    sources = [f"hub_rollup r {days.format(a='r', day='period')} WHERE r.grain = 'd' AND {scope}"]
    if params["mc"]:
        sources.append("hub_rollup r JOIN unnest(%(mc)s::text[], %(mm)s::date[]) u(c, m) ON r.center = u.c "
                       f"AND r.period = u.m WHERE r.grain = 'm' AND {scope}")
    out: dict[str, dict[str, int]] = {}
    for source in sources:
        for k, *v in conn.execute(f"SELECT r.center, {sums} FROM {source} GROUP BY 1", params):
            acc = out.setdefault(k, dict.fromkeys(BOOKED, 0))
            for c, x in zip(BOOKED, v, strict=True):
                acc[c] += x or 0
    return {k: v for k, v in out.items() if v["b_made"]}
