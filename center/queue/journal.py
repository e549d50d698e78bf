"""The history tables' one writer: `ticket_events` (each operation of a ticket, print outcomes, the synthetic
history's bulk load) and `counter_events` (a counter opened, released, paused, resumed)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from typing import Any

from ..config.model import Counter
from ..storage.outbox import own_id


def log_ticket(conn: sqlite3.Connection, ticket_id: int, at: str, kind: str, site: str, counter_id: str | None,
               staff: str | None, data: dict[str, Any] | None) -> None:
    append_events(conn, [(ticket_id, at, kind, site, counter_id, staff,
                          json.dumps(data, ensure_ascii=False) if data else None)])


def append_events(conn: sqlite3.Connection, rows: Iterable[tuple[Any, ...]]) -> None:
    """Rows of `ticket_events` (ticket_id, at, kind, site, counter_id, staff, data as JSON text): the only
    writer of a ticket's history (the engine's operations, print outcomes, the synthetic history's bulk load)."""
    conn.executemany("INSERT INTO ticket_events (id, ticket_id, at, kind, site, counter_id, staff, data) "
                     f"VALUES ({own_id('ticket_events')},?,?,?,?,?,?,?)", rows)


def log_counter(conn: sqlite3.Connection, counter: Counter, at: str, kind: str, staff: str | None,
                reason: str | None) -> None:
    conn.execute("INSERT INTO counter_events (id, counter_id, site, at, kind, staff, reason) "
                 f"VALUES ({own_id('counter_events')},?,?,?,?,?,?)",
                 (counter.id, counter.site, at, kind, staff, reason))
