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
from datetime import date, datetime
from typing import Any

from ..storage.migrations_booking import MUTABLE_ALL as MUTABLE
from ..storage.migrations_booking import SYNCED as SYNCED_KEYS
from ..storage.outbox import ORDER, Batch, SyncRefused
from ..web.auth import hash_token
from . import booking_schema
from .config import HubCenter, HubConfig
from .schema import TABLES as RECORD_TABLES
from .schema import ddl, partition_ddl
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


def _check(center: HubCenter, batch: Batch) -> None:
    sites = set(center.sites)
    for tbl, t in batch.tables.items():
        cols = t["cols"]
        known = {c.split()[0] for c in TABLES[tbl][2].replace("\n", " ").split(",") if c.strip()}
        if unknown := [c for c in cols if c not in known]:
            raise SyncRefused(f"{tbl}: unknown column(s) {unknown}")
        if SYNCED_KEYS[tbl] not in cols:
            raise SyncRefused(f"{tbl}: the rows lack their key")
        if "site" in cols:
            i = cols.index("site")
            for row in t["rows"]:
                if row[i] not in sites:
                    raise SyncRefused(f"{tbl}: a record of site {row[i]!r}, which is not center {center.id!r}'s")
        elif tbl not in ("print_jobs", "audit_log"):
            raise SyncRefused(f"{tbl}: the rows lack their site")


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


def receive(conn: Any, cfg: HubConfig, center: HubCenter, batch: Batch, *, size: int, now: datetime,
            clock_offset_s: float | None, version: str = "") -> dict[str, Any]:
    """Take one batch in one transaction. Returns {hwm, written, gap}."""
    if batch.node != center.id:
        raise SyncRefused(f"a batch of {batch.node!r} sent with center {center.id!r}'s credentials")
    with conn.transaction():
        conn.execute("INSERT INTO hub_centers (center) VALUES (%s) ON CONFLICT DO NOTHING", (center.id,))
        mark, known = conn.execute("SELECT hwm, db_id FROM hub_centers WHERE center = %s FOR UPDATE",
                                   (center.id,)).fetchone()
        if known and batch.db_id != known:
            raise SyncRefused(f"center {center.id!r} sends from another database than before: give it a new id")
        if batch.ver < mark:
            raise SyncRefused(f"center {center.id!r} has fewer changes ({batch.ver}) than the hub holds ({mark}): "
                              f"its database was put back from a backup")
        conn.execute("UPDATE hub_centers SET last_contact_at = %s, clock_offset_s = coalesce(%s, clock_offset_s), "
                     "version = coalesce(%s, version), db_id = coalesce(db_id, %s) WHERE center = %s",
                     (now, clock_offset_s, version or None, batch.db_id or None, center.id))
        if batch.after > mark:
            return {"hwm": mark, "written": 0, "gap": True}
        _check(center, batch)
        created = _ensure_partitions(conn, _months(batch))
        written = 0
        for tbl in ORDER:
            t = batch.tables.get(tbl)
            if t and t["rows"]:
                written += _upsert(conn, center.id, tbl, t, batch.ver)
        refresh_days(conn, center.id, batch)
        new_mark = max(mark, batch.to)
        conn.execute("UPDATE hub_centers SET hwm = %s, records = records + %s WHERE center = %s",
                     (new_mark, written, center.id))
        if batch.records():
            conn.execute("UPDATE hub_centers SET last_records_at = %s WHERE center = %s", (now, center.id))
            conn.execute("INSERT INTO hub_batches (center, at, from_seq, to_seq, records, bytes) VALUES "
                         "(%s, %s, %s, %s, %s, %s)", (center.id, now, batch.after, batch.to, written, size))
    _partitions.update(created)  # committed: from now on they exist
    return {"hwm": new_mark, "written": written, "gap": False}
