"""Wrong booking codes: limited per caller (a kiosk device, a staff account on the API) and per site.

A booking code is 6 of 31 characters; a hit prints that citizen's ticket and takes their booking. Someone at a
kiosk typed 300 random codes in a row, 6–8 a second, and was never refused. Now: 5 wrong codes within a
rolling minute from one caller (15 from one site) start a pause during which that caller (or every caller of
that site) is refused with 429 before any code is looked up; each further pause within the hour doubles
(30 s, 60 s, 120 s … at most an hour). A right code is never refused outside a pause, and it clears the
caller's count (a citizen who mistyped is not left near the limit for the next one).

State lives in SQLite, in the `login_limits` table the sign-in limits use (key, level, locked_until,
expires_at; not synced), so every server process sees the same counts; a wrong code costs one short write:
  codes:<site>:<scope>:f:<ns>   one wrong code, for the rolling window (expires after it)
  codes:<site>:<scope>          the pause: level = pauses in the last hour, locked_until, updated_at = when
where <scope> is `dev:<caller>` or `site`. Each pause is written to the audit log (`booking.code_locked`), and
the desk page of the site shows the pauses of the last hour (`alerts`).
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ..errors import QueueError
from ..storage import audit
from .actors import Actor
from .clock import from_iso, to_iso


@dataclass(frozen=True)
class Rule:
    scope: str  # "dev" (one caller) or "site"
    wrong: int  # wrong codes within `window_s` that start a pause
    window_s: float = 60.0
    first_pause_s: float = 30.0
    max_pause_s: float = 3600.0
    memory_s: float = 3600.0  # a pause is remembered this long after it ends: the next one is twice as long


CALLER = Rule("dev", 5)
SITE = Rule("site", 15)
PREFIX = "codes:"


def _base(site: str | None, rule: Rule, caller: str) -> str:
    scope = f"dev:{caller}" if rule.scope == "dev" else "site"
    return f"{PREFIX}{site or '-'}:{scope}"


def _words(seconds: float, en: bool) -> str:
    s = max(1, round(seconds))
    if s < 90:
        return f"{s} s" if en else f"{s} giây"
    m = round(s / 60)
    return f"{m} min" if en else f"{m} phút"


def too_many(seconds: float) -> QueueError:
    """The refusal during a pause: what the kiosk shows, and when to try again."""
    return QueueError(f"Nhập sai quá nhiều lần – vui lòng chờ {_words(seconds, False)} hoặc hỏi cán bộ",
                      f"Too many wrong codes – please wait {_words(seconds, True)} or ask staff",
                      code="too_many_codes", status=429, retry_after=max(1, round(seconds)))


def refuse_if_paused(conn: sqlite3.Connection, site: str | None, caller: str, now: datetime) -> None:
    """Raise `too_many` while this caller or its site is paused (a read; nothing is counted)."""
    iso = to_iso(now)
    rows = conn.execute("SELECT locked_until FROM login_limits WHERE key IN (?, ?) AND locked_until > ?",
                        (_base(site, CALLER, caller), _base(site, SITE, caller), iso)).fetchall()
    if rows:
        until = max(from_iso(r["locked_until"]) for r in rows)
        raise too_many((until - now).total_seconds())


def count_wrong(conn: sqlite3.Connection, site: str | None, actor: Actor, now: datetime) -> float | None:
    """One wrong code, inside the caller's write transaction: counted for the caller and the site; the seconds
    of the pause when this one starts a pause (also written to the audit log), else None."""
    iso = to_iso(now)
    conn.execute("DELETE FROM login_limits WHERE key >= ? AND key < ? AND expires_at < ?",
                 (f"{PREFIX}{site or '-'}:", f"{PREFIX}{site or '-'};", iso))
    pause = None
    for rule in (CALLER, SITE):
        base = _base(site, rule, actor.name)
        conn.execute("INSERT OR REPLACE INTO login_limits (key, level, updated_at, locked_until, expires_at) "
                     "VALUES (?, 1, ?, NULL, ?)", (f"{base}:f:{time.time_ns()}", iso,
                                                  to_iso(now + timedelta(seconds=rule.window_s))))
        wrong = conn.execute("SELECT count(*) FROM login_limits WHERE key >= ? AND key < ? AND expires_at > ?",
                             (f"{base}:f:", f"{base}:f;", iso)).fetchone()[0]
        if wrong < rule.wrong:
            continue
        row = conn.execute("SELECT level FROM login_limits WHERE key = ?", (base,)).fetchone()
        pauses = int(row["level"]) if row is not None else 0
        seconds = min(rule.max_pause_s, rule.first_pause_s * 2 ** pauses)
        until = now + timedelta(seconds=seconds)
        conn.execute("INSERT OR REPLACE INTO login_limits (key, level, updated_at, locked_until, expires_at) "
                     "VALUES (?,?,?,?,?)", (base, pauses + 1, iso, to_iso(until),
                                            to_iso(until + timedelta(seconds=rule.memory_s))))
        # The window starts again after the pause: its wrong codes are spent.
        conn.execute("DELETE FROM login_limits WHERE key >= ? AND key < ?", (f"{base}:f:", f"{base}:f;"))
        audit.record(conn, iso, actor.name, actor.role, "booking.code_locked",
                     site if rule.scope == "site" else actor.name,
                     {"site": site, "scope": "site" if rule.scope == "site" else "caller", "wrong": wrong,
                      "window_s": int(rule.window_s), "pause_s": int(seconds), "until": to_iso(until)})
        pause = max(pause or 0.0, seconds)
    return pause


def forget_caller(conn: sqlite3.Connection, site: str | None, caller: str) -> None:
    """A right code: the caller's wrong codes in the window are forgotten (not its pauses, nor the site's)."""
    base = _base(site, CALLER, caller)
    conn.execute("DELETE FROM login_limits WHERE key >= ? AND key < ?", (f"{base}:f:", f"{base}:f;"))


def alerts(conn: sqlite3.Connection, site: str, now: datetime) -> list[dict[str, Any]]:
    """The pauses of `site` in the last hour, newest first, for the desk page's warning."""
    since = to_iso(now - timedelta(hours=1))
    out = []
    for row in conn.execute("SELECT key, level, updated_at, locked_until FROM login_limits WHERE key >= ? "
                            "AND key < ? AND locked_until IS NOT NULL AND updated_at >= ? ORDER BY updated_at DESC",
                            (f"{PREFIX}{site}:", f"{PREFIX}{site};", since)):
        scope = row["key"][len(f"{PREFIX}{site}:"):]
        until = from_iso(row["locked_until"])
        out.append({"scope": "site" if scope == "site" else "caller",
                    "caller": scope[4:] if scope.startswith("dev:") else None,
                    "pauses": int(row["level"]), "at": row["updated_at"], "until": row["locked_until"],
                    "active": until > now, "retry_after": max(0, round((until - now).total_seconds()))})
    return out
