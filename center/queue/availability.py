"""Is a counter open for a service now, and will one open today?

A citizen who takes a number for a service that no counter serves right now (the land officer is out on
site, the civil-status counter is on a break) must know it before the tap, and the ticket must say it
instead of an empty estimate. "Will one open today" is read from what is knowable: a paused counter comes
back; otherwise the counters' openings on the same weekday over the last four weeks (counter_events) tell
when a counter serving the service usually opens later in the day, or that none usually does.
"""

from __future__ import annotations

import sqlite3
import statistics
import threading
import time
from datetime import datetime, timedelta
from typing import Any

from ..config.model import Config, Site
from .clock import from_iso, to_iso

HISTORY_DAYS = 28
CACHE_S = 300.0  # the history part changes at most a few times a day; a site's state is read every time

_cache: dict[tuple[str, ...], tuple[float, dict[str, Any]]] = {}
_lock = threading.Lock()


def availability(conn: sqlite3.Connection, config: Config, site: Site, now: datetime,
                 services_of: dict[str, tuple[str, ...]]) -> dict[str, dict[str, Any]]:
    """Per service of `site`: `counters_open` (open counters serving it), `counter_state` ("open",
    "paused": a counter serving it is on a break, "closed": none open), and for a service with none open
    `opens_today` (True, False, or None when unknown) with `usual_open_at` (ISO time, when a counter
    serving it usually opens later today), and `counter_note` / `counter_note_en` saying so ("" when a
    counter is open), `counter_label` / `counter_label_en` its first words. `services_of`: each counter's
    services today (with managers' overrides)."""
    status = dict(conn.execute("SELECT counter_id, status FROM counter_state WHERE site = ?",
                               (site.code,)).fetchall())
    history = None
    out: dict[str, dict[str, Any]] = {}
    for code in site.services:
        serving = [c for c in site.counters if code in services_of.get(c.id, c.services)]
        n_open = sum(status.get(c.id) == "open" for c in serving)
        paused = any(status.get(c.id) == "paused" for c in serving)
        item: dict[str, Any] = {"counters_open": n_open, "counter_state": "open" if n_open else
                                "paused" if paused else "closed", "opens_today": True if n_open or paused else None,
                                "usual_open_at": None}
        if not n_open and not paused:
            if history is None:
                history = _history(conn, config, site, now, services_of)
            item.update(history.get(code, {"opens_today": None, "usual_open_at": None}))
        item["counter_note"], item["counter_note_en"] = note(item, "vi"), note(item, "en")
        item["counter_label"], item["counter_label_en"] = label(item, "vi"), label(item, "en")
        out[code] = item
    return out


def _history(conn: sqlite3.Connection, config: Config, site: Site, now: datetime,
             services_of: dict[str, tuple[str, ...]]) -> dict[str, dict[str, Any]]:
    """From the same weekday of the last four weeks: per service, the usual (median) first time of day a
    counter serving it opened after this time of day, or opens_today False when on those days the site's
    counters worked and none serving it opened later."""
    tz = config.tz
    local = now.astimezone(tz)
    database = conn.execute("PRAGMA database_list").fetchone()[2]
    key = (database, site.code, local.date().isoformat(), repr(sorted(services_of.items())))
    with _lock:
        hit = _cache.get(key)
        if hit and time.monotonic() - hit[0] < CACHE_S and _later(hit[1], local):
            return hit[1]["result"]
    since = to_iso(now - timedelta(days=HISTORY_DAYS))
    day_start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    worked: set[str] = set()
    firsts: dict[str, dict[str, float]] = {}  # service -> past day -> first opening after now's time of day
    now_tod = (local - day_start).total_seconds()
    for counter_id, at in conn.execute(
            "SELECT counter_id, at FROM counter_events WHERE site = ? AND at > ? AND at < ? AND kind IN "
            "('open', 'resume')", (site.code, since, to_iso(day_start))):
        moment = from_iso(at).astimezone(tz)
        if moment.weekday() != local.weekday():
            continue
        day = moment.date().isoformat()
        worked.add(day)
        tod = moment.hour * 3600 + moment.minute * 60 + moment.second
        if tod <= now_tod:
            continue
        counter = next((c for c in site.counters if c.id == counter_id), None)
        if counter is None:
            continue
        for code in services_of.get(counter.id, counter.services):
            seen = firsts.setdefault(code, {})
            seen[day] = min(seen.get(day, tod), tod)
    result: dict[str, dict[str, Any]] = {}
    for code in site.services:
        days = firsts.get(code, {})
        if days:
            tod = statistics.median_low(sorted(days.values()))
            at = day_start + timedelta(seconds=tod)
            result[code] = {"opens_today": True, "usual_open_at": at.isoformat()}
        elif worked:
            result[code] = {"opens_today": False, "usual_open_at": None}
    with _lock:
        for old in [k for k in _cache if k[2] != key[2]]:  # other days' answers
            del _cache[old]
        _cache[key] = (time.monotonic(), {"result": result, "at": local})
    return result


def _later(cached: dict[str, Any], local: datetime) -> bool:
    """A cached answer holds while no usual opening time it gives has passed."""
    return all(v["usual_open_at"] is None or datetime.fromisoformat(v["usual_open_at"]) > local
               for v in cached["result"].values())


def label(item: dict[str, Any] | None, lang: str = "vi") -> str:
    """The first words of `note` alone, "Chưa có quầy mở" or "Quầy đang tạm nghỉ" ("" when a counter is open):
    for a screen with room for a few words only (the hall display's wait column), in the kiosk's own words."""
    if not item or item.get("counters_open"):
        return ""
    en = lang == "en"
    if item.get("counter_state") == "paused":
        return "Counter on a short break" if en else "Quầy đang tạm nghỉ"
    return "No counter open yet" if en else "Chưa có quầy mở"


def note(item: dict[str, Any] | None, lang: str = "vi") -> str:
    """What the kiosk tile, the ticket and the status page say about a service with no counter open ("" when
    one is): `label`, then when one usually opens or what to do."""
    head = label(item, lang)
    if not head:
        return ""
    en = lang == "en"
    if item and item.get("counter_state") == "paused":
        return f"{head} – back soon" if en else f"{head} – sẽ mở lại"
    if item.get("usual_open_at"):
        hhmm = datetime.fromisoformat(item["usual_open_at"]).strftime("%H:%M")
        return f"{head} – usually opens at {hhmm}" if en else f"{head} – thường mở lúc {hhmm}"
    if item.get("opens_today") is False:
        return f"{head} – usually none today" if en else f"{head} – hôm nay thường không mở"
    return f"{head} – please ask staff" if en else f"{head} – vui lòng hỏi cán bộ"


def for_service(engine: Any, site_code: str, service: str) -> dict[str, Any]:
    """`availability` of one service now (for a ticket being shown or printed)."""
    site = engine.config.sites[site_code]
    with engine.store.read() as conn:
        item = availability(conn, engine.config, site, engine.clock(),
                            {c.id: engine.counter_services(c, conn) for c in site.counters}).get(service, {})
    return item
