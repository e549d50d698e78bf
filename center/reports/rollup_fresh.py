"""Keeping the roll-ups true to the raw rows: which past days are missing or stale, building them
(ensure_rollups, from housekeeping and before long reports) and checking every fingerprint (verify_rollups).
A report reads roll-ups only when every past day of its range is rolled up and fresh."""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

from ..config.model import BLOCK_SIZE, Config
from .filters import Filters
from .rollup_build import _all_sites, _build_all_sites_days, _build_site_days, _config_key, _fingerprint

ROLLUP_MIN_DAYS = 32  # ranges of up to 31 days keep the exact raw path


def _yesterday(config: Config, today: str | None) -> str:
    d = date.fromisoformat(today) if today else datetime.now(config.tz).date()
    return (d - timedelta(days=1)).isoformat()


def _stale_days(conn: sqlite3.Connection, config: Config, d0: str, d1: str, sites: list[str]
                ) -> tuple[list[tuple[str, str]], list[tuple[str, str]], int | None]:
    """(missing, changed, new watermark): past (site, day)s without a roll-up, and rolled-up ones whose raw
    rows got new events since the last check (their fingerprint is compared)."""
    have = {(s, d) for s, d in conn.execute(
        "SELECT site, service_day FROM rollup_days WHERE service_day BETWEEN ? AND ?", (d0, d1))}
    missing = []
    day = date.fromisoformat(d0)
    last = date.fromisoformat(d1)
    while day <= last:
        ds = day.isoformat()
        missing.extend((s, ds) for s in sites if (s, ds) not in have)
        day += timedelta(days=1)
    meta = dict(conn.execute("SELECT key, value FROM rollup_meta").fetchall())
    changed: list[tuple[str, str]] = []
    # The watermark follows this center's own events; records of its nodes (ids from BLOCK_SIZE up) arrive
    # late and out of id order, so the sync notes the (site, day)s they touch in rollup_dirty instead.
    top = conn.execute("SELECT max(id) FROM ticket_events WHERE id < ?", (BLOCK_SIZE,)).fetchone()[0] or 0
    seen = int(meta.get("event_watermark", "0"))
    dirty = conn.execute("SELECT site, service_day FROM rollup_dirty").fetchall()
    if meta.get("config") not in (None, _config_key(config)):
        changed = sorted(have)
    elif top > seen or dirty:  # any rolled-up day (in the range or not) whose raw rows changed since the last check
        touched = set() if top <= seen else {tuple(r) for r in conn.execute(
            "SELECT DISTINCT t.site, t.service_day FROM ticket_events e JOIN tickets t ON t.id = e.ticket_id "
            "WHERE e.id > ? AND e.id < ?", (seen, BLOCK_SIZE)).fetchall()}
        for s, d in sorted(touched | {tuple(r) for r in dirty}):
            old = conn.execute("SELECT tickets, max_ticket_id, max_event_id, ratings, procedures FROM rollup_days "
                               "WHERE site = ? AND service_day = ?", (s, d)).fetchone()
            if old is not None and tuple(old) != _fingerprint(conn, s, d):
                changed.append((s, d))
    return missing, changed, top


def ensure_rollups(store: Any, config: Config, d0: str, d1: str, *, today: str | None = None,
                   site: str | None = None, batch_days: int = 92) -> dict[str, Any]:
    """Build the missing and stale roll-ups of past days in [d0, d1] (never today): one write transaction
    per site and batch of days. Returns what was built."""
    t0 = datetime.now(UTC)
    d1 = min(d1, _yesterday(config, today))
    if d1 < d0:
        return {"built": 0, "seconds": 0.0}
    with store.read() as conn:
        sites = [site] if site else _all_sites(conn, config)
        missing, changed, top = _stale_days(conn, config, d0, d1, sites)
        dirty = conn.execute("SELECT site, service_day FROM rollup_dirty").fetchall()
    todo: dict[str, list[str]] = defaultdict(list)
    for s, d in {*missing, *changed}:
        todo[s].append(d)
    for s, ds in sorted(todo.items()):
        ds.sort()
        for i in range(0, len(ds), batch_days):
            with store.write() as conn:
                _build_site_days(conn, config, s, ds[i:i + batch_days])
    with store.write() as conn:
        _build_all_sites_days(conn, config, d0, d1)
        conn.execute("INSERT INTO rollup_meta VALUES ('config', ?) ON CONFLICT(key) DO UPDATE SET value = "
                     "excluded.value", (_config_key(config),))
        conn.executemany("DELETE FROM rollup_dirty WHERE site = ? AND service_day = ?", [tuple(r) for r in dirty])
        current = conn.execute("SELECT value FROM rollup_meta WHERE key = 'event_watermark'").fetchone()
        if top is not None and (current is None or int(current[0]) < top):
            conn.execute("INSERT INTO rollup_meta VALUES ('event_watermark', ?) ON CONFLICT(key) DO UPDATE SET "
                         "value = excluded.value", (str(top),))
    return {"built": len(missing) + len(changed), "missing": len(missing), "changed": len(changed),
            "seconds": round((datetime.now(UTC) - t0).total_seconds(), 2)}


def verify_rollups(store: Any, config: Config, d0: str, d1: str) -> list[tuple[str, str]]:
    """Compare every rolled-up day's fingerprint with its raw rows; rebuild and return those that differ."""
    with store.read() as conn:
        bad = [(s, d) for s, d, *fp in conn.execute(
            "SELECT site, service_day, tickets, max_ticket_id, max_event_id, ratings, procedures FROM rollup_days "
            "WHERE service_day BETWEEN ? AND ?", (d0, d1)).fetchall() if tuple(fp) != _fingerprint(conn, s, d)]
    for s, d in bad:
        with store.write() as conn:
            _build_site_days(conn, config, s, [d])
    if bad:
        with store.write() as conn:
            _build_all_sites_days(conn, config, d0, d1)
    return bad


def uses_rollups(f: Filters) -> bool:
    """Whether report() reads roll-ups for this range by default (longer than a month)."""
    return (date.fromisoformat(f.date_to) - date.fromisoformat(f.date_from)).days + 1 >= ROLLUP_MIN_DAYS


def rollups_ready(conn: sqlite3.Connection, config: Config, d0: str, d1: str, site: str | None = None) -> bool:
    """Every past (site, day) of the range (of one site, or all) rolled up and none stale (ensure_rollups)."""
    if d1 < d0:
        return False
    missing, changed, _ = _stale_days(conn, config, d0, d1, [site] if site else _all_sites(conn, config))
    return not missing and not changed
