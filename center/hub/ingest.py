"""Taking a center's batch at the hub: the same protocol and rules as a node's at its center
(center/sync/nodes.py), on PostgreSQL.

One transaction per batch; the center's row in `hub_centers` is locked first (`FOR UPDATE`), so one center's
batches apply one after another while a hundred centers push at once. A batch sent twice, resent after a cut,
or overlapping what the hub has: every record is upserted by (center, key), a mutable one only by a newer
copy. A batch past the hub's mark is answered with the mark (`gap`); a hub restored from a backup answers with
its older mark and the center sends again. Records of a site that is not the center's are refused whole.
"""

from __future__ import annotations

import secrets
from datetime import date, datetime, timedelta
from typing import Any

from ..contract.records import MUTABLE
from ..contract.records import SYNCED as SYNCED_KEYS
from ..storage.outbox import ORDER, BadShape, Batch, SyncRefused
from ..web.auth import hash_token
from . import booking_schema
from .config import HubCenter, HubConfig
from .schema import TABLES as RECORD_TABLES
from .schema import ddl, partition_ddl
from .screen import held_rows, hold, screen
from .summary import refresh_days

_partitions: set[str] = set()  # month partitions known to exist (per process)
TABLES = {**RECORD_TABLES, **booking_schema.TABLES}  # every table a center's batch may carry


def ensure_schema(conn: Any) -> None:
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(7310001)")  # two hub processes starting at once
        for statement in ddl():
            conn.execute(statement)
    booking_schema.ensure_schema(conn)


def create_token(conn: Any, cfg: HubConfig, center_id: str, now: datetime) -> str:
    if cfg.center(center_id) is None:
        raise SyncRefused(f"no center {center_id!r} in the hub's hub.toml ([[centers]])")
    token = "xc_" + secrets.token_urlsafe(32)
    with conn.transaction():
        conn.execute("INSERT INTO hub_centers (center, token_hash, token_created_at) VALUES (%s, %s, %s) ON CONFLICT "
                     "(center) DO UPDATE SET token_hash = excluded.token_hash, token_created_at = "
                     "excluded.token_created_at", (center_id, hash_token(token), now))
    return token


def revoke(conn: Any, center_id: str) -> bool:
    with conn.transaction():
        cur = conn.execute("UPDATE hub_centers SET token_hash = NULL WHERE center = %s AND token_hash IS NOT NULL",
                           (center_id,))
    return cur.rowcount > 0


def center_for_token(conn: Any, cfg: HubConfig, token: str | None) -> HubCenter | None:
    if not token or not token.startswith("xc_"):
        return None
    row = conn.execute("SELECT center FROM hub_centers WHERE token_hash = %s", (hash_token(token),)).fetchone()
    return cfg.center(row[0]) if row else None


def _months(batch: Batch) -> set[tuple[str, date]]:
    out: set[tuple[str, date]] = set()
    for tbl, (_, part, _) in TABLES.items():
        t = batch.tables.get(tbl)
        if part and t:
            i = t["cols"].index(part)
            out.update((tbl, date.fromisoformat(str(r[i])[:10])) for r in t["rows"])
    return out


def _ensure_partitions(conn: Any, months: set[tuple[str, date]]) -> set[str]:
    """Create the months' partitions this process has not seen; their names, to be remembered by the caller only
    once its transaction has committed (a rolled-back CREATE, e.g. PostgreSQL killed mid-batch, leaves none)."""
    wanted = {(tbl, d.replace(day=1)) for tbl, d in months}
    missing = [(tbl, d) for tbl, d in wanted if f"{tbl}_{d:%Y_%m}" not in _partitions]
    if not missing:
        return set()
    conn.execute("SELECT pg_advisory_xact_lock(7310002)")  # CREATE … IF NOT EXISTS still races on the catalog
    for tbl, d in sorted(missing):
        conn.execute(partition_ddl(tbl, d))
    return {f"{tbl}_{d:%Y_%m}" for tbl, d in missing}


def _upsert(conn: Any, center: str, tbl: str, t: dict[str, Any], ver: int) -> int:
    cols = list(t["cols"])
    key = ", ".join(("center", *TABLES[tbl][0]))
    names = ", ".join(("center", *cols, "sync_ver"))
    marks = ", ".join(["%s"] * (len(cols) + 2))
    if tbl in MUTABLE:
        sets = ", ".join(f"{c} = excluded.{c}" for c in cols if c not in TABLES[tbl][0])
        tail = (f"ON CONFLICT ({key}) DO UPDATE SET {sets}, sync_ver = excluded.sync_ver "
                f"WHERE {tbl}.sync_ver IS NULL OR {tbl}.sync_ver < excluded.sync_ver")
    else:
        tail = "ON CONFLICT DO NOTHING"
    with conn.cursor() as cur:
        cur.executemany(f"INSERT INTO {tbl} ({names}) VALUES ({marks}) {tail}",  # noqa: S608 - checked names
                        [(center, *r, ver) for r in t["rows"]])
        return max(cur.rowcount, 0)


_retried: set[str] = set()  # centers whose held rows this process tried again (once: hub.toml changes at a restart)
SEEN_DAYS = 30


def receive(conn: Any, cfg: HubConfig, center: HubCenter, batch: Batch, *, size: int, now: datetime,
            clock_offset_s: float | None, version: str = "", digest: str = "") -> dict[str, Any]:
    """Take one batch in one transaction. Rows that cannot be written are held (`hub_held`) and the rest applied.
    A batch received before (`digest`) and older than the mark is answered as a replay, not as a restore.
    Returns {hwm, written, gap, replay, held: [Held]}."""
    if batch.node != center.id:
        raise SyncRefused(f"a batch of {batch.node!r} sent with center {center.id!r}'s credentials")
    with conn.transaction():
        conn.execute("INSERT INTO hub_centers (center) VALUES (%s) ON CONFLICT DO NOTHING", (center.id,))
        mark, known = conn.execute("SELECT hwm, db_id FROM hub_centers WHERE center = %s FOR UPDATE",
                                   (center.id,)).fetchone()
        if known and batch.db_id != known:
            raise SyncRefused(f"center {center.id!r} sends from another database than before: give it a new id")
        replay = bool(digest) and conn.execute("SELECT 1 FROM hub_seen WHERE center = %s AND digest = %s",
                                               (center.id, digest)).fetchone() is not None
        if batch.ver < mark and not replay:
            raise SyncRefused(f"center {center.id!r} has fewer changes ({batch.ver}) than the hub holds ({mark}): "
                              f"its database was put back from a backup")
        conn.execute("UPDATE hub_centers SET last_contact_at = %s, clock_offset_s = coalesce(%s, clock_offset_s), "
                     "version = coalesce(%s, version), db_id = coalesce(db_id, %s) WHERE center = %s",
                     (now, clock_offset_s, version or None, batch.db_id or None, center.id))
        if batch.ver < mark:  # the same batch again, later: nothing to do, and no alarm
            return {"hwm": mark, "written": 0, "gap": False, "replay": True, "held": []}
        if batch.after > mark:
            return {"hwm": mark, "written": 0, "gap": True, "replay": replay, "held": []}
        held = screen(center, batch, TABLES)
        written = _apply(conn, center.id, batch)
        hold(conn, center.id, held, batch.ver, now)
        created = _retry_held(conn, center, batch)
        if held:
            first = held[0]
            conn.execute("UPDATE hub_centers SET refused_at = %s, refused = %s WHERE center = %s",
                         (now, f"{len(held)} record(s) held, e.g. {first.tbl} {first.key!r}: {first.reason}"[:500],
                          center.id))
        new_mark = max(mark, batch.to)
        conn.execute("UPDATE hub_centers SET hwm = %s, records = records + %s WHERE center = %s",
                     (new_mark, written, center.id))
        if digest:
            conn.execute("INSERT INTO hub_seen (center, digest, at) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                         (center.id, digest, now))
            conn.execute("DELETE FROM hub_seen WHERE center = %s AND at < %s",
                         (center.id, now - timedelta(days=SEEN_DAYS)))
        if batch.records():
            conn.execute("UPDATE hub_centers SET last_records_at = %s WHERE center = %s", (now, center.id))
            conn.execute("INSERT INTO hub_batches (center, at, from_seq, to_seq, records, bytes) VALUES "
                         "(%s, %s, %s, %s, %s, %s)", (center.id, now, batch.after, batch.to, written, size))
    _partitions.update(created)  # committed: from now on they exist
    return {"hwm": new_mark, "written": written, "gap": False, "replay": replay, "held": held}


def _apply(conn: Any, center: str, batch: Batch) -> int:
    """Write the batch's (screened) rows and rebuild the days they touch; the month partitions it created."""
    batch.created = _ensure_partitions(conn, _months(batch))  # type: ignore[attr-defined]
    written = 0
    for tbl in ORDER:
        t = batch.tables.get(tbl)
        if t and t["rows"]:
            written += _upsert(conn, center, tbl, t, batch.ver)
    refresh_days(conn, center, batch)
    return written


def _retry_held(conn: Any, center: HubCenter, batch: Batch) -> set[str]:
    """Drop held copies the batch superseded; once per process, try the center's held rows again. Returns the
    month partitions created (the batch's and the retried rows')."""
    created: set[str] = set(getattr(batch, "created", set()))
    for tbl, t in batch.tables.items():
        k = t["cols"].index(SYNCED_KEYS[tbl])
        keys = [str(r[k]) for r in t["rows"]]
        if keys:
            conn.execute("DELETE FROM hub_held WHERE center = %s AND tbl = %s AND ver <= %s AND key = ANY(%s)",
                         (center.id, tbl, batch.ver, keys))
    if center.id in _retried:
        return created
    _retried.add(center.id)
    return created | _apply_held(conn, center)


def retry_held(conn: Any, center: HubCenter) -> tuple[int, int]:
    """IT's `hub held --retry`: the center's held rows screened and applied again in one transaction, the center's
    row locked as a batch locks it. Returns (applied, still held)."""
    with conn.transaction():
        conn.execute("INSERT INTO hub_centers (center) VALUES (%s) ON CONFLICT DO NOTHING", (center.id,))
        conn.execute("SELECT 1 FROM hub_centers WHERE center = %s FOR UPDATE", (center.id,))
        before = conn.execute("SELECT count(*) FROM hub_held WHERE center = %s", (center.id,)).fetchone()[0]
        created = _apply_held(conn, center)
        left = conn.execute("SELECT count(*) FROM hub_held WHERE center = %s", (center.id,)).fetchone()[0]
    _partitions.update(created)
    return before - left, left


def _apply_held(conn: Any, center: HubCenter) -> set[str]:
    created: set[str] = set()
    again = held_rows(conn, center.id)
    if not again.records():
        conn.execute("UPDATE hub_centers SET refused_at = NULL, refused = NULL WHERE center = %s", (center.id,))
        return created
    try:
        still = screen(center, again, TABLES)
    except BadShape:  # held rows of a shape this hub cannot take yet (a newer center): they wait for IT
        return created
    _apply(conn, center.id, again)
    created |= getattr(again, "created", set())
    for tbl, t in again.tables.items():
        k = t["cols"].index(SYNCED_KEYS[tbl])
        conn.execute("DELETE FROM hub_held WHERE center = %s AND tbl = %s AND key = ANY(%s)",
                     (center.id, tbl, [str(r[k]) for r in t["rows"]]))
    if not still:
        conn.execute("UPDATE hub_centers SET refused_at = NULL, refused = NULL WHERE center = %s", (center.id,))
    return created
