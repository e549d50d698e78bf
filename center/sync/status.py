"""What people see of the sync, in both languages, built once here for every screen.

At a node, staff must know when the link to the center is down (they keep working: records wait and go when
it is back), when this machine's clock is wrong (its records are flagged at the center) and how old its
configuration is. At the center, managers must see each node's last contact and clock, and be told when a
node falls silent or its clock is off, as live alerts beside the queue's own.

`GET /api/sync/status` gives a node's state to its staff screens (a center answers `{"node": null}`).
"""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import datetime
from typing import Any

from flask import Blueprint, jsonify

from ..config.model import Config
from ..queue.clock import from_iso, to_iso
from ..storage import outbox
from ..web.request import center, require
from . import nodes
from .protocol import CLOCK_TOLERANCE_S

# The link sends a heartbeat every 10 s: past this without an answer the node's screens say the link is down.
LINK_DOWN_S = float(os.environ.get("XEPHANG_SYNC_DOWN_S", "60"))

bp = Blueprint("sync_status", __name__)


def local_clock(iso: str | None, config: Config, now: datetime) -> str | None:
    """A stored UTC time as the center's local "HH:MM", with the date when it is not today."""
    if not iso:
        return None
    tz = config.tz
    moment = from_iso(iso).astimezone(tz)
    if moment.date() == now.astimezone(tz).date():
        return moment.strftime("%H:%M")
    return moment.strftime("%H:%M %d/%m/%Y")


def _minutes(offset_s: float) -> int:
    return max(1, round(abs(offset_s) / 60))


# ---------------------------------------------------------------------- at a node


def node_link(conn: sqlite3.Connection, config: Config, now: datetime, db_path: str | None = None
              ) -> dict[str, Any] | None:
    """This node's link as its staff screens show it: up or down since when, records waiting to go, what the
    center refused, the clock against the center's, when the configuration came. A node joined from a manifest
    file with no token (`db_path` tells where it would be) sends by USB only: it says so, and what the last
    bundle did not carry. None at a center (no [upstream])."""
    if config.upstream is None:
        return None
    row = conn.execute("SELECT acked, last_ok_at, clock_offset_s, manifest_at, refused_at, refused, bundle_to, "
                       "bundle_at FROM sync_link").fetchone()
    acked, last_ok, offset, config_at = (row[0], row[1], row[2], row[3]) if row else (0, None, None, None)
    pending = outbox.pending(conn, int(acked or 0)) if row else 0
    ok_age = (now - from_iso(last_ok)).total_seconds() if last_ok else None
    down = ok_age is None or ok_age > LINK_DOWN_S
    clock_off = offset is not None and abs(offset) > CLOCK_TOLERANCE_S
    usb_only = bool(db_path) and last_ok is None and not _has_token(db_path, config)
    banners = []
    if usb_only:
        bundle_to, bundle_at = (int(row[6] or 0), row[7]) if row else (0, None)
        left = outbox.pending(conn, max(int(acked or 0), bundle_to)) if row else 0
        last = local_clock(bundle_at, config, now)
        banners.append({
            "kind": "usb_only", "pending": left,
            "message": "Máy này gửi dữ liệu về trung tâm bằng USB: chạy lệnh `xephang sync export --dest <thư mục "
                       "USB>` rồi mang USB về trung tâm"
                       + (f" – {left} bản ghi chưa có trong bản xuất nào" if left else " – đã xuất đủ")
                       + (f" (lần xuất gần nhất {last})" if last else " (chưa xuất lần nào)"),
            "message_en": "This machine sends its records by USB: run `xephang sync export --dest <USB folder>` "
                          "and carry the stick to the center"
                          + (f" – {left} records are in no bundle yet" if left else " – everything is exported")
                          + (f" (last export {last})" if last else " (never exported)")})
    elif down:
        since = local_clock(last_ok, config, now)
        waiting_vi = f" ({pending} bản ghi đang chờ gửi)" if pending else ""
        waiting_en = f" ({pending} records waiting)" if pending else ""
        banners.append({
            "kind": "link_down", "pending": pending,
            "message": (f"Mất kết nối tới trung tâm từ {since}" if since else "Chưa kết nối được tới trung tâm")
            + " – vẫn lấy số, gọi số bình thường; dữ liệu sẽ gửi khi có mạng" + waiting_vi,
            "message_en": (f"No link to the center since {since}" if since else "Not connected to the center yet")
            + " – issue and call tickets as usual; the records will be sent when the network is back" + waiting_en})
    refused = _refused(row[5] if row else None)
    if refused:
        since = local_clock(row[4], config, now)
        if refused.get("whole"):
            vi = (f"Trung tâm từ chối dữ liệu của máy này từ {since}: {refused.get('message') or ''} – dữ liệu vẫn "
                  "được giữ ở đây; báo quản trị viên")
            en = (f"The center refuses this machine's records since {since}: {refused.get('message_en') or ''} – "
                  "they are kept here; tell IT")
        else:
            vi = (f"Trung tâm chưa nhận {refused.get('records') or 'một số'} bản ghi của máy này (lúc {since}): "
                  "các bản ghi khác vẫn gửi bình thường; báo quản trị viên trung tâm (lệnh `xephang sync held`)")
            en = (f"The center holds back {refused.get('records') or 'some'} of this machine's records (at {since}); "
                  "the others go through; tell the center's IT (`xephang sync held`)")
        banners.append({"kind": "link_refused", "message": vi, "message_en": en, "detail": refused})
    if clock_off:
        n = _minutes(offset)
        ahead_vi, ahead_en = ("nhanh", "ahead") if offset > 0 else ("chậm", "behind")
        banners.append({
            "kind": "clock_off", "clock_offset_s": offset,
            "message": f"Đồng hồ máy này lệch {n} phút so với trung tâm ({ahead_vi} hơn) – báo quản trị viên "
                       "chỉnh giờ",
            "message_en": f"This machine's clock is {n} min {ahead_en} the center's – ask the administrator to "
                          "set the time"})
    config_note = None
    if config_at:
        when = local_clock(config_at, config, now)
        config_note = {"message": f"Cấu hình nhận từ trung tâm lúc {when}",
                       "message_en": f"Configuration received from the center at {when}"}
    return {"node": config.upstream.node, "at": to_iso(now), "link_up": not down, "last_ok_at": last_ok,
            "last_ok_age_s": None if ok_age is None else max(0, round(ok_age)), "pending": pending,
            "clock_offset_s": offset, "clock_off": clock_off, "config_at": config_at,
            "config_age_s": None if not config_at else max(0, round((now - from_iso(config_at)).total_seconds())),
            "config_note": config_note, "banners": banners, "usb_only": usb_only,
            "refused": refused}


def _has_token(db_path: str, config: Config) -> bool:
    from .link import token_path

    return token_path(db_path, config).exists()


def _refused(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return {"message": text, "message_en": text, "whole": True}
    return value if isinstance(value, dict) else None


@bp.get("/api/sync/status")
def sync_status() -> Any:
    """The node's link for its staff screens (the banner on the counter page and the overview)."""
    require("queue.detail")
    c = center()
    with c.store.read() as conn:
        state = node_link(conn, c.config, c.engine.clock(), c.store.path)
    return jsonify(state if state is not None else {"node": None, "banners": []})


# ---------------------------------------------------------------------- at the center


def _place(name: str) -> str:
    """"điểm X", unless the node's name already starts with "Điểm"."""
    return name if name.lower().startswith("điểm") else f"điểm {name}"


def node_alerts(rows: list[dict[str, Any]], config: Config, now: datetime) -> list[dict[str, Any]]:
    """Live alerts for nodes that hold a token (a revoked one is gone on purpose): silent past SILENT_AFTER_S,
    or a clock off past the tolerance."""
    alerts: list[dict[str, Any]] = []
    for r in rows:
        if not r["has_token"]:
            continue
        place = _place(r["name"])
        if r["silent"]:
            since = local_clock(r["last_contact_at"], config, now)
            if since:
                minutes = (r["age_s"] or 0) // 60
                alerts.append({"kind": "node_silent", "node": r["node"], "since": r["last_contact_at"],
                               "message": f"Chưa nhận được tin từ {place} từ {since} ({minutes} phút)",
                               "message_en": f"No news from {r['name']} since {since} ({minutes} min)"})
            else:
                alerts.append({"kind": "node_silent", "node": r["node"], "since": None,
                               "message": f"Chưa nhận được tin từ {place} (chưa kết nối lần nào)",
                               "message_en": f"No news from {r['name']} yet (never connected)"})
        if r["clock_off"]:
            n = _minutes(r["clock_offset_s"])
            ahead_vi, ahead_en = ("nhanh", "ahead of") if r["clock_offset_s"] > 0 else ("chậm", "behind")
            alerts.append({"kind": "node_clock", "node": r["node"], "clock_offset_s": r["clock_offset_s"],
                           "message": f"Đồng hồ máy tại {place} lệch {n} phút ({ahead_vi} hơn trung tâm); "
                                      "số liệu của điểm này được đánh dấu trong báo cáo",
                           "message_en": f"The clock at {r['name']} is {n} min {ahead_en} the center's; its "
                                         "records are flagged in reports"})
        if r.get("held"):
            alerts.append({"kind": "node_refused", "node": r["node"], "held": r["held"], "since": r["refused_at"],
                           "message": f"Trung tâm chưa nhận được {r['held']} bản ghi của {place} (dữ liệu không khớp "
                                      "với cấu hình); các bản ghi khác vẫn nhận bình thường – quản trị viên xem "
                                      f"bằng lệnh `xephang sync held {r['node']}`",
                           "message_en": f"The center could not take {r['held']} record(s) from {r['name']} (they do "
                                         "not match its configuration); the others arrive as usual – IT: "
                                         f"`xephang sync held {r['node']}`",
                           "detail": r["refused"]})
    return alerts


def center_nodes(conn: sqlite3.Connection, config: Config, now: datetime) -> dict[str, Any]:
    """The "Places" panel: each configured node with its sites' names, local times and the alerts."""
    rows = nodes.status(conn, config, now)
    for r in rows:
        r["site_names"] = [{"code": s, "name": config.sites[s].name if s in config.sites else s,
                            "name_en": config.sites[s].name_en if s in config.sites else s} for s in r["sites"]]
        r["last_contact_local"] = local_clock(r["last_contact_at"], config, now)
        if r["last_bundle"]:
            r["last_bundle"]["at_local"] = local_clock(r["last_bundle"]["at"], config, now)
    return {"at": to_iso(now), "silent_after_s": nodes.SILENT_AFTER_S, "nodes": rows,
            "alerts": node_alerts(rows, config, now)}


def overview_extras(conn: sqlite3.Connection, config: Config, site: str, now: datetime
                    ) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """For the live overview of `site`: the node that serves it (None for a site served here) and every
    node's alerts (a silent node matters whichever site the manager is looking at)."""
    alerts = hub_alerts(conn, config, now)
    if not config.nodes:
        return None, alerts
    data = center_nodes(conn, config, now)
    serving = next((r for r in data["nodes"] if site in r["sites"]), None)
    return serving, data["alerts"] + alerts


def hub_alerts(conn: sqlite3.Connection, config: Config, now: datetime) -> list[dict[str, Any]]:
    """A center joined to the province hub: what the hub refused or holds back of its records (sync_link)."""
    if config.hub is None:
        return []
    row = conn.execute("SELECT refused_at, refused FROM sync_link").fetchone()
    refused = _refused(row[1]) if row else None
    if not refused:
        return []
    since = local_clock(row[0], config, now)
    whole = refused.get("whole")
    return [{"kind": "hub_refused", "since": row[0], "detail": refused,
             "message": (f"Cổng dữ liệu của tỉnh từ chối dữ liệu của trung tâm từ {since}: "
                         f"{refused.get('message') or ''} – dữ liệu vẫn được giữ ở đây; báo bộ phận CNTT của tỉnh"
                         if whole else
                         f"Cổng dữ liệu của tỉnh chưa nhận {refused.get('records') or 'một số'} bản ghi của trung tâm "
                         f"(lúc {since}); các bản ghi khác vẫn gửi bình thường – báo bộ phận CNTT của tỉnh"),
             "message_en": (f"The province hub refuses this center's records since {since}: "
                            f"{refused.get('message_en') or ''} – they are kept here; tell the province's IT"
                            if whole else
                            f"The province hub holds back {refused.get('records') or 'some'} of this center's "
                            f"records (at {since}); the others go through – tell the province's IT")}]
