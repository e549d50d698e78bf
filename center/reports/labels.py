"""Readable names for codes (sites, services, counters, procedures, hours, weekdays) and the one
rule for writing a duration, shared by every screen, export and printed report."""

from __future__ import annotations

import math
from typing import Any

from ..config.model import Config

WEEKDAYS_VI = ("Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ nhật")
WEEKDAYS_EN = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


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
