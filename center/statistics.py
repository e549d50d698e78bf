"""Figures managers read: counts, waiting and service times, service level, satisfaction, arrivals.

Everything is computed by SQL aggregation over the raw tickets, ticket_procedures and ratings rows of a
date range (local service days), filtered by site, service, procedure, counter and staff member, and
grouped by one dimension. Percentiles use linear interpolation between closest ranks (numpy's
default): position (n − 1)·q in the sorted values; only the two rows around that position per group
leave SQLite. Hours of day and weekdays are local (config timezone).

Definitions (see docs/statistics.md):
- issued: queue entries that are not the continuation of a transfer (one per printed ticket);
- served / no_show / cancelled / transferred / left: entries whose final status is that;
- waiting time: first call − issue (wait_s, entries that were called); service time: finish − start of
  served entries; service time per procedure: ticket_procedures.seconds;
- service level: entries called within their service's target wait, over entries called plus those
  that ended without a call (left, cancelled at closing): an abandoned citizen missed the target.
"""

from __future__ import annotations

import bisect
import math
import sqlite3
from collections import defaultdict
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from . import erlang
from .clock import from_iso, to_iso
from .config import Config
from .errors import Invalid

GROUPS = ("none", "site", "service", "procedure", "counter", "staff", "hour", "weekday", "day")
STATUSES = ("served", "no_show", "cancelled", "transferred", "left")
WEEKDAYS_VI = ("Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ nhật")
WEEKDAYS_EN = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
PAUSE_ALERT_MIN = 15
PRINT_ALERT_MIN = 60
MAX_RANGE_DAYS = 3700
USE_RANK_INDEXES = True  # percentiles by index walks where the filter allows (tests compare both paths)

_KEYS = {
    "none": "'all'",
    "site": "t.site",
    "service": "t.service",
    "counter": "t.counter_id",
    "staff": "t.staff",
    "hour": "t.hour",
    "weekday": "t.weekday",
    "day": "t.service_day",
}


@dataclass
class Filters:
    date_from: str
    date_to: str
    site: str | None = None
    service: str | None = None
    procedure: str | None = None
    counter: str | None = None
    staff: str | None = None
    group: str = "none"

    @classmethod
    def parse(cls, args: Any, *, today: str) -> Filters:
        """From query arguments (a dict-like); empty strings mean no filter. Checks dates and group."""

        def get(name: str) -> str | None:
            v = args.get(name)
            return v.strip() if isinstance(v, str) and v.strip() else None

        f = cls(date_from=get("from") or today, date_to=get("to") or get("from") or today, site=get("site"),
                service=get("service"), procedure=get("procedure"), counter=get("counter"), staff=get("staff"),
                group=get("group") or "none")
        f.check()
        return f

    def check(self) -> None:
        try:
            d0, d1 = date.fromisoformat(self.date_from), date.fromisoformat(self.date_to)
        except (TypeError, ValueError):
            raise Invalid("Ngày không hợp lệ (định dạng YYYY-MM-DD)", "Dates must be YYYY-MM-DD",
                          code="bad_date") from None
        if d1 < d0:
            raise Invalid("Ngày kết thúc trước ngày bắt đầu", "The end date is before the start date",
                          code="bad_range")
        if (d1 - d0).days > MAX_RANGE_DAYS:
            raise Invalid("Khoảng thời gian quá dài (tối đa 10 năm)", "Range too long (10 years at most)",
                          code="bad_range")
        if self.group not in GROUPS:
            raise Invalid("Cách nhóm không hợp lệ", f"group must be one of {', '.join(GROUPS)}", code="bad_group")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Query:
    """The filtered ticket rows as a CTE `t`, with local hour and weekday."""

    sql: str
    params: dict[str, Any] = field(default_factory=dict)


def utc_offset_minutes(config: Config, day: str) -> int:
    """The timezone's UTC offset on a local date (fixed per report: Vietnam has no DST)."""
    moment = datetime.fromisoformat(day + "T12:00:00").replace(tzinfo=config.tz)
    off = moment.utcoffset() or timedelta(0)
    return int(off.total_seconds() // 60)


def _base(config: Config, f: Filters) -> _Query:
    off = utc_offset_minutes(config, f.date_from)
    params: dict[str, Any] = {"d0": f.date_from, "d1": f.date_to, "off": f"{off:+d} minutes"}
    where = ["t.service_day BETWEEN :d0 AND :d1"]
    for name, column in (("site", "site"), ("service", "service"), ("counter", "counter_id"), ("staff", "staff")):
        value = getattr(f, name)
        if value:
            where.append(f"t.{column} = :{name}")
            params[name] = value
    if f.procedure:
        where.append("EXISTS (SELECT 1 FROM ticket_procedures p WHERE p.ticket_id = t.id AND p.procedure = :procedure)")
        params["procedure"] = f.procedure
    if off % 60 == 0:  # whole-hour offset (Vietnam): cheaper than strftime on every row
        hour = f"((CAST(substr(t.issued_at, 12, 2) AS INTEGER) + {off // 60 + 24}) % 24)"
    else:
        hour = "CAST(strftime('%H', t.issued_at, :off) AS INTEGER)"
    targets = " ".join(f"WHEN '{code}' THEN {float(sv.target_wait_min) * 60!r}" for code, sv in config.services.items()
                       if code.replace("-", "").replace("_", "").isalnum())
    target = f"CASE t.service {targets} ELSE 900.0 END" if targets else "900.0"
    sql = (
        "t AS (SELECT t.id, t.site, t.service, t.counter_id, t.staff, t.status, t.service_day, t.transferred_from, "
        f"t.wait_s, t.service_s, {hour} AS hour, "
        "(CAST(strftime('%w', t.service_day) AS INTEGER) + 6) % 7 AS weekday, "
        f"{target} AS target_s "
        f"FROM tickets t WHERE {' AND '.join(where)})")
    return _Query(sql, params)


def _counter_site(conn: sqlite3.Connection, config: Config, counter_id: str) -> str | None:
    """The site a counter belongs to (config.toml, else the counters table of counters configured before): a
    counter's report then reads only that site's roll-ups, the narrow per-site path."""
    counter = config.counter(counter_id)
    if counter:
        return counter.site
    row = conn.execute("SELECT site FROM counters WHERE id = ?", (counter_id,)).fetchone()
    return row[0] if row else None


def _only_site(conn: sqlite3.Connection, config: Config, f: Filters, last: str) -> str | None:
    """The one site whose roll-ups of [from, last] hold the filter's counter / staff member (any site when none
    does; None when several do): the report then reads only that site's roll-ups. Every site's days are rolled
    up (checked before), so the other sites' roll-ups have no row of it: the same sums."""
    plan = _Plan(conn, config, Filters(f.date_from, last), f.date_from, last)
    params = dict(plan.params)
    cond = []
    for name, column in (("counter", "counter_id"), ("staff", "staff")):
        if getattr(f, name):
            cond.append(f"{column} = :only_{name}")
            params[f"only_{name}"] = getattr(f, name)
    sites: set[str] = set()
    for table, where in plan.arms("rollup_cells", "rollup_m_keys"):
        sites.update(r[0] for r in conn.execute(f"SELECT DISTINCT site FROM {table} WHERE {where} AND "  # noqa: S608
                                                f"{' AND '.join(cond)}", params))
        if len(sites) > 1:
            return None
    if sites:
        return sites.pop()
    every = _all_sites(conn, config)
    return every[0] if every else None


def _interp(points: dict[int, float], n: int, q: float) -> float | None:
    if n == 0:
        return None
    pos = (n - 1) * q
    lo = math.floor(pos)
    a = points.get(lo)
    b = points.get(min(lo + 1, n - 1), a)
    if a is None or b is None:
        return None
    return a + (pos - lo) * (b - a)


def _ranks(n: int) -> set[int]:
    return {i for q in (0.5, 0.9) for i in (math.floor((n - 1) * q), min(math.floor((n - 1) * q) + 1, n - 1))}


def _sorted_percentiles(conn: sqlite3.Connection, values_sql: str, params: dict[str, Any], key: str | None,
                        sizes: dict[Any, int]) -> dict[Any, dict[str, float | None]]:
    """Median and p90 per group; `values_sql` yields columns k, x (x not null).

    The group sizes are known from the aggregate pass, so one ranking pass returns only the rows at the
    needed ranks (median and p90 lie between two neighbouring ranks: linear interpolation).
    """
    wanted = {k: _ranks(n) for k, n in sizes.items() if n}
    if not wanted:
        return {}
    ranks = sorted(set().union(*wanted.values()))
    part = "PARTITION BY k " if key else ""
    sql = (f"{values_sql}) SELECT k, rn, x FROM (SELECT k, x, row_number() OVER ({part}ORDER BY x) - 1 AS rn "
           f"FROM v) WHERE rn IN ({','.join(str(r) for r in ranks)})")
    points: dict[Any, dict[int, float]] = defaultdict(dict)
    for k, rn, x in conn.execute(sql, params).fetchall():
        if rn in wanted.get(k, ()):
            points[k][rn] = x
    return {k: {"median": _interp(points[k], sizes[k], 0.5), "p90": _interp(points[k], sizes[k], 0.9)}
            for k in wanted}


_RANK_INDEX = {
    ("w", ()): "tickets_wait_rank_all", ("w", ("site",)): "tickets_wait_rank",
    ("w", ("site", "service")): "tickets_wait_rank_service",
    ("s", ()): "tickets_service_rank_all", ("s", ("site",)): "tickets_service_rank",
    ("s", ("site", "service")): "tickets_service_rank_service",
}


def _indexed_percentiles(conn: sqlite3.Connection, metric: str, eq: list[tuple[str, Any]], d0: str, d1: str,
                         n: int) -> dict[str, float | None]:
    """Median and p90 by walking a value-ordered index: LIMIT 2 OFFSET k, no sort (n from the aggregates)."""
    if not n:
        return {"median": None, "p90": None}
    index = _RANK_INDEX[(metric, tuple(c for c, _ in eq))]
    x = "wait_s" if metric == "w" else "service_s"
    cond = [f"{c} = ?" for c, _ in eq] + ([] if metric == "w" else ["status = 'served'"])
    cond += [f"{x} IS NOT NULL", "service_day BETWEEN ? AND ?"]
    sql = f"SELECT {x} FROM tickets INDEXED BY {index} WHERE {' AND '.join(cond)} ORDER BY {x} LIMIT 2 OFFSET ?"
    points: dict[int, float] = {}
    for lo in sorted({math.floor((n - 1) * 0.5), math.floor((n - 1) * 0.9)}):
        for i, row in enumerate(conn.execute(sql, (*[v for _, v in eq], d0, d1, lo)).fetchall()):
            points[lo + i] = row[0]
    return {"median": _interp(points, n, 0.5), "p90": _interp(points, n, 0.9)}


def _order_key(k: Any) -> tuple[int, Any]:
    """SQLite's ORDER BY for keys: NULL first, then numbers, then text."""
    if k is None:
        return (0, 0)
    return (1, k) if isinstance(k, int | float) else (2, k)


def _r(x: float | None, digits: int = 1) -> float | None:
    return None if x is None else round(float(x), digits)


def _share(a: int | None, b: int | None) -> float | None:
    return round(a / b, 4) if b else None


def whole_seconds(seconds: float) -> int:
    """Seconds rounded half up (59.5 → 60): the same rule as xephang.duration in center/static/js/live.js."""
    return math.floor(seconds + 0.5)


def fmt_duration(seconds: float | None) -> str:
    """A duration as m:ss, or h:mm:ss from an hour, for every screen and printed report.

    The total is rounded to whole seconds before it is split, so 1,619.6 s reads "27:00", never "26:60";
    JavaScript twin: xephang.duration (live.js), checked against this one in tests/test_manager_ops_browser.py."""
    if seconds is None or not math.isfinite(seconds):
        return "—"
    total = whole_seconds(max(float(seconds), 0.0))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Labels:
    """Readable names for codes, from config.toml (and the codes themselves for anything unknown)."""

    def __init__(self, config: Config, lang: str = "vi"):
        self.config = config
        self.lang = lang

    def __call__(self, dim: str, key: Any) -> str:
        en = self.lang == "en"
        c = self.config
        if key is None:
            return "—"
        if dim == "site" and key in c.sites:
            return c.sites[key].name_en if en else c.sites[key].name
        if dim == "service" and key in c.services:
            return c.services[key].name_en if en else c.services[key].name
        if dim == "counter":
            counter = c.counter(key)
            return counter.name if counter else str(key)
        if dim == "procedure":
            for sv in c.services.values():
                p = sv.procedure(key)
                if p:
                    return p.name_en if en else p.name
        if dim == "hour":
            return f"{int(key):02d}:00–{(int(key) + 1) % 24:02d}:00"
        if dim == "weekday":
            return (WEEKDAYS_EN if en else WEEKDAYS_VI)[int(key)]
        if dim == "none":
            return "All" if en else "Tất cả"
        return str(key)


# Additive figures of a group of ticket entries: merged by summing (max for the maxima).
_SUMS = ("issued", "entries", *STATUSES, "open", "wait_n", "wait_sum", "service_n", "service_sum", "sl_within",
         "sl_total")
_AGG = (
    "sum(t.transferred_from IS NULL) AS issued, count(*) AS entries, "
    + ", ".join(f"sum(t.status = '{s}') AS {s}" for s in STATUSES) + ", "
    "sum(t.status IN ('waiting','called','serving')) AS open, "
    "count(t.wait_s) AS wait_n, total(t.wait_s) AS wait_sum, max(t.wait_s) AS wait_max, "
    "sum(t.status = 'served' AND t.service_s IS NOT NULL) AS service_n, "
    "total(CASE WHEN t.status = 'served' THEN t.service_s END) AS service_sum, "
    "max(CASE WHEN t.status = 'served' THEN t.service_s END) AS service_max, "
    "sum(t.wait_s IS NOT NULL AND t.wait_s <= t.target_s) AS sl_within, "
    "sum(t.wait_s IS NOT NULL OR t.status IN ('left','cancelled')) AS sl_total")


_NS = len(_SUMS)


def _add_vec(acc: list[Any], v: Any) -> None:
    """Adds a row of _SUMS then wait_max, service_max (positional: the (day × hour) pass has many rows)."""
    for i in range(_NS):
        x = v[i]
        if x:
            acc[i] += x
    for i in (_NS, _NS + 1):
        x = v[i]
        if x is not None and (acc[i] is None or x > acc[i]):
            acc[i] = x


def _new_vec() -> list[Any]:
    return [0] * _NS + [None, None]


def _vec_dict(acc: list[Any]) -> dict[str, Any]:
    out = dict(zip(_SUMS, acc[:_NS], strict=True))
    out["wait_max"], out["service_max"] = acc[_NS], acc[_NS + 1]
    return out


def _merge(acc: dict[str, Any], row: dict[str, Any]) -> None:
    for k in _SUMS:
        acc[k] = acc.get(k, 0) + (row[k] or 0)
    for k in ("wait_max", "service_max"):
        if row[k] is not None and (acc.get(k) is None or row[k] > acc[k]):
            acc[k] = row[k]
        acc.setdefault(k, None)


def _finish(key: Any, label: str, acc: dict[str, Any], pct: dict[str, dict[str, float | None]] | None = None
            ) -> dict[str, Any]:
    w = (pct or {}).get("w", {})
    s = (pct or {}).get("s", {})
    return {
        "key": key, "label": label,
        "issued": acc.get("issued", 0), "entries": acc.get("entries", 0),
        **{st: acc.get(st, 0) for st in STATUSES}, "open": acc.get("open", 0),
        "wait_n": acc.get("wait_n", 0),
        "wait_mean_s": _r(acc["wait_sum"] / acc["wait_n"]) if acc.get("wait_n") else None,
        "wait_median_s": _r(w.get("median")), "wait_p90_s": _r(w.get("p90")), "wait_max_s": _r(acc.get("wait_max")),
        "service_n": acc.get("service_n", 0),
        "service_mean_s": _r(acc["service_sum"] / acc["service_n"]) if acc.get("service_n") else None,
        "service_median_s": _r(s.get("median")), "service_p90_s": _r(s.get("p90")),
        "service_max_s": _r(acc.get("service_max")),
        "sl_within": acc.get("sl_within", 0), "sl_total": acc.get("sl_total", 0),
        "service_level": _share(acc.get("sl_within"), acc.get("sl_total")),
        "no_show_rate": _share(acc.get("no_show"), acc.get("entries")),
    }


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
        return out
    q = _base(config, f)
    label = Labels(config, lang)
    group = f.group
    out: dict[str, Any] = {"filters": f.as_dict(), "generated_at": to_iso(datetime.now(UTC))}
    cells = [dict(r) for r in conn.execute(
        f"WITH {q.sql} SELECT t.service_day AS day, t.hour AS hour, {_AGG} FROM t GROUP BY 1, 2", q.params)]
    weekday_of = {d: date.fromisoformat(d).weekday() for d in {c["day"] for c in cells}}
    total: dict[str, Any] = {}
    by_day: dict[str, dict[str, Any]] = defaultdict(dict)
    heat = [[0] * 24 for _ in range(7)]
    day_weekday: dict[str, int] = {}
    grouped: dict[Any, dict[str, Any]] = defaultdict(dict)
    for c in cells:
        c["weekday"] = weekday_of[c["day"]]
        _merge(total, c)
        _merge(by_day[c["day"]], c)
        heat[c["weekday"]][c["hour"]] += c["issued"] or 0
        day_weekday[c["day"]] = c["weekday"]
        if group in ("day", "hour", "weekday"):
            _merge(grouped[c[group]], c)
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
    out["summary"] = _finish("all", label("none", "all"), total,
                             {"w": pct.get(("w", "all"), {}), "s": pct.get(("s", "all"), {})})
    out["procedures"] = _procedure_rows(conn, q, f, label)
    if group == "procedure":
        out["rows"] = out["procedures"]
    elif group == "none":
        out["rows"] = [out["summary"]]
    else:
        out["rows"] = [_finish(k, label(group, k), grouped[k], {"w": pct.get(("gw", k), {}),
                                                                "s": pct.get(("gs", k), {})})
                       for k in sorted(grouped, key=_order_key)]
    rating = config.rating
    out["rating_levels"] = [{"code": lv.code, "name": lv.name, "name_en": lv.name_en, "satisfied": lv.satisfied}
                            for lv in rating.levels]
    out["satisfaction"] = _satisfaction(conn, q, f, label, {lv.code for lv in rating.levels if lv.satisfied})
    days = [0] * 7
    for d, wd in day_weekday.items():
        days[wd] += 1 if d else 0
    _add_heatmap_and_trend(out, heat, days, by_day)
    return out


def _procedure_rows(conn: sqlite3.Connection, q: _Query, f: Filters, label: Labels) -> list[dict[str, Any]]:
    """Service time per procedure: count, mean, median, p90 and max (one aggregate, one sorted column)."""
    extra = " AND p.procedure = :procedure" if f.procedure else ""
    source = f"t CROSS JOIN ticket_procedures p ON p.ticket_id = t.id WHERE t.status = 'served'{extra}"
    rows = conn.execute(f"WITH {q.sql} SELECT p.procedure AS k, count(p.seconds) AS n, "
                        "count(DISTINCT p.ticket_id) AS tickets, avg(p.seconds) AS mean, max(p.seconds) AS mx "
                        f"FROM {source} GROUP BY k ORDER BY k", q.params).fetchall()
    values = f"WITH {q.sql}, v AS (SELECT p.procedure AS k, p.seconds AS x FROM {source} AND p.seconds IS NOT NULL"
    pct = _sorted_percentiles(conn, values, q.params, "k", {r["k"]: r["n"] for r in rows})
    return [{"key": r["k"], "label": label("procedure", r["k"]), "n": r["n"], "tickets": r["tickets"],
             "service_mean_s": _r(r["mean"]), "service_median_s": _r(pct.get(r["k"], {}).get("median")),
             "service_p90_s": _r(pct.get(r["k"], {}).get("p90")), "service_max_s": _r(r["mx"])} for r in rows]


def _satisfaction(conn: sqlite3.Connection, q: _Query, f: Filters, label: Labels,
                  satisfied: set[str]) -> dict[str, list[dict[str, Any]]]:
    """Share of each rating level, and of satisfied citizens, overall, by counter, staff member and procedure."""
    counts: dict[str, dict[Any, dict[str, int]]] = {d: defaultdict(dict) for d in ("none", "counter", "staff")}
    for counter, staff, level, n in conn.execute(
            f"WITH {q.sql} SELECT r.counter_id, r.staff, r.level, count(*) FROM t CROSS JOIN ratings r "
            "ON r.ticket_id = t.id GROUP BY 1, 2, 3", q.params):
        for dim, k in (("none", "all"), ("counter", counter), ("staff", staff)):
            counts[dim][k][level] = counts[dim][k].get(level, 0) + n
    extra = " AND p.procedure = :procedure" if f.procedure else ""
    counts["procedure"] = defaultdict(dict)
    for proc, level, n in conn.execute(
            f"WITH {q.sql} SELECT p.procedure, r.level, count(DISTINCT r.ticket_id) FROM t CROSS JOIN ratings r "
            f"ON r.ticket_id = t.id CROSS JOIN ticket_procedures p ON p.ticket_id = t.id WHERE 1{extra} "
            "GROUP BY 1, 2", q.params):
        counts["procedure"][proc][level] = n

    return _satisfaction_tables(counts, satisfied, label)


# ---------------------------------------------------------------------- staffing (Erlang C)


def open_counter_seconds(conn: sqlite3.Connection, config: Config, site: str, d0: str, d1: str,
                         now: datetime | None = None) -> dict[tuple[str, int], float]:
    """Counter-seconds open and not paused, per (local day, local hour), from counter_events."""
    off = timedelta(minutes=utc_offset_minutes(config, d0))
    start = datetime.fromisoformat(d0 + "T00:00:00").replace(tzinfo=UTC) - off
    end = datetime.fromisoformat(d1 + "T00:00:00").replace(tzinfo=UTC) - off + timedelta(days=1)
    cap = min(end, now or datetime.now(UTC))
    out: dict[tuple[str, int], float] = defaultdict(float)
    state: dict[str, datetime | None] = {}
    rows = conn.execute("SELECT counter_id, at, kind FROM counter_events WHERE site = ? AND at >= ? AND at < ? "
                        "ORDER BY at, id", (site, to_iso(start - timedelta(days=1)), to_iso(end))).fetchall()

    def add(a: datetime, b: datetime) -> None:
        a, b = max(a, start), min(b, end)
        while a < b:
            local = a + off
            nxt = (local.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)) - off
            stop = min(b, nxt)
            out[(local.date().isoformat(), local.hour)] += (stop - a).total_seconds()
            a = stop

    for counter_id, at, kind in rows:
        moment = from_iso(at)
        since = state.get(counter_id)
        if kind in ("open", "resume"):
            if since is None:
                state[counter_id] = moment
        elif kind in ("pause", "close", "release"):
            if since is not None:
                add(since, moment)
            state[counter_id] = None
    for since in state.values():
        if since is not None:  # still open: count up to now (or the range's end), never into the future
            add(since, max(cap, since))
    return out


STAFFING_WAIT_MIN = (1.0, 480.0)  # a target wait between one minute and a working day


def check_staffing_targets(target_sl: float, target_wait_min: float | None) -> None:
    """The targets of a staffing question, refused with the reason before any work: a negative wait overflowed
    exp() in Erlang C and a NaN one asked for the 500-counter ceiling of every service."""
    if not (math.isfinite(target_sl) and 0 < target_sl < 1):
        raise Invalid("Mức phục vụ mục tiêu phải lớn hơn 0 và nhỏ hơn 1 (ví dụ 0,8)",
                      "target_sl must be a number above 0 and below 1 (e.g. 0.8)", code="bad_target")
    low, high = STAFFING_WAIT_MIN
    if target_wait_min is not None and not (math.isfinite(target_wait_min) and low <= target_wait_min <= high):
        raise Invalid(f"Thời gian chờ mục tiêu phải từ {low:g} đến {high:g} phút",
                      f"target_wait_min must be between {low:g} and {high:g} minutes", code="bad_target")


def staffing(conn: sqlite3.Connection, config: Config, f: Filters, *, target_sl: float = 0.8,
             target_wait_min: float | None = None, now: datetime | None = None) -> dict[str, Any]:
    """Counters needed per local hour (Erlang C), pooled and dedicated, beside what the site had and got."""
    site_code = f.site or next(iter(config.sites))
    if site_code not in config.sites:
        raise Invalid(f"Không có điểm tiếp nhận '{site_code}'", f"Unknown site '{site_code}'", code="unknown_site")
    check_staffing_targets(target_sl, target_wait_min)
    site = config.sites[site_code]
    fs = Filters(f.date_from, f.date_to, site=site_code, service=f.service)
    q = _base(config, fs)
    days = conn.execute(f"WITH {q.sql} SELECT count(DISTINCT service_day) FROM t", q.params).fetchone()[0]
    aht: dict[str, float] = {}
    for code in site.services:
        aht[code] = config.services[code].default_service_min * 60
    for code, mean in conn.execute(f"WITH {q.sql} SELECT service, avg(service_s) FROM t WHERE status = 'served' "
                                   "AND service_s > 0 GROUP BY service", q.params):
        if mean:
            aht[code] = mean
    arrivals: dict[int, dict[str, int]] = defaultdict(dict)
    for hour, service, n in conn.execute(f"WITH {q.sql} SELECT hour, service, count(*) FROM t GROUP BY 1, 2",
                                         q.params):
        arrivals[hour][service] = n
    measured = {h: (w, n) for h, w, n in conn.execute(
        f"WITH {q.sql} SELECT hour, sum(wait_s IS NOT NULL AND wait_s <= target_s), "
        "sum(wait_s IS NOT NULL OR status IN ('left','cancelled')) FROM t GROUP BY 1", q.params)}
    open_s = open_counter_seconds(conn, config, site_code, f.date_from, f.date_to, now)
    open_by_hour: dict[int, float] = defaultdict(float)
    for (_day, hour), secs in open_s.items():
        open_by_hour[hour] += secs
    hours = []
    for hour in sorted(set(arrivals) | set(open_by_hour)):
        per = {s: n / days for s, n in arrivals.get(hour, {}).items()} if days else {}
        lam = sum(per.values())
        targets = {s: (target_wait_min if target_wait_min is not None else config.services[s].target_wait_min) * 60
                   for s in per if s in config.services}
        if lam > 0:
            pooled_aht = sum(per[s] * aht.get(s, 300.0) for s in per) / lam
            pooled_t = sum(per[s] * targets.get(s, 900.0) for s in per) / lam
            pooled = erlang.counters_needed(lam, pooled_aht, pooled_t, target_sl)
        else:
            pooled_aht, pooled_t, pooled = 0.0, 0.0, erlang.counters_needed(0, 0, 0, target_sl)
        dedicated = {s: erlang.counters_needed(per[s], aht.get(s, 300.0), targets.get(s, 900.0), target_sl)
                     for s in sorted(per)}
        had = open_by_hour.get(hour, 0.0) / 3600 / days if days else 0.0
        within, total = measured.get(hour, (0, 0))
        had_n = math.floor(had + 1e-9)
        predicted = erlang.service_level(had_n, lam * pooled_aht / 3600, pooled_aht, pooled_t) if lam else None
        hours.append({
            "hour": hour, "label": f"{hour:02d}:00–{(hour + 1) % 24:02d}:00",
            "arrivals_per_hour": round(lam, 2), "aht_s": _r(pooled_aht), "target_wait_s": _r(pooled_t),
            "load": round(lam * pooled_aht / 3600, 3),
            "pooled": pooled.counters, "pooled_service_level": round(pooled.service_level, 4),
            "pooled_mean_wait_s": _r(pooled.mean_wait_s),
            "dedicated": sum(d.counters for d in dedicated.values()),
            "dedicated_by_service": {s: d.counters for s, d in dedicated.items()},
            "had": round(had, 2), "had_predicted_service_level": _r(predicted, 4),
            "measured_service_level": _share(within, total), "measured_n": total or 0,
        })
    return {"site": site_code, "from": f.date_from, "to": f.date_to, "days": days, "target_sl": target_sl,
            "aht_s": {s: _r(v) for s, v in aht.items()}, "hours": hours}


# ---------------------------------------------------------------------- live overview


def live_alerts(conn: sqlite3.Connection, config: Config, state: dict[str, Any], now: datetime) -> list[dict[str, Any]]:
    """Alerts for the live overview: citizens waiting for a service no open counter serves (priority ones named
    first), services past target, counters paused too long, failed prints."""
    alerts: list[dict[str, Any]] = []
    unserved = []
    for s in state["services"]:
        if s["waiting"] and not any(c["status"] == "open" and s["code"] in c["services"] for c in state["counters"]):
            unserved.append(s)
    for s in sorted(unserved, key=lambda s: -s["priority_waiting"]):
        p = s["priority_waiting"]
        alerts.append({"kind": "unserved", "service": s["code"], "waiting": s["waiting"], "priority_waiting": p,
                       "message": f"{s['name']}: {s['waiting']} người đang chờ"
                                  + (f", trong đó {p} người ưu tiên" if p else "")
                                  + ", nhưng không có quầy nào đang mở phục vụ dịch vụ này",
                       "message_en": f"{s['name_en']}: {s['waiting']} waiting"
                                     + (f", {p} of them priority" if p else "")
                                     + ", but no open counter serves this service"})
    for s in state["services"]:
        if s["waiting"] and s["longest_wait_s"] > s["target_wait_min"] * 60:
            alerts.append({"kind": "wait", "service": s["code"],
                           "message": f"{s['name']}: người chờ lâu nhất {s['longest_wait_s'] // 60} phút "
                                      f"(mục tiêu {s['target_wait_min']:g} phút)",
                           "message_en": f"{s['name_en']}: longest wait {s['longest_wait_s'] // 60} min "
                                         f"(target {s['target_wait_min']:g} min)"})
    for c in state["counters"]:
        if c["status"] == "paused" and c.get("since"):
            minutes = (now - from_iso(c["since"])).total_seconds() / 60
            if minutes > PAUSE_ALERT_MIN:
                alerts.append({"kind": "pause", "counter": c["id"],
                               "message": f"{c['name']} tạm dừng {int(minutes)} phút ({c.get('pause_reason') or ''})",
                               "message_en": f"{c['name']} paused for {int(minutes)} min"})
    site = config.sites.get(state["site"])
    names = {k.id: k.name for k in site.kiosks} if site else {}
    kiosks = list(names)
    if kiosks:
        since = to_iso(now - timedelta(minutes=PRINT_ALERT_MIN))
        marks = ",".join("?" * len(kiosks))
        for kiosk, n, last in conn.execute(
                f"SELECT kiosk, count(*), max(updated_at) FROM print_jobs j WHERE kiosk IN ({marks}) "
                "AND status = 'failed' AND updated_at >= ? AND NOT EXISTS (SELECT 1 FROM print_jobs o WHERE "
                "o.kiosk = j.kiosk AND o.status = 'printed' AND o.updated_at > j.updated_at) GROUP BY kiosk",
                (*kiosks, since)):
            name = names[kiosk]  # the configured name staff know, not the id
            alerts.append({"kind": "printer", "kiosk": kiosk, "kiosk_name": name, "at": last,
                           "message": f"Máy in {name} lỗi ({n} lần in hỏng)",
                           "message_en": f"Printer of {name} failed ({n} failed prints)"})
    return alerts


def today_figures(conn: sqlite3.Connection, config: Config, site: str, day: str) -> dict[str, Any]:
    """Today at a glance, with the report's definitions (service level counts abandoned citizens as missed;
    the satisfied share uses the configured rating levels)."""
    q = _base(config, Filters(day, day, site=site))
    row = conn.execute(
        f"WITH {q.sql} SELECT sum(t.transferred_from IS NULL), sum(t.status = 'served'), sum(t.status = 'no_show'), "
        "avg(t.wait_s), sum(t.wait_s IS NOT NULL AND t.wait_s <= t.target_s), "
        "sum(t.wait_s IS NOT NULL OR t.status IN ('left','cancelled')) FROM t", q.params).fetchone()
    happy = {lv.code for lv in config.rating.levels if lv.satisfied}
    rated = satisfied = 0
    for level, n in conn.execute(f"WITH {q.sql} SELECT r.level, count(*) FROM t CROSS JOIN ratings r "
                                 "ON r.ticket_id = t.id GROUP BY 1", q.params):
        rated += n
        satisfied += n if level in happy else 0
    return {"issued": row[0] or 0, "served": row[1] or 0, "no_show": row[2] or 0, "wait_mean_s": _r(row[3]),
            "service_level": _share(row[4], row[5]), "rated": rated, "satisfied_share": _share(satisfied, rated)}


def live_overview(engine: Any, site: str) -> dict[str, Any]:
    """Queue state with staff names, how long each counter has served its citizen, and alerts."""
    state = engine.queue_state(site, private=True)
    now = engine.clock()
    for c in state["counters"]:
        t = c.get("ticket")
        started = (t or {}).get("started_at") or (t or {}).get("last_called_at")
        c["busy_s"] = round((now - from_iso(started)).total_seconds()) if started else None
        c["since_s"] = round((now - from_iso(c["since"])).total_seconds()) if c.get("since") else None
    with engine.store.read() as conn:
        state["alerts"] = live_alerts(conn, engine.config, state, now)
        state["today"] = today_figures(conn, engine.config, site, state["service_day"])
    state["longest_wait_s"] = max((s["longest_wait_s"] for s in state["services"]), default=0)
    return state


# ---------------------------------------------------------------------- export


COLUMNS = [
    ("label", "Nhóm", "Group"), ("issued", "Số cấp", "Issued"), ("served", "Đã phục vụ", "Served"),
    ("no_show", "Vắng mặt", "No-show"), ("cancelled", "Hủy khi hết giờ", "Cancelled at closing"),
    ("transferred", "Đã chuyển", "Transferred"), ("left", "Rời đi", "Left"),
    ("wait_mean_s", "Chờ TB (giây)", "Wait mean (s)"), ("wait_median_s", "Chờ trung vị (giây)", "Wait median (s)"),
    ("wait_p90_s", "Chờ P90 (giây)", "Wait p90 (s)"), ("wait_max_s", "Chờ tối đa (giây)", "Wait max (s)"),
    ("service_mean_s", "Phục vụ TB (giây)", "Service mean (s)"),
    ("service_median_s", "Phục vụ trung vị (giây)", "Service median (s)"),
    ("service_p90_s", "Phục vụ P90 (giây)", "Service p90 (s)"),
    ("service_max_s", "Phục vụ tối đa (giây)", "Service max (s)"),
    ("service_level", "Mức phục vụ (tỉ lệ gọi đúng hạn)", "Service level"),
]
PROC_COLUMNS = [
    ("label", "Thủ tục", "Procedure"), ("key", "Mã", "Code"), ("n", "Số lượt", "Count"),
    ("service_mean_s", "Phục vụ TB (giây)", "Service mean (s)"),
    ("service_median_s", "Phục vụ trung vị (giây)", "Service median (s)"),
    ("service_p90_s", "Phục vụ P90 (giây)", "Service p90 (s)"),
    ("service_max_s", "Phục vụ tối đa (giây)", "Service max (s)"),
]


SAT_DIMENSIONS = {"overall": ("Tổng", "Overall"), "by_counter": ("Theo quầy", "By counter"),
                  "by_staff": ("Theo cán bộ", "By staff member"), "by_procedure": ("Theo thủ tục", "By procedure")}
# (key, Vietnamese, English) of every export section: what a manager reads in the CSV and the XLSX sheets.
SECTIONS = {"summary": ("Tổng hợp", "summary"), "rows": ("Theo nhóm", "rows"), "procedures": ("Thủ tục", "procedures"),
            "satisfaction": ("Hài lòng", "satisfaction"), "arrivals": ("Lượt đến theo giờ", "arrivals"),
            "trend": ("Theo ngày", "trend")}
SAT_COLUMNS = [("Theo", "By"), ("Nhóm", "Group"), ("Mức đánh giá", "Rating level"), ("Số lượt", "Ratings"),
               ("Tổng lượt đánh giá", "Total ratings"), ("Tỉ lệ", "Share")]
TREND_COLUMNS = [("key", "Ngày", "Day"), ("issued", "Số cấp", "Issued"), ("served", "Đã phục vụ", "Served"),
                 ("no_show", "Vắng mặt", "No-show"), ("wait_mean_s", "Chờ TB (giây)", "Wait mean (s)"),
                 ("service_level", "Mức phục vụ (tỉ lệ gọi đúng hạn)", "Service level")]


def export_tables(rep: dict[str, Any], lang: str = "vi") -> list[tuple[str, list[str], list[list[Any]]]]:
    """The report as (section name, header, rows) tables: the same numbers as the JSON, with Vietnamese (or
    English) names for sections, columns and rating levels. Durations stay numbers of seconds: a
    spreadsheet computes with them, and "26:00" in a CSV would be read as 26 hours."""
    en = lang == "en"
    i = 2 if en else 1

    def name(key: str) -> str:
        return SECTIONS[key][1 if en else 0]

    rows_cols = PROC_COLUMNS if rep["filters"]["group"] == "procedure" else COLUMNS
    tables = [
        (name("summary"), [c[i] for c in COLUMNS], [[rep["summary"].get(c[0]) for c in COLUMNS]]),
        (name("rows"), [c[i] for c in rows_cols], [[r.get(c[0]) for c in rows_cols] for r in rep["rows"]]),
        (name("procedures"), [c[i] for c in PROC_COLUMNS],
         [[r.get(c[0]) for c in PROC_COLUMNS] for r in rep["procedures"]]),
    ]
    levels = {lv["code"]: lv["name_en"] if en else lv["name"] for lv in rep.get("rating_levels", [])}
    sat_rows = []
    for dim, items in rep["satisfaction"].items():
        dim_name = SAT_DIMENSIONS.get(dim, (dim, dim))[1 if en else 0]
        for item in items:
            for level, v in item["levels"].items():
                sat_rows.append([dim_name, item["label"], levels.get(level, level), v["n"], item["total"], v["share"]])
            sat_rows.append([dim_name, item["label"], "Satisfied (total)" if en else "Hài lòng (tổng)",
                             item["satisfied"], item["total"], item["satisfied_share"]])
    tables.append((name("satisfaction"), [c[1 if en else 0] for c in SAT_COLUMNS], sat_rows))
    heat = rep["heatmap"]["counts"]
    days = WEEKDAYS_EN if en else WEEKDAYS_VI
    tables.append((name("arrivals"), ["Weekday / hour" if en else "Thứ / giờ"] + [f"{h:02d}" for h in range(24)],
                   [[days[w], *heat[w]] for w in range(7)]))
    tables.append((name("trend"), [c[i] for c in TREND_COLUMNS],
                   [[t[c[0]] for c in TREND_COLUMNS] for t in rep["trend"]]))
    return tables


def to_csv(rep: dict[str, Any], lang: str = "vi") -> str:
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf)
    for name, header, rows in export_tables(rep, lang):
        w.writerow([f"# {name}"])
        w.writerow(header)
        w.writerows(rows)
        w.writerow([])
    return "\ufeff" + buf.getvalue()  # BOM: Excel opens UTF-8 Vietnamese correctly


def to_xlsx(rep: dict[str, Any], lang: str = "vi") -> bytes:
    import io

    from openpyxl import Workbook

    wb = Workbook()
    wb.remove(wb.active)
    for name, header, rows in export_tables(rep, lang):
        ws = wb.create_sheet(name[:31])
        ws.append(header)
        for row in rows:
            ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# ---------------------------------------------------------------------- daily roll-ups
#
# Closed service days (before today) are summed once into rollup_* tables per (site, day, service, counter,
# staff, hour); reports over long ranges read those plus the raw rows of today. Each rolled-up (site, day)
# keeps a fingerprint of its raw rows (tickets, max ticket id, max event id, ratings, procedures); any
# ticket_events row written after the last check marks its day for a rebuild (cheap watermark check on every
# report), and verify_rollups() compares every fingerprint (housekeeping). Medians and p90 over long ranges
# come from fixed-bucket histograms: the error is at most the width of the bucket holding the value.

ROLLUP_MIN_DAYS = 32  # ranges of up to 31 days keep the exact raw path
ROLLUP_FORMAT = 4  # bumped when what the roll-ups hold changes: every roll-up is then rebuilt
# Bucket lower bounds (seconds): 10 s wide below 2 min, 30 s to 10 min, 60 s to 30 min, 120 s to 1 h,
# 600 s to 3 h, then one open bucket (interpolated up to the maximum).
BUCKETS: tuple[int, ...] = (tuple(range(0, 120, 10)) + tuple(range(120, 600, 30)) + tuple(range(600, 1800, 60))
                            + tuple(range(1800, 3600, 120)) + tuple(range(3600, 10800, 600)) + (10800,))
NB = len(BUCKETS)


def bucket_error_s(value: float) -> int:
    """The largest error of a histogram percentile near `value` (its bucket's width)."""
    for lo, hi in zip(BUCKETS, BUCKETS[1:], strict=False):
        if lo <= value < hi:
            return hi - lo
    return 10**9


def _bucket_sql(x: str) -> str:
    """SQL for the bucket index of a value (a binary search unrolled into CASE)."""
    parts = " ".join(f"WHEN {x} < {BUCKETS[i + 1]} THEN {i}" for i in range(NB - 1))
    return f"CASE {parts} ELSE {NB - 1} END"


def _pack_sparse(pairs: dict[int, int]) -> bytes:
    from array import array

    a = array("I")
    for b, n in sorted(pairs.items()):
        a.extend((b, n))
    return a.tobytes()


def _pack_dense(pairs: dict[int, int]) -> bytes:
    from array import array

    a = array("I", bytes(4 * NB))
    for b, n in pairs.items():
        a[b] += n
    return a.tobytes()


def _add_sparse(acc: list[int], blob: bytes | None) -> None:
    if blob:
        from array import array

        a = array("I", blob)
        for i in range(0, len(a), 2):
            acc[a[i]] += a[i + 1]


def _hist_percentiles(h: list[int], n: int, mx: float | None) -> dict[str, float | None]:
    """Median and p90 from a histogram, as the raw path does it: the values at ranks ⌊(n−1)q⌋ and the next,
    linearly interpolated. A rank's value is placed inside its bucket by its position among the bucket's
    values (the open last bucket ends at the maximum), so each is off by less than its bucket's width."""
    if not n:
        return {"median": None, "p90": None}
    cum = [0]
    for c in h:
        cum.append(cum[-1] + c)

    def at(rank: int) -> float:
        b = bisect.bisect_right(cum, rank) - 1  # the first bucket whose values reach past the rank
        if b >= NB:
            return float(mx or 0)
        c = h[b]
        lo = BUCKETS[b]
        hi = BUCKETS[b + 1] if b + 1 < NB else max(lo, mx or lo)
        if mx is not None:
            hi = min(hi, max(lo, mx))
        return lo + (rank - cum[b] + 0.5) / c * (hi - lo)

    out: dict[str, float | None] = {}
    for name, q in (("median", 0.5), ("p90", 0.9)):
        pos = (n - 1) * q
        k = math.floor(pos)
        a, b = at(k), at(min(k + 1, n - 1))
        value = a + (pos - k) * (b - a)
        out[name] = value if mx is None else min(value, mx)
    return out


def _yesterday(config: Config, today: str | None) -> str:
    d = date.fromisoformat(today) if today else datetime.now(config.tz).date()
    return (d - timedelta(days=1)).isoformat()


def _config_key(config: Config) -> str:
    """Roll-ups depend on each service's target wait (service level): a change rebuilds them."""
    targets = ";".join(f"{c}={float(s.target_wait_min)!r}" for c, s in sorted(config.services.items()))
    return f"v{ROLLUP_FORMAT};{targets}"


def _all_sites(conn: sqlite3.Connection, config: Config) -> list[str]:
    sites = {r[0] for r in conn.execute("SELECT code FROM sites")} | set(config.sites)
    return sorted(sites)


def _stale_days(conn: sqlite3.Connection, config: Config, d0: str, d1: str, sites: list[str]
                ) -> tuple[list[tuple[str, str]], list[tuple[str, str]], int | None]:
    """(missing, changed, new watermark): past (site, day)s without a roll-up, and rolled-up ones whose raw
    rows got new events since the last check (their fingerprint is compared)."""
    have = {(s, d) for s, d in conn.execute(
        "SELECT site, service_day FROM rollup_days WHERE service_day BETWEEN ? AND ?", (d0, d1))}
    missing = []
    day = date.fromisoformat(d0)
    last = date.fromisoformat(d1)
    while day <= last:
        ds = day.isoformat()
        missing.extend((s, ds) for s in sites if (s, ds) not in have)
        day += timedelta(days=1)
    meta = dict(conn.execute("SELECT key, value FROM rollup_meta").fetchall())
    changed: list[tuple[str, str]] = []
    top = conn.execute("SELECT max(id) FROM ticket_events").fetchone()[0] or 0
    seen = int(meta.get("event_watermark", "0"))
    if meta.get("config") not in (None, _config_key(config)):
        changed = sorted(have)
    elif top > seen:  # any rolled-up day (in the range or not) whose raw rows got events since the last check
        for s, d in conn.execute(
                "SELECT DISTINCT t.site, t.service_day FROM ticket_events e JOIN tickets t ON t.id = e.ticket_id "
                "WHERE e.id > ?", (seen,)).fetchall():
            old = conn.execute("SELECT tickets, max_ticket_id, max_event_id, ratings, procedures FROM rollup_days "
                               "WHERE site = ? AND service_day = ?", (s, d)).fetchone()
            if old is not None and tuple(old) != _fingerprint(conn, s, d):
                changed.append((s, d))
    return missing, changed, top


def _fingerprint(conn: sqlite3.Connection, site: str, day: str) -> tuple[int, int | None, int | None, int, int]:
    t = conn.execute("SELECT count(*), max(id) FROM tickets WHERE site = ? AND service_day = ?", (site, day)).fetchone()
    e = conn.execute("SELECT max(e.id), (SELECT count(*) FROM ratings r JOIN tickets x ON x.id = r.ticket_id "
                     "WHERE x.site = :s AND x.service_day = :d), (SELECT count(*) FROM ticket_procedures p JOIN "
                     "tickets x ON x.id = p.ticket_id WHERE x.site = :s AND x.service_day = :d) FROM tickets t "
                     "JOIN ticket_events e ON e.ticket_id = t.id WHERE t.site = :s AND t.service_day = :d",
                     {"s": site, "d": day}).fetchone()
    return (t[0], t[1], e[0], e[1], e[2])


def _fingerprints(conn: sqlite3.Connection, site: str, days: list[str]
                  ) -> dict[str, tuple[int, int | None, int | None, int, int]]:
    """_fingerprint() of several days of one site, in four grouped queries."""
    marks = ",".join("?" * len(days))
    args = (site, *days)
    where = f"t.site = ? AND t.service_day IN ({marks})"
    out = {d: [n, mx, None, 0, 0] for d, n, mx in conn.execute(
        f"SELECT service_day, count(*), max(id) FROM tickets t WHERE {where} GROUP BY 1", args)}  # noqa: S608
    for i, sql in ((2, "max(e.id) FROM tickets t JOIN ticket_events e ON e.ticket_id = t.id"),
                   (3, "count(*) FROM tickets t JOIN ratings r ON r.ticket_id = t.id"),
                   (4, "count(*) FROM tickets t JOIN ticket_procedures p ON p.ticket_id = t.id")):
        for d, v in conn.execute(f"SELECT t.service_day, {sql} WHERE {where} GROUP BY 1", args):  # noqa: S608
            out[d][i] = v
    return {d: tuple(v) for d, v in out.items()}  # type: ignore[misc]


def _build_site_days(conn: sqlite3.Connection, config: Config, site: str, days: list[str]) -> None:
    """Roll up some past days of one site (inside the caller's write transaction)."""
    days = sorted(days)
    marks = ",".join("?" * len(days))
    for table in ("rollup_days", "rollup_cells", "rollup_hists", "rollup_staff_hists", "rollup_procedures",
                  "rollup_ratings", "rollup_day_sums", "rollup_day_hists"):
        conn.execute(f"DELETE FROM {table} WHERE site = ? AND service_day IN ({marks})", (site, *days))  # noqa: S608
    for table in _ALL_SITES_TABLES:  # the all-sites sums of these days are rebuilt later (_build_all_sites_days)
        conn.execute(f"DELETE FROM {table} WHERE service_day IN ({marks})", days)  # noqa: S608
    q = _base(config, Filters(days[0], days[-1], site=site))
    q.sql = q.sql[:-1] + f" AND t.service_day IN ({', '.join(':day' + str(i) for i in range(len(days)))}))"
    q.params.update({f"day{i}": d for i, d in enumerate(days)})
    keys = "t.service_day, t.service, t.counter_id, t.staff, t.hour"
    from bisect import bisect_right

    hists: dict[str, dict[tuple, dict[int, int]]] = {"w": defaultdict(dict), "s": defaultdict(dict)}
    hw, hs = hists["w"], hists["s"]
    for *k, w, sv in conn.execute(f"WITH {q.sql} SELECT {keys}, t.wait_s, CASE WHEN t.status = 'served' THEN "
                                  "t.service_s END FROM t WHERE t.wait_s IS NOT NULL OR t.status = 'served'",
                                  q.params):
        key = tuple(k)
        if w is not None:
            b = bisect_right(BUCKETS, w) - 1
            h = hw[key]
            h[b] = h.get(b, 0) + 1
        if sv is not None:
            b = bisect_right(BUCKETS, sv) - 1
            h = hs[key]
            h[b] = h.get(b, 0) + 1
    rows = []
    for r in conn.execute(f"WITH {q.sql} SELECT {keys}, {_AGG} FROM t GROUP BY 1, 2, 3, 4, 5", q.params):
        k = tuple(r)[:5]
        rows.append((site, *k, *(r[c] for c in (*_SUMS[:8], "wait_n", "wait_sum", "wait_max", "service_n",
                                                 "service_sum", "service_max", "sl_within", "sl_total")),
                     _pack_sparse(hists["w"].get(k, {})), _pack_sparse(hists["s"].get(k, {}))))
    conn.executemany("INSERT INTO rollup_cells VALUES (" + ",".join("?" * 24) + ")", rows)
    dense: dict[tuple, list[dict[int, int]]] = defaultdict(lambda: [defaultdict(int), defaultdict(int)])
    for i, metric in enumerate(("w", "s")):
        for k, pairs in hists[metric].items():
            acc = dense[(k[0], k[1])][i]
            for b, n in pairs.items():
                acc[b] += n
    staffed: dict[tuple, list[dict[int, int]]] = defaultdict(lambda: [defaultdict(int), defaultdict(int)])
    for i, metric in enumerate(("w", "s")):
        for k, pairs in hists[metric].items():
            acc = staffed[k[:4]][i]
            for b, n in pairs.items():
                acc[b] += n
    conn.executemany("INSERT INTO rollup_staff_hists VALUES (?,?,?,?,?,?,?)",
                     [(site, *k, _pack_sparse(w), _pack_sparse(s)) for k, (w, s) in staffed.items()])
    conn.executemany("INSERT INTO rollup_hists VALUES (?,?,?,?,?)",
                     [(site, d, sv, _pack_dense(w), _pack_dense(s)) for (d, sv), (w, s) in dense.items()])
    per_day: dict[str, list[dict[int, int]]] = defaultdict(lambda: [defaultdict(int), defaultdict(int)])
    for (d, _), pair in dense.items():
        for i in range(2):
            for b, n in pair[i].items():
                per_day[d][i][b] += n
    conn.executemany("INSERT INTO rollup_day_hists VALUES (?,?,?,?)",
                     [(site, d, _pack_dense(w), _pack_dense(s)) for d, (w, s) in per_day.items()])
    pkeys = "t.service_day, t.service, t.counter_id, t.staff, p.procedure"
    src = "t CROSS JOIN ticket_procedures p ON p.ticket_id = t.id WHERE t.status = 'served'"
    phist: dict[tuple, dict[int, int]] = defaultdict(dict)
    for *k, x in conn.execute(f"WITH {q.sql} SELECT {pkeys}, p.seconds FROM {src} AND p.seconds IS NOT NULL",
                              q.params):
        b = bisect_right(BUCKETS, x) - 1
        h = phist[tuple(k)]
        h[b] = h.get(b, 0) + 1
    conn.executemany("INSERT INTO rollup_procedures VALUES (?,?,?,?,?,?,?,?,?,?,?)", [
        (site, *r[:5], r[5], r[6], r[7], r[8], _pack_sparse(phist.get(tuple(r[:5]), {})))
        for r in conn.execute(f"WITH {q.sql} SELECT {pkeys}, count(p.seconds), count(DISTINCT p.ticket_id), "
                              f"total(p.seconds), max(p.seconds) FROM {src} GROUP BY 1, 2, 3, 4, 5", q.params)])
    conn.execute(f"WITH {q.sql} INSERT INTO rollup_ratings SELECT :site, t.service_day, t.service, t.counter_id, "
                 "t.staff, r.counter_id, r.staff, NULL, r.level, count(*) FROM t CROSS JOIN ratings r "
                 "ON r.ticket_id = t.id GROUP BY 2, 3, 4, 5, 6, 7, 9", q.params)
    conn.execute(f"WITH {q.sql} INSERT INTO rollup_ratings SELECT :site, t.service_day, t.service, t.counter_id, "
                 "t.staff, NULL, NULL, p.procedure, r.level, count(DISTINCT r.ticket_id) FROM t CROSS JOIN ratings r "
                 "ON r.ticket_id = t.id CROSS JOIN ticket_procedures p ON p.ticket_id = t.id "
                 "GROUP BY 2, 3, 4, 5, 8, 9", q.params)
    now = to_iso(datetime.now(UTC))
    prints = _fingerprints(conn, site, days)
    conn.executemany("INSERT INTO rollup_days VALUES (?,?,?,?,?,?,?,?)",
                     [(site, d, *prints.get(d, (0, None, None, 0, 0)), now) for d in days])
    conn.execute(f"INSERT INTO rollup_day_sums SELECT site, service_day, hour, {_RSUM_COLS} FROM rollup_cells "
                 f"WHERE site = ? AND service_day IN ({marks}) GROUP BY service_day, hour", (site, *days))  # noqa: S608
    for month in sorted({d[:7] for d in days}):
        for key, first, last in _periods_of_month(month):
            _build_period(conn, site, key, first, last, now)


_CELL_SUMS = (*_SUMS[:8], "wait_n", "wait_sum", "wait_max", "service_n", "service_sum", "service_max", "sl_within",
              "sl_total")
_RSUM_COLS = ", ".join(f'max("{c}")' if c.endswith("_max") else f'sum("{c}")' for c in _CELL_SUMS)


def _month_end(d: date) -> date:
    return (d.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


def _periods_of_month(month: str) -> list[tuple[str, str, str]]:
    """(key, first day, last day) of a month ('YYYY-MM') and of its three dekads ('YYYY-MM/1' = days 1–10,
    '/2' = 11–20, '/3' = 21 to the end): the grains of the period roll-ups."""
    end = _month_end(date.fromisoformat(month + "-01")).isoformat()
    return [(month, month + "-01", end), (month + "/1", month + "-01", month + "-10"),
            (month + "/2", month + "-11", month + "-20"), (month + "/3", month + "-21", end)]


def _period_of(d: date) -> tuple[str, date] | None:
    """The dekad starting on day d (its key and last day), if one does."""
    if d.day not in (1, 11, 21):
        return None
    last = _month_end(d) if d.day == 21 else d + timedelta(days=9)
    return f"{d.isoformat()[:7]}/{d.day // 10 + 1}", last


def _merge_sparse(rows: Any, nkeys: int, nblobs: int) -> dict[tuple, list[dict[int, int]]]:
    """Sparse histogram blobs summed per key (the first nkeys columns of each row, then nblobs blobs)."""
    from array import array

    out: dict[tuple, list[dict[int, int]]] = {}
    for r in rows:
        k = tuple(r[:nkeys])
        acc = out.get(k)
        if acc is None:
            acc = out[k] = [defaultdict(int) for _ in range(nblobs)]
        for i in range(nblobs):
            blob = r[nkeys + i]
            if blob:
                a = array("I", blob)
                h = acc[i]
                for j in range(0, len(a), 2):
                    h[a[j]] += a[j + 1]
    return out


def _build_period(conn: sqlite3.Connection, site: str, month: str, first: str, last: str, now: str) -> None:
    """A period's (month's or dekad's) roll-ups of one site from its daily ones, once every day of it is rolled
    up (the period's rows are dropped and rebuilt whenever one of its days is rebuilt, in the same transaction).
    The period's key goes in the service_day column of the rollup_m_* tables."""
    for table in ("rollup_months", "rollup_m_cells", "rollup_m_keys", "rollup_m_hists", "rollup_m_staff_hists",
                  "rollup_m_procedures", "rollup_m_ratings", "rollup_m_hour_hists"):
        column = "month" if table == "rollup_months" else "service_day"
        conn.execute(f"DELETE FROM {table} WHERE site = ? AND {column} = ?", (site, month))  # noqa: S608
    days = conn.execute("SELECT count(*) FROM rollup_days WHERE site = ? AND service_day BETWEEN ? AND ?",
                        (site, first, last)).fetchone()[0]
    if days < (date.fromisoformat(last) - date.fromisoformat(first)).days + 1:
        return
    args = (site, first, last)
    where = "site = ? AND service_day BETWEEN ? AND ?"
    keys = "service, counter_id, staff, hour"
    hists = _merge_sparse(conn.execute(f"SELECT {keys}, wait_hist, service_hist FROM rollup_cells WHERE {where}",  # noqa: S608
                                       args), 4, 2)
    rows = []
    for r in conn.execute(f"SELECT {keys}, {_RSUM_COLS} FROM rollup_cells WHERE {where} "  # noqa: S608
                          f"GROUP BY {keys}", args):
        k = tuple(r[:4])
        w, sv = hists.get(k, ({}, {}))
        rows.append((site, month, *r, _pack_sparse(w), _pack_sparse(sv)))
    conn.executemany("INSERT INTO rollup_m_cells VALUES (" + ",".join("?" * 24) + ")", rows)
    conn.execute(f"INSERT INTO rollup_m_keys SELECT site, service_day, service, counter_id, staff, {_RSUM_COLS} "  # noqa: S608
                 "FROM rollup_m_cells WHERE site = ? AND service_day = ? GROUP BY service, counter_id, staff",
                 (site, month))
    by_hour: dict[Any, list[dict[int, int]]] = defaultdict(lambda: [defaultdict(int), defaultdict(int)])
    for k, pair in hists.items():
        for i in range(2):
            acc = by_hour[k[3]][i]
            for b, n in pair[i].items():
                acc[b] += n
    conn.executemany("INSERT INTO rollup_m_hour_hists VALUES (?,?,?,?,?)",
                     [(site, month, h, _pack_dense(w), _pack_dense(sv)) for h, (w, sv) in by_hour.items()])
    dense: dict[Any, list[list[int]]] = {}
    from array import array

    for service, wb, sb in conn.execute(f"SELECT service, wait_hist, service_hist FROM rollup_hists "  # noqa: S608
                                        f"WHERE {where}", args):
        acc = dense.setdefault(service, [[0] * NB, [0] * NB])
        for i, blob in enumerate((wb, sb)):
            if blob:
                acc[i] = [x + y for x, y in zip(acc[i], array("I", blob), strict=True)]
    conn.executemany("INSERT INTO rollup_m_hists VALUES (?,?,?,?,?)",
                     [(site, month, sv, array("I", w).tobytes(), array("I", s).tobytes())
                      for sv, (w, s) in dense.items()])
    staffed = _merge_sparse(conn.execute("SELECT service, counter_id, staff, wait_hist, service_hist FROM "  # noqa: S608
                                         f"rollup_staff_hists WHERE {where}", args), 3, 2)
    conn.executemany("INSERT INTO rollup_m_staff_hists VALUES (?,?,?,?,?,?,?)",
                     [(site, month, *k, _pack_sparse(w), _pack_sparse(s)) for k, (w, s) in staffed.items()])
    pkeys = "service, counter_id, staff, procedure"
    phist = _merge_sparse(conn.execute(f"SELECT {pkeys}, hist FROM rollup_procedures WHERE {where}", args),  # noqa: S608
                          4, 1)
    conn.executemany("INSERT INTO rollup_m_procedures VALUES (?,?,?,?,?,?,?,?,?,?,?)", [
        (site, month, *r, _pack_sparse(phist.get(tuple(r[:4]), [{}])[0]))
        for r in conn.execute(f"SELECT {pkeys}, sum(n), sum(tickets), total(seconds_sum), max(seconds_max) "  # noqa: S608
                              f"FROM rollup_procedures WHERE {where} GROUP BY {pkeys}", args)])
    conn.execute("INSERT INTO rollup_m_ratings SELECT site, ?, service, counter_id, staff, r_counter, r_staff, "  # noqa: S608
                 f"procedure, level, sum(n) FROM rollup_ratings WHERE {where} GROUP BY service, counter_id, staff, "
                 "r_counter, r_staff, procedure, level", (month, *args))
    conn.execute("INSERT INTO rollup_months VALUES (?,?,?)", (site, month, now))


def ensure_rollups(store: Any, config: Config, d0: str, d1: str, *, today: str | None = None,
                   site: str | None = None, batch_days: int = 92) -> dict[str, Any]:
    """Build the missing and stale roll-ups of past days in [d0, d1] (never today): one write transaction
    per site and batch of days. Returns what was built."""
    t0 = datetime.now(UTC)
    d1 = min(d1, _yesterday(config, today))
    if d1 < d0:
        return {"built": 0, "seconds": 0.0}
    with store.read() as conn:
        sites = [site] if site else _all_sites(conn, config)
        missing, changed, top = _stale_days(conn, config, d0, d1, sites)
    todo: dict[str, list[str]] = defaultdict(list)
    for s, d in {*missing, *changed}:
        todo[s].append(d)
    for s, ds in sorted(todo.items()):
        ds.sort()
        for i in range(0, len(ds), batch_days):
            with store.write() as conn:
                _build_site_days(conn, config, s, ds[i:i + batch_days])
    with store.write() as conn:
        _build_all_sites_days(conn, config, d0, d1)
        conn.execute("INSERT INTO rollup_meta VALUES ('config', ?) ON CONFLICT(key) DO UPDATE SET value = "
                     "excluded.value", (_config_key(config),))
        current = conn.execute("SELECT value FROM rollup_meta WHERE key = 'event_watermark'").fetchone()
        if top is not None and (current is None or int(current[0]) < top):
            conn.execute("INSERT INTO rollup_meta VALUES ('event_watermark', ?) ON CONFLICT(key) DO UPDATE SET "
                         "value = excluded.value", (str(top),))
    return {"built": len(missing) + len(changed), "missing": len(missing), "changed": len(changed),
            "seconds": round((datetime.now(UTC) - t0).total_seconds(), 2)}


_ALL_SITES_TABLES = ("rollup_all_days", "rollup_all_day_sums", "rollup_all_service_days", "rollup_all_service_sums",
                     "rollup_all_service_hists")


def _build_all_sites_days(conn: sqlite3.Connection, config: Config, d0: str, d1: str) -> None:
    """Sums over all sites for the days in [d0, d1] that every site has rolled up and that have none yet
    (rebuilding a site's day drops that day's: these are always the sum of the current daily rows): (day × hour)
    sums, and per service (day × hour) sums and daily histograms (reports filtered by one service)."""
    n_sites = len(_all_sites(conn, config))
    complete = [d for d, n in conn.execute("SELECT service_day, count(*) FROM rollup_days WHERE service_day "
                                           "BETWEEN ? AND ? GROUP BY 1", (d0, d1)) if n >= n_sites]
    done = {r[0] for r in conn.execute("SELECT service_day FROM rollup_all_days WHERE service_day BETWEEN ? AND ?",
                                       (d0, d1))}
    todo = [d for d in complete if d not in done]
    for i in range(0, len(todo), 500):
        days = todo[i:i + 500]
        marks = ",".join("?" * len(days))
        conn.execute(f"INSERT INTO rollup_all_day_sums SELECT service_day, hour, {_RSUM_COLS} FROM rollup_day_sums "  # noqa: S608
                     f"WHERE service_day IN ({marks}) GROUP BY service_day, hour", days)
        now = to_iso(datetime.now(UTC))
        conn.executemany("INSERT INTO rollup_all_days VALUES (?, ?)", [(d, now) for d in days])
    done = {r[0] for r in conn.execute("SELECT service_day FROM rollup_all_service_days WHERE service_day "
                                       "BETWEEN ? AND ?", (d0, d1))}
    todo = [d for d in complete if d not in done]
    from array import array

    for i in range(0, len(todo), 100):
        days = todo[i:i + 100]
        marks = ",".join("?" * len(days))
        conn.execute(f"INSERT INTO rollup_all_service_sums SELECT service, service_day, hour, {_RSUM_COLS} "  # noqa: S608
                     f"FROM rollup_cells WHERE service_day IN ({marks}) GROUP BY service_day, service, hour", days)
        dense: dict[tuple[str, str], list[Any]] = {}
        for d, service, wb, sb in conn.execute("SELECT service_day, service, wait_hist, service_hist FROM "  # noqa: S608
                                               f"rollup_hists WHERE service_day IN ({marks})", days):
            acc = dense.get((service, d))
            if acc is None:
                dense[(service, d)] = [array("I", wb or bytes(4 * NB)), array("I", sb or bytes(4 * NB))]
                continue
            for j, blob in enumerate((wb, sb)):
                if blob:
                    acc[j] = array("I", [x + y for x, y in zip(acc[j], array("I", blob), strict=True)])
        conn.executemany("INSERT INTO rollup_all_service_hists VALUES (?,?,?,?)",
                         [(sv, d, w.tobytes(), s.tobytes()) for (sv, d), (w, s) in dense.items()])
        now = to_iso(datetime.now(UTC))
        conn.executemany("INSERT INTO rollup_all_service_days VALUES (?, ?)", [(d, now) for d in days])


def verify_rollups(store: Any, config: Config, d0: str, d1: str) -> list[tuple[str, str]]:
    """Compare every rolled-up day's fingerprint with its raw rows; rebuild and return those that differ."""
    with store.read() as conn:
        bad = [(s, d) for s, d, *fp in conn.execute(
            "SELECT site, service_day, tickets, max_ticket_id, max_event_id, ratings, procedures FROM rollup_days "
            "WHERE service_day BETWEEN ? AND ?", (d0, d1)).fetchall() if tuple(fp) != _fingerprint(conn, s, d)]
    for s, d in bad:
        with store.write() as conn:
            _build_site_days(conn, config, s, [d])
    if bad:
        with store.write() as conn:
            _build_all_sites_days(conn, config, d0, d1)
    return bad


_RSUM = (", ".join(f'sum("{c}") AS "{c}"' for c in _SUMS)
         + ", max(wait_max) AS wait_max, max(service_max) AS service_max")


def _rwhere(f: Filters, d0: str, d1: str) -> tuple[str, dict[str, Any]]:
    # Without a site, a long range reads most of the table: a sequential scan (the unary + keeps SQLite off
    # the service_day index, whose row look-ups cost more than they save).
    where = ["service_day BETWEEN :rd0 AND :rd1" if f.site else "+service_day BETWEEN :rd0 AND :rd1"]
    params: dict[str, Any] = {"rd0": d0, "rd1": d1}
    for name, column in (("site", "site"), ("service", "service"), ("counter", "counter_id"), ("staff", "staff")):
        value = getattr(f, name)
        if value:
            where.append(f"{column} = :{name}")
            params[name] = value
    return " AND ".join(where), params


def _all_sites_built(conn: sqlite3.Connection, marker: str, rp: dict[str, Any]) -> bool:
    """Whether the all-sites sums (whose days are listed in `marker`) cover every day of [rd0, rd1]."""
    n_days = (date.fromisoformat(rp["rd1"]) - date.fromisoformat(rp["rd0"])).days + 1
    return conn.execute(f"SELECT count(*) FROM {marker} WHERE service_day BETWEEN :rd0 AND :rd1",  # noqa: S608
                        rp).fetchone()[0] == n_days


def uses_rollups(f: Filters) -> bool:
    """Whether report() reads roll-ups for this range by default (longer than a month)."""
    return (date.fromisoformat(f.date_to) - date.fromisoformat(f.date_from)).days + 1 >= ROLLUP_MIN_DAYS


def rollups_ready(conn: sqlite3.Connection, config: Config, d0: str, d1: str, site: str | None = None) -> bool:
    """Every past (site, day) of the range (of one site, or all) rolled up and none stale (ensure_rollups)."""
    if d1 < d0:
        return False
    missing, changed, _ = _stale_days(conn, config, d0, d1, [site] if site else _all_sites(conn, config))
    return not missing and not changed


def _hists(conn: sqlite3.Connection, sql: str, params: dict[str, Any], dense: bool,
           width: int = 1) -> list[dict[Any, list[int]]]:
    """Histograms summed per key from rows (k, blob1, …, blob<width>): dense arrays or sparse (bucket, n) pairs."""
    from array import array

    blobs: list[dict[Any, list[bytes]]] = [defaultdict(list) for _ in range(width)]
    for k, *bs in conn.execute(sql, params):
        for i, blob in enumerate(bs):
            if blob:
                blobs[i][k].append(blob)
    outs: list[dict[Any, list[int]]] = []
    for per_key in blobs:
        out: dict[Any, list[int]] = {}
        for k, bs in per_key.items():
            if dense:
                out[k] = [sum(c) for c in zip(*(array("I", b) for b in bs), strict=True)]
                continue
            acc = out[k] = [0] * NB
            a = array("I", b"".join(bs))
            for b, n in zip(a[0::2], a[1::2], strict=True):
                acc[b] += n
        outs.append(out)
    return outs


def _raw_hists(conn: sqlite3.Connection, q: _Query, key: str, x: str, where: str = "1") -> dict[Any, list[int]]:
    out: dict[Any, list[int]] = {}
    for k, b, n in conn.execute(f"WITH {q.sql} SELECT {key}, {_bucket_sql(x)}, count(*) FROM t WHERE {x} IS NOT "
                                f"NULL AND {where} GROUP BY 1, 2", q.params):
        out.setdefault(k, [0] * NB)[b] += n
    return out


def _add_hists(a: dict[Any, list[int]], b: dict[Any, list[int]]) -> dict[Any, list[int]]:
    for k, h in b.items():
        if k in a:
            a[k] = [x + y for x, y in zip(a[k], h, strict=True)]
        else:
            a[k] = h
    return a


class _Plan:
    """Where a roll-up report reads past days: the period tables (rollup_m_*) for whole months, and whole
    dekads, inside the range that are rolled up for every site in scope; the daily tables for the other days
    (at most 9 at each end of the range)."""

    def __init__(self, conn: sqlite3.Connection, config: Config, f: Filters, d0: str, d1: str):
        self.f = f
        where, params = [], {}
        for name, column in (("site", "site"), ("service", "service"), ("counter", "counter_id"),
                             ("staff", "staff")):
            value = getattr(f, name)
            if value:
                where.append(f"{column} = :{name}")
                params[name] = value
        self.filt = " AND ".join(where) or "1"
        self.params: dict[str, Any] = params
        self.rw, rp = _rwhere(f, d0, d1)  # every past day of the range (tables without a monthly version)
        self.params.update(rp)
        first, last = date.fromisoformat(d0), date.fromisoformat(d1)
        scope = {f.site} if f.site else set(_all_sites(conn, config))
        have: dict[str, set[str]] = defaultdict(set)
        for site, key in conn.execute("SELECT site, month FROM rollup_months WHERE month BETWEEN ? AND ?",
                                      (d0[:7], d1[:7] + "/9")):
            have[key].add(site)
        # greedy cover: a whole month where it fits and is rolled up for every site in scope, else a dekad,
        # else single days (merged into ranges)
        self.months: list[str] = []
        self.ranges: list[tuple[str, str]] = []
        day, start = first, None
        while day <= last:
            take = None
            if day.day == 1 and _month_end(day) <= last and scope <= have[day.isoformat()[:7]]:
                take = day.isoformat()[:7], _month_end(day)
            else:
                dekad = _period_of(day)
                if dekad and dekad[1] <= last and scope <= have[dekad[0]]:
                    take = dekad
            if take is None:
                start = start or day
                day += timedelta(days=1)
                continue
            if start:
                self.ranges.append((start.isoformat(), (day - timedelta(days=1)).isoformat()))
                start = None
            self.months.append(take[0])
            day = take[1] + timedelta(days=1)
        if start:
            self.ranges.append((start.isoformat(), last.isoformat()))
        for i, (a, b) in enumerate(self.ranges):
            self.params[f"pa{i}"], self.params[f"pb{i}"] = a, b
        for i, mo in enumerate(self.months):
            self.params[f"pm{i}"] = mo

    def arms(self, daily: str, monthly: str | None) -> list[tuple[str, str]]:
        """(table, where) pairs covering the range once: daily rows of the ends, monthly rows of whole months."""
        out = []
        for i, (a, b) in enumerate(self.ranges):
            # without a site a long stretch reads most of the table: a scan beats index look-ups (+ disables it)
            plus = "+" if not self.f.site and (date.fromisoformat(b) - date.fromisoformat(a)).days > 62 else ""
            out.append((daily, f"{plus}service_day BETWEEN :pa{i} AND :pb{i} AND {self.filt}"))
        if self.months:
            if monthly is None:
                raise ValueError("no monthly table")
            marks = ", ".join(f":pm{i}" for i in range(len(self.months)))
            out.append((monthly, f"service_day IN ({marks}) AND {self.filt}"))
        return out


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
    out: dict[str, Any] = {"filters": f.as_dict(), "generated_at": to_iso(datetime.now(UTC)), "source": "rollup"}
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
    heat = [[0] * 24 for _ in range(7)]
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
        rows += [(r[0], r[1], *(r[k] for k in (*_SUMS, "wait_max", "service_max"))) for r in conn.execute(
            f"WITH {q.sql} SELECT t.service_day, t.hour, {_AGG} FROM t GROUP BY 1, 2", q.params)]
    weekday_of: dict[str, int] = {}
    day_vec: dict[str, list[Any]] = {}
    hour_vec: dict[Any, list[Any]] = {}
    for r in rows:
        d, hour, v = r[0], r[1], r[2:]
        acc = day_vec.get(d)
        if acc is None:
            acc = day_vec[d] = _new_vec()
            weekday_of[d] = date.fromisoformat(d).weekday()
        _add_vec(acc, v)
        acc = hour_vec.get(hour)
        if acc is None:
            acc = hour_vec[hour] = _new_vec()
        _add_vec(acc, v)
        heat[weekday_of[d]][hour] += v[0] or 0
    total_vec = _new_vec()
    for acc in day_vec.values():
        _add_vec(total_vec, acc)
    total = _vec_dict(total_vec) if day_vec else {}
    by_day: dict[str, dict[str, Any]] = defaultdict(dict, {d: _vec_dict(v) for d, v in day_vec.items()})
    by_hour: dict[Any, dict[str, Any]] = defaultdict(dict, {h: _vec_dict(v) for h, v in hour_vec.items()})
    column = {"site": ("site", "t.site"), "service": ("service", "t.service"),
              "counter": ("counter_id", "t.counter_id"), "staff": ("staff", "t.staff")}
    if group == "day":
        grouped = by_day
    elif group == "hour":
        grouped = by_hour
    elif group == "weekday":
        grouped = defaultdict(dict)
        for d, acc in by_day.items():
            _merge(grouped[weekday_of[d]], acc)
    elif group in column:
        grouped = agg(*column[group])
    else:
        grouped = defaultdict(dict)
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

    out["summary"] = _finish("all", label("none", "all"), total,
                             {"w": pct("w", "all", total, "all"), "s": pct("s", "all", total, "all")})
    out["procedures"] = _procedure_rows_rollup(conn, plan, q, label)
    if group == "procedure":
        out["rows"] = out["procedures"]
    elif group == "none":
        out["rows"] = [out["summary"]]
    else:
        out["rows"] = [_finish(k, label(group, k), grouped[k], {"w": pct("w", k, grouped[k], "g"),
                                                                "s": pct("s", k, grouped[k], "g")})
                       for k in sorted(grouped, key=_order_key)]
    rating = config.rating
    out["rating_levels"] = [{"code": lv.code, "name": lv.name, "name_en": lv.name_en, "satisfied": lv.satisfied}
                            for lv in rating.levels]
    out["satisfaction"] = _satisfaction_rollup(conn, plan, q, label,
                                               {lv.code for lv in rating.levels if lv.satisfied})
    days = [0] * 7
    for d in by_day:
        days[weekday_of[d]] += 1
    _add_heatmap_and_trend(out, heat, days, by_day)
    return out


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
        out.append({"key": k, "label": label("procedure", k), "n": a["n"], "tickets": a["tickets"],
                    "service_mean_s": _r(a["sum"] / a["n"]) if a["n"] else None,
                    "service_median_s": _r(p.get("median")), "service_p90_s": _r(p.get("p90")),
                    "service_max_s": _r(a["max"])})
    return out


def _satisfaction_rollup(conn: sqlite3.Connection, plan: _Plan, q: _Query | None, label: Labels,
                         satisfied: set[str]) -> dict[str, list[dict[str, Any]]]:
    counts: dict[str, dict[Any, dict[str, int]]] = {d: defaultdict(dict) for d in ("none", "counter", "staff",
                                                                                   "procedure")}
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
    for counter, staff, level, n in rows:
        for dim, k in (("none", "all"), ("counter", counter), ("staff", staff)):
            counts[dim][k][level] = counts[dim][k].get(level, 0) + n
    for proc, level, n in prows:
        counts["procedure"][proc][level] = counts["procedure"][proc].get(level, 0) + n

    return _satisfaction_tables(counts, satisfied, label)


def _satisfaction_tables(counts: dict[str, Any], satisfied: Any, label: Any) -> dict[str, Any]:
    """Rating counts per dimension → the tables the report shows (shared by the raw and roll-up paths)."""

    def rows(dim: str) -> list[dict[str, Any]]:
        out = []
        for k in sorted(counts[dim], key=lambda k: (k is not None, k)):
            levels = counts[dim][k]
            total = sum(levels.values())
            happy = sum(n for lv, n in levels.items() if lv in satisfied)
            out.append({"key": k, "label": label(dim, k), "total": total, "satisfied": happy,
                        "satisfied_share": _share(happy, total),
                        "levels": {lv: {"n": n, "share": _share(n, total)} for lv, n in sorted(levels.items())}})
        return out

    return {"overall": rows("none"), "by_counter": rows("counter"), "by_staff": rows("staff"),
            "by_procedure": rows("procedure")}


def _add_heatmap_and_trend(out: dict[str, Any], heat: list[list[int]], days: list[int],
                           by_day: dict[str, Any]) -> None:
    """Arrivals heat map (weekday × hour, total and per day) and the day-by-day trend: same shape for the
    raw and the roll-up paths."""
    out["heatmap"] = {"counts": heat, "days": days,
                      "mean_per_day": [[round(heat[w][h] / days[w], 2) if days[w] else 0 for h in range(24)]
                                       for w in range(7)]}
    out["trend"] = []
    for d in sorted(by_day):
        r = _finish(d, d, by_day[d])
        out["trend"].append({k: r[k] for k in ("key", "issued", "served", "no_show", "wait_mean_s",
                                               "service_level")})
    out["days"] = len(by_day)
