"""The manager's live overview: the queue state with how long each counter has been busy, alerts that
need someone to act now, and today's figures with the report's definitions."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from typing import Any

from ..config.model import Config
from ..queue.clock import from_iso, to_iso
from .figures import _r, _share
from .filters import Filters, _base

PAUSE_ALERT_MIN = 15
PRINT_ALERT_MIN = 60


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
