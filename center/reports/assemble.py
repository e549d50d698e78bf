"""The report's shared parts: satisfaction tables from rating counts, the arrivals heat map and the
day-by-day trend, built the same way whichever path summed the figures."""

from __future__ import annotations

from typing import Any

from .figures import _finish, _share


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
