"""The province's live panel: per center, the queue now and whether the hub can trust what it shows (a silent
center, a wrong clock, a failing printer), with the alerts the province acts on listed first.

"Now" is only as fresh as the center's last push, which is why last contact is shown beside every figure.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from .config import HubCenter, HubConfig
from .names import center_names

SILENT_S = 300  # a center silent this long is an alert (it pushes every few seconds while up)
CLOCK_WARN_S = 120  # as the center warns of its nodes' clocks
PRINTER_WINDOW = "1 hour"


def _ago(seconds: float | None, en: bool) -> str | None:
    """"N giây/phút/giờ trước": how long ago, in words a province clerk reads at a glance."""
    if seconds is None:
        return None
    s = max(0, int(seconds))
    if s < 60:
        return f"{s} s ago" if en else f"{s} giây trước"
    if s < 3600:
        return f"{s // 60} min ago" if en else f"{s // 60} phút trước"
    if s < 86400:
        return f"{s // 3600} h ago" if en else f"{s // 3600} giờ trước"
    return f"{s // 86400} d ago" if en else f"{s // 86400} ngày trước"


def live(conn: Any, cfg: HubConfig, centers: list[HubCenter], now: datetime | None = None,
         lang: str = "vi") -> dict[str, Any]:
    """The panel's rows and alerts for these centers (the caller's visible ones only)."""
    now = now or datetime.now(UTC)
    en = lang == "en"
    ids = [c.id for c in centers]
    today = now.astimezone(cfg.tz).date()
    meta = {r[0]: r for r in conn.execute(
        "SELECT center, last_contact_at, version, clock_offset_s FROM hub_centers WHERE center = ANY(%s)", (ids,))}
    labels = {r[0]: r[1] or {} for r in conn.execute(
        "SELECT center, labels FROM hub_labels WHERE center = ANY(%s)", (ids,))}
    names = center_names(conn, centers, en)
    held = dict(conn.execute("SELECT center, count(*) FROM hub_held WHERE center = ANY(%s) GROUP BY 1",
                             (ids,)).fetchall())
    waits: dict[str, list[tuple[str, int, datetime | None]]] = {}
    for center, service, n, oldest in conn.execute(
            "SELECT center, service, count(*), min(queue_at) FROM tickets WHERE center = ANY(%s) AND service_day = %s "
            "AND status = 'waiting' GROUP BY 1, 2", (ids, today)):
        waits.setdefault(center, []).append((service, n, oldest))
    open_counters = dict(conn.execute("SELECT center, count(*) FROM counter_state WHERE center = ANY(%s) AND "
                                      "status = 'open' GROUP BY 1", (ids,)).fetchall())
    printers: dict[str, list[dict[str, Any]]] = {}
    for center, kiosk, error, at in conn.execute(
            "SELECT DISTINCT ON (f.center, f.kiosk) f.center, f.kiosk, f.error, coalesce(f.updated_at, f.created_at) "
            "FROM print_jobs f WHERE f.center = ANY(%s) AND f.status = 'failed' "
            f"AND coalesce(f.updated_at, f.created_at) > %s::timestamptz - interval '{PRINTER_WINDOW}' "
            "AND NOT EXISTS (SELECT 1 FROM print_jobs p WHERE p.center = f.center AND p.kiosk = f.kiosk "
            "AND p.status = 'printed' AND coalesce(p.updated_at, p.created_at) > coalesce(f.updated_at, f.created_at)) "
            "ORDER BY f.center, f.kiosk, 4 DESC", (ids, now)):
        printers.setdefault(center, []).append({"kiosk": kiosk, "error": error, "at": at.isoformat() if at else None})
    rows, alerts = [], []
    for c in centers:
        lab = labels.get(c.id, {})
        name = names.get(c.id, c.name)
        m = meta.get(c.id)
        contact = m[1] if m else None
        silent = (now - contact).total_seconds() if contact else None
        offset = m[3] if m else None
        services = lab.get("services") or {}
        waiting = sum(n for _, n, _ in waits.get(c.id, []))
        longest, over = 0, []
        for service, _n, oldest in waits.get(c.id, []):
            w = max(0, int((now - oldest).total_seconds())) if oldest else 0
            longest = max(longest, w)
            target = float((services.get(service) or {}).get("target_wait_min", 15)) * 60
            if w > target:
                sv = services.get(service) or {}
                over.append({"service": service, "name": (sv.get("name_en") if en else sv.get("name")) or service,
                             "wait_s": w, "target_s": target})
        row = {"center": c.id, "name": name, "waiting": waiting, "longest_wait_s": longest,
               "counters_open": int(open_counters.get(c.id, 0)), "last_contact_at": contact.isoformat() if contact
               else None, "last_contact_s": None if silent is None else int(silent),
               "last_contact_text": _ago(silent, en) or ("never" if en else "chưa kết nối"),
               "version": (m[2] if m else None) or "", "clock_offset_s": offset,
               "clock_warn": offset is not None and abs(offset) > CLOCK_WARN_S,
               "printer_problems": printers.get(c.id, []), "over_target": over}
        rows.append(row)
        if silent is None or silent > SILENT_S:
            alerts.append({"center": c.id, "name": name, "kind": "silent",
                           "text": (f"no contact: {row['last_contact_text']}" if en
                                    else f"mất liên lạc: {row['last_contact_text']}")})
        if row["clock_warn"]:
            alerts.append({"center": c.id, "name": name, "kind": "clock",
                           "text": (f"clock off by {offset:+.0f} s" if en else f"đồng hồ lệch {offset:+.0f} giây")})
        for p in row["printer_problems"]:
            alerts.append({"center": c.id, "name": name, "kind": "printer",
                           "text": (f"printer of {p['kiosk']} failing" if en else f"máy in của {p['kiosk']} bị lỗi")})
        if held.get(c.id):
            n = held[c.id]
            alerts.append({"center": c.id, "name": name, "kind": "held",
                           "text": (f"{n} record(s) held back: they do not match hub.toml or the hub's columns "
                                    f"(`xephang hub held {c.id}`)" if en else
                                    f"{n} bản ghi chưa nhận được: không khớp với hub.toml hoặc cơ sở dữ liệu của "
                                    f"tỉnh (lệnh `xephang hub held {c.id}`)")})
        for o in over:
            alerts.append({"center": c.id, "name": name, "kind": "wait",
                           "text": (f"{o['name']}: waiting {o['wait_s'] // 60} min (target {o['target_s'] / 60:.0f})"
                                    if en else f"{o['name']}: chờ {o['wait_s'] // 60} phút (mục tiêu "
                                               f"{o['target_s'] / 60:.0f})")})
    return {"now": now.isoformat(), "today": today.isoformat(), "centers": rows, "alerts": alerts}
