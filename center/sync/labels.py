"""What a center tells the province hub about itself with its records: names of its sites, services and
procedures, each service's target wait and which rating levels count as satisfied. The hub's figures use the
center's own definitions, so a center's report at the hub equals its own (center/hub/summary.py)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ..config.model import Config


def build(config: Config) -> dict[str, Any]:
    body = {
        "center_name": config.center_name, "center_name_en": config.center_name_en, "timezone": config.timezone,
        "sites": {s.code: {"name": s.name, "name_en": s.name_en} for s in config.sites.values()},
        "services": {sv.code: {"name": sv.name, "name_en": sv.name_en, "target_wait_min": sv.target_wait_min,
                               "procedures": {p.code: {"name": p.name, "name_en": p.name_en}
                                              for p in sv.procedures}}
                     for sv in config.services.values()},
        "rating_levels": [{"code": lv.code, "name": lv.name, "name_en": lv.name_en, "satisfied": lv.satisfied}
                          for lv in config.rating.levels],
        "counters": {c.id: {"name": c.name, "site": c.site} for s in config.sites.values() for c in s.counters},
        "booking": _booking(config),
    }
    return {**body, "hash": hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()
                                           ).hexdigest()[:32]}


def _hours(intervals: tuple) -> list[str]:
    return [f"{a:%H:%M}-{'24:00' if b is None else format(b, '%H:%M')}" for a, b in intervals]


def _booking(config: Config) -> dict[str, Any]:
    """[booking] and what the hub needs to lay out a center's slots: each site's hours, and per service the counters
    serving it at each site and its default handling time. The places per slot come apart from the labels, in the
    center's booking plan (center/queue/bookings.py `booking_plan`: measured, changing within a day, and a labels
    change rebuilds the center's summaries at the hub); these counters and minutes count them only for a center
    that sends no plan."""
    return {**config.booking.as_dict(),
            "sites": {s.code: {"hours": {day: _hours(iv) for day, iv in s.hours.items()},
                               "closed_dates": list(s.closed_dates), "services": list(s.services),
                               "stop_issuing_before_close_min": s.stop_issuing_before_close_min}
                      for s in config.sites.values()},
            "services": {sv.code: {"default_service_min": sv.default_service_min,
                                   "counters": {s.code: sum(1 for c in s.counters if sv.code in c.services)
                                                for s in config.sites.values() if sv.code in s.services}}
                         for sv in config.services.values()}}
