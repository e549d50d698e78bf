"""The audit log: who did what to what, and when. The only module that writes `audit_log`.

One column set for every entry (the manager's audit page and `/api/audit` read them all alike): the
actor's name and role, a dotted or snake-case action, what it was done to, and a JSON detail.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from .outbox import own_id


def record(conn: sqlite3.Connection, at: str, actor: str, role: str, action: str, target: str | None = None,
           detail: dict[str, Any] | None = None) -> None:
    """One entry, inside the caller's write transaction: it commits with what it records, or not at all.
    An empty detail is stored as NULL."""
    conn.execute("INSERT INTO audit_log (id, at, actor, role, action, target, detail) "
                 f"VALUES ({own_id('audit_log')},?,?,?,?,?,?)",
                 (at, actor, role, action, target, json.dumps(detail, ensure_ascii=False) if detail else None))
