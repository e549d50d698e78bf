"""Staffing advice: counters needed per local hour by Erlang C (pooled and dedicated to a service),
beside the counter-hours the site actually had open and the service level it got."""

from __future__ import annotations

import math
import sqlite3
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from ..config.model import Config
from ..errors import Invalid
from ..queue.clock import from_iso, to_iso
from . import erlang
from .figures import _r, _share
from .filters import Filters, _base, utc_offset_minutes


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
