"""What guards issuing, besides opening hours and caps: the refusal when closed, each kiosk's token bucket, and
the answer a retried request id gets (the ticket its first try made)."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta
from typing import Any

from ..config.model import Site
from ..errors import Conflict, QueueError
from ..storage.store import Store
from .clock import to_iso

KIOSK_BURST = 5  # a kiosk device may issue 5 tickets at once, then one every KIOSK_REFILL_S of the center's clock
KIOSK_REFILL_S = 2.0
REQUEST_TTL_S = 600  # a retried request id returns the ticket it made for this long


def closed_error(site: Site, state: Any) -> Conflict:
    when = state.next_open.strftime("%H:%M ngày %d/%m/%Y") if state.next_open else None
    when_en = state.next_open.strftime("%H:%M on %d/%m/%Y") if state.next_open else None
    if state.reason == "closing_soon":
        return Conflict(f"Đã ngừng cấp số trước giờ đóng cửa {site.stop_issuing_before_close_min} phút"
                        + (f"; mời quay lại lúc {when}" if when else ""),
                        f"Ticket issuing stops {site.stop_issuing_before_close_min} min before closing"
                        + (f"; come back at {when_en}" if when_en else ""), code="issuing_stopped",
                        next_open=state.next_open.isoformat() if state.next_open else None)
    return Conflict("Ngoài giờ làm việc" + (f"; mời quay lại lúc {when}" if when else ""),
                    "Closed" + (f"; opens at {when_en}" if when_en else ""), code="closed",
                    next_open=state.next_open.isoformat() if state.next_open else None)


def take_issue_token(conn: sqlite3.Connection, device: str, now: datetime) -> None:
    """One token from the device's bucket (KIOSK_BURST, refilled one per KIOSK_REFILL_S), or a 429 saying when
    the next one comes. In the issue's transaction: the write lock serialises every process, and a refused
    or failed issue rolls the token back."""
    t = now.timestamp()
    row = conn.execute("SELECT tokens, at FROM issue_limits WHERE device = ?", (device,)).fetchone()
    tokens = KIOSK_BURST if row is None else min(KIOSK_BURST, row["tokens"] + max(0.0, t - row["at"]) / KIOSK_REFILL_S)
    if tokens < 1:
        raise QueueError("Kiosk đang cấp số quá nhanh, vui lòng chờ vài giây rồi chạm lại",
                         "Too many tickets from this kiosk; please wait a few seconds", code="rate_limited",
                         status=429, retry_after=round((1 - tokens) * KIOSK_REFILL_S, 1))
    conn.execute("INSERT INTO issue_limits (device, tokens, at) VALUES (?,?,?) ON CONFLICT(device) DO UPDATE "
                 "SET tokens = excluded.tokens, at = excluded.at", (device, tokens - 1, t))


def prior_request(conn: sqlite3.Connection, caller: str, request_id: str, now: datetime) -> sqlite3.Row | None:
    """The ticket an earlier request with this id made (within REQUEST_TTL_S), if any."""
    cutoff = to_iso(now - timedelta(seconds=REQUEST_TTL_S))
    return conn.execute("SELECT t.* FROM issue_requests r JOIN tickets t ON t.id = r.ticket_id "
                        "WHERE r.caller = ? AND r.request_id = ? AND r.at >= ?",
                        (caller, request_id, cutoff)).fetchone()


def remember_request(conn: sqlite3.Connection, caller: str, request_id: str, ticket_id: int, now: datetime) -> None:
    iso = to_iso(now)
    conn.execute("DELETE FROM issue_requests WHERE caller = ? AND at < ?",
                 (caller, to_iso(now - timedelta(seconds=REQUEST_TTL_S))))
    conn.execute("INSERT INTO issue_requests (caller, request_id, at, ticket_id) VALUES (?,?,?,?) "
                 "ON CONFLICT(caller, request_id) DO UPDATE SET at = excluded.at, ticket_id = excluded.ticket_id, "
                 "answer = NULL", (caller, request_id, iso, ticket_id))


def request_answer(store: Store, caller: str, request_id: str) -> dict[str, Any] | None:
    """What the route answered to a request id (stored by remember_answer), for a retry."""
    with store.connection() as conn:
        row = conn.execute("SELECT answer FROM issue_requests WHERE caller = ? AND request_id = ?",
                           (caller, request_id)).fetchone()
    return json.loads(row["answer"]) if row and row["answer"] else None


def remember_answer(store: Store, caller: str, request_id: str, answer: dict[str, Any]) -> None:
    with store.write() as conn:
        conn.execute("UPDATE issue_requests SET answer = ? WHERE caller = ? AND request_id = ?",
                     (json.dumps(answer, ensure_ascii=False), caller, request_id))
