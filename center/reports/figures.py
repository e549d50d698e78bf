"""The additive figures of a group of ticket entries (counts, sums, maxima) and how a report row is
finished from them (means, service level, no-show rate): one definition for the raw and the roll-up
paths, which only differ in where the sums come from."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from .filters import STATUSES


def _order_key(k: Any) -> tuple[int, Any]:
    """SQLite's ORDER BY for keys: NULL first, then numbers, then text."""
    if k is None:
        return (0, 0)
    return (1, k) if isinstance(k, int | float) else (2, k)


def _r(x: float | None, digits: int = 1) -> float | None:
    return None if x is None else round(float(x), digits)


def _share(a: int | None, b: int | None) -> float | None:
    return round(a / b, 4) if b else None


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


_VEC = (*_SUMS, "wait_max", "service_max")  # a row of the (day × hour) pass after its day and hour


@dataclass
class DayHours:
    """The (day × hour) pass folded: the summary's figures, each day's and hour's, which weekday each day is,
    and the arrivals heat map (weekday × hour)."""

    total: dict[str, Any]
    by_day: dict[str, dict[str, Any]]
    by_hour: dict[Any, dict[str, Any]]
    weekday_of: dict[str, int]
    heat: list[list[int]]

    def grouped(self, group: str) -> dict[Any, dict[str, Any]]:
        """The day, hour or weekday groups (empty for any other grouping: its own pass fills it)."""
        if group == "day":
            return self.by_day
        if group == "hour":
            return self.by_hour
        out: dict[Any, dict[str, Any]] = defaultdict(dict)
        if group == "weekday":
            for d, acc in self.by_day.items():
                _merge(out[self.weekday_of[d]], acc)
        return out


def fold_day_hours(rows: Iterable[Sequence[Any]]) -> DayHours:
    """Fold rows (day, hour, *_VEC): the raw path's (day × hour) aggregates, or the roll-ups' sums of past days
    followed by today's raw ones; one fold for both paths, so their summary, trend and heat map agree."""
    heat = [[0] * 24 for _ in range(7)]
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
    return DayHours(total=_vec_dict(total_vec) if day_vec else {},
                    by_day=defaultdict(dict, {d: _vec_dict(v) for d, v in day_vec.items()}),
                    by_hour=defaultdict(dict, {h: _vec_dict(v) for h, v in hour_vec.items()}),
                    weekday_of=weekday_of, heat=heat)
