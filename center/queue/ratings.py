"""Citizen satisfaction ratings: one rating per ticket, from the pad at the counter that served it.

The rating pad faces the citizen and holds no credential. What keeps it honest is the server: a
rating is accepted only for the ticket the counter finished most recently, only within a few minutes
of that finish, and only once (ratings.ticket_id is the primary key). The staff member and counter
are taken from the ticket, never from the pad; the procedures are joined from ticket_procedures.

What the pad offers (levels, reasons, how long it may ask) is the [rating] section of config.toml,
parsed once with the rest of the file (`center.config.read.Rating`, `Config.rating`).
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta
from typing import Any

from ..config.model import Rating
from ..errors import Conflict, Invalid
from ..storage.store import Store
from .clock import from_iso, to_iso

MAX_REASONS = 10
MAX_NOTE = 300


def _last_finished(conn: sqlite3.Connection, counter_id: str) -> sqlite3.Row | None:
    return conn.execute(
        "SELECT id, number, site, service, staff, counter_id, ended_at FROM tickets "
        "WHERE counter_id = ? AND status = 'served' ORDER BY ended_at DESC, id DESC LIMIT 1",
        (counter_id,)).fetchone()


def pending(store: Store, counter_id: str, now: datetime, settings: Rating) -> dict[str, Any] | None:
    """The ticket the pad may ask about now: the counter's last finished one, recent and not yet rated."""
    with store.read() as conn:
        row = _last_finished(conn, counter_id)
        if row is None or not row["ended_at"]:
            return None
        ended = from_iso(row["ended_at"])
        expires = ended + timedelta(minutes=settings.window_min)
        if now >= expires or now < ended - timedelta(minutes=1):
            return None
        if conn.execute("SELECT 1 FROM ratings WHERE ticket_id = ?", (row["id"],)).fetchone():
            return None
    return {"ticket": row["id"], "number": row["number"], "finished_at": row["ended_at"],
            "expires_in_s": round((expires - now).total_seconds())}


def record(store: Store, counter_id: str, ticket_id: Any, level: Any, reasons: Any, now: datetime,
           settings: Rating) -> dict[str, Any]:
    """Store one rating; refuses a ticket that is not the counter's latest recent finish, or rated before."""
    if isinstance(ticket_id, bool) or not isinstance(ticket_id, int):
        raise Invalid("Thiếu số thứ tự cần đánh giá", "'ticket' (id) is required", code="missing_field",
                      field="ticket")
    lv = settings.level(level)
    if lv is None:
        raise Invalid("Mức đánh giá không hợp lệ", f"level must be one of {', '.join(x.code for x in settings.levels)}",
                      code="bad_level", field="level")
    if reasons is None:
        reasons = []
    if not isinstance(reasons, list) or len(reasons) > MAX_REASONS:
        raise Invalid("Lý do không hợp lệ", "reasons must be a list of reason codes", code="bad_reasons",
                      field="reasons")
    known = {r.code for r in settings.reasons}
    clean: list[str] = []
    for r in reasons:
        if not isinstance(r, str) or r not in known:
            raise Invalid("Lý do không hợp lệ", f"Unknown reason '{r}'", code="bad_reasons", field="reasons")
        if r not in clean:
            clean.append(r)
    if clean and not lv.ask_reasons:
        clean = []  # reasons only explain an unhappy answer
    iso = to_iso(now)
    with store.write() as conn:
        row = _last_finished(conn, counter_id)
        if row is None or row["id"] != ticket_id:
            raise Conflict("Số này không còn chờ đánh giá tại quầy", "This ticket is not awaiting a rating here",
                           code="not_ratable")
        if now >= from_iso(row["ended_at"]) + timedelta(minutes=settings.window_min):
            raise Conflict("Đã hết thời gian đánh giá cho số này", "The rating window for this ticket has passed",
                           code="rating_expired")
        cur = conn.execute(
            "INSERT INTO ratings (ticket_id, site, counter_id, staff, level, reasons, at) VALUES (?,?,?,?,?,?,?) "
            "ON CONFLICT(ticket_id) DO NOTHING",
            (row["id"], row["site"], counter_id, row["staff"], lv.code, json.dumps(clean, ensure_ascii=False), iso))
        if cur.rowcount == 0:
            raise Conflict("Số này đã được đánh giá, xin cảm ơn", "This ticket has already been rated",
                           code="already_rated")
    return {"ticket": row["id"], "number": row["number"], "counter": counter_id, "level": lv.code,
            "satisfied": lv.satisfied, "reasons": clean, "at": iso}


def get_rating(store: Store, ticket_id: int) -> dict[str, Any] | None:
    """One stored rating with the ticket's procedures (for reports and tests)."""
    with store.read() as conn:
        row = conn.execute("SELECT * FROM ratings WHERE ticket_id = ?", (ticket_id,)).fetchone()
        if row is None:
            return None
        procedures = [r[0] for r in conn.execute(
            "SELECT procedure FROM ticket_procedures WHERE ticket_id = ? ORDER BY id", (ticket_id,))]
    out = dict(row)
    out["reasons"] = json.loads(out["reasons"]) if out["reasons"] else []
    out["procedures"] = procedures
    return out


def staff_summary(conn: sqlite3.Connection, staff: str, site: str, day: str) -> dict[str, Any]:
    """Ratings a staff member received for tickets of one service day."""
    rows = conn.execute(
        "SELECT r.level, count(*) AS n FROM ratings r JOIN tickets t ON t.id = r.ticket_id "
        "WHERE r.staff = ? AND t.site = ? AND t.service_day = ? GROUP BY r.level", (staff, site, day)).fetchall()
    return {r["level"]: r["n"] for r in rows}
