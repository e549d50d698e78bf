"""One assembly of the report for both paths. The raw path and the roll-up path only differ in where
their sums, percentiles and rating counts come from; `assemble_report` turns those into the report (summary,
rows, procedures, satisfaction, heat map, trend), so the two cannot drift apart in shape or rules."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from typing import Any

from ..config.model import Config
from ..queue.clock import to_iso
from .figures import _finish, _order_key, _r, _share
from .filters import Filters
from .labels import Labels

Pct = dict[str, dict[str, float | None]]  # {"w": {"median", "p90"}, "s": {…}}: waiting and service percentiles


def assemble_report(f: Filters, config: Config, label: Labels, *, total: dict[str, Any], total_pct: Pct,
                    grouped: dict[Any, dict[str, Any]], group_pct: Callable[[Any], Pct],
                    procedures: list[dict[str, Any]], rating_counts: dict[str, dict[Any, dict[str, int]]],
                    heat: list[list[int]], by_day: dict[str, dict[str, Any]], source: str | None = None
                    ) -> dict[str, Any]:
    """The report from a path's figures: `total` and `grouped` are additive figures (figures._merge), `by_day`
    the same per local day, `heat` arrivals per (weekday, hour), `rating_counts` from `rating_counts()`."""
    out: dict[str, Any] = {"filters": f.as_dict(), "generated_at": to_iso(datetime.now(UTC))}
    if source:
        out["source"] = source
    out["summary"] = _finish("all", label("none", "all"), total, total_pct)
    out["procedures"] = procedures
    group = f.group
    if group == "procedure":
        out["rows"] = procedures
    elif group == "none":
        out["rows"] = [out["summary"]]
    else:
        out["rows"] = [_finish(k, label(group, k), grouped[k], group_pct(k)) for k in sorted(grouped, key=_order_key)]
    rating = config.rating
    out["rating_levels"] = [{"code": lv.code, "name": lv.name, "name_en": lv.name_en, "satisfied": lv.satisfied}
                            for lv in rating.levels]
    out["satisfaction"] = _satisfaction_tables(rating_counts, {lv.code for lv in rating.levels if lv.satisfied},
                                               label)
    days = [0] * 7
    for d in by_day:
        days[date.fromisoformat(d).weekday()] += 1
    _add_heatmap_and_trend(out, heat, days, by_day)
    return out


def procedure_row(label: Labels, key: Any, n: int, tickets: int, mean: float | None, pct: dict[str, float | None],
                  mx: float | None) -> dict[str, Any]:
    """One row of the service time per procedure table."""
    return {"key": key, "label": label("procedure", key), "n": n, "tickets": tickets, "service_mean_s": _r(mean),
            "service_median_s": _r(pct.get("median")), "service_p90_s": _r(pct.get("p90")),
            "service_max_s": _r(mx)}


def rating_counts(rows: Iterable[tuple[Any, Any, str, int]], procedure_rows: Iterable[tuple[Any, str, int]]
                  ) -> dict[str, dict[Any, dict[str, int]]]:
    """Ratings per level overall, by counter and by staff member from (counter, staff, level, n) rows, and by
    procedure from (procedure, level, n) rows."""
    counts: dict[str, dict[Any, dict[str, int]]] = {d: defaultdict(dict) for d in ("none", "counter", "staff",
                                                                                   "procedure")}
    for counter, staff, level, n in rows:
        for dim, k in (("none", "all"), ("counter", counter), ("staff", staff)):
            counts[dim][k][level] = counts[dim][k].get(level, 0) + n
    for proc, level, n in procedure_rows:
        counts["procedure"][proc][level] = counts["procedure"][proc].get(level, 0) + n
    return counts


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
