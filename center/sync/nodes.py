"""At the center: its nodes' tokens (only their SHA-256 kept; revoking one refuses the node at once), what
each node last sent, and how that is received: checked, applied in one short write, recorded."""

from __future__ import annotations

import os
import secrets
import sqlite3
from datetime import datetime, timedelta
from typing import Any

from ..config.model import Config, Node
from ..queue.clock import from_iso, to_iso
from ..storage.outbox import Batch, SyncRefused, apply, check, hold, retry_held
from ..web.auth import hash_token
from .protocol import CLOCK_TOLERANCE_S

# A node not heard from for this long is shown as silent (its link sends a heartbeat every 10 s); tests set less.
SILENT_AFTER_S = float(os.environ.get("XEPHANG_SYNC_SILENT_S", "120"))


def create_token(conn: sqlite3.Connection, config: Config, node_id: str, now: datetime) -> str:
    """A new token for a node of [[nodes]] (the old one stops working); shown once."""
    if config.node(node_id) is None:
        raise SyncRefused(f"no node {node_id!r} in the center's config.toml ([[nodes]])")
    token = "xn_" + secrets.token_urlsafe(32)
    conn.execute("INSERT INTO sync_nodes (node, token_hash, token_created_at) VALUES (?,?,?) ON CONFLICT(node) DO "
                 "UPDATE SET token_hash = excluded.token_hash, token_created_at = excluded.token_created_at",
                 (node_id, hash_token(token), to_iso(now)))
    return token


def revoke(conn: sqlite3.Connection, node_id: str) -> bool:
    return conn.execute("UPDATE sync_nodes SET token_hash = NULL WHERE node = ? AND token_hash IS NOT NULL",
                        (node_id,)).rowcount > 0


def node_for_token(conn: sqlite3.Connection, config: Config, token: str | None) -> Node | None:
    """The configured node this token belongs to, or None (unknown, revoked, or its node left config.toml)."""
    if not token or not token.startswith("xn_"):
        return None
    row = conn.execute("SELECT node FROM sync_nodes WHERE token_hash = ?", (hash_token(token),)).fetchone()
    return config.node(row[0]) if row else None


def hwm(conn: sqlite3.Connection, node_id: str) -> int:
    row = conn.execute("SELECT hwm FROM sync_nodes WHERE node = ?", (node_id,)).fetchone()
    return int(row[0]) if row else 0


SEEN_DAYS = 30  # a batch sent again within this many days is known as a replay (`sync_seen`)


def hwm_of(store: Any, node_id: str) -> int:
    with store.read() as conn:
        return hwm(conn, node_id)


def receive(conn: sqlite3.Connection, config: Config, node: Node, batch: Batch, *, via: str, size: int,
            now: datetime, clock_offset_s: float | None, version: str = "", digest: str = "") -> dict[str, Any]:
    """Take a batch inside the caller's write transaction. A batch that starts past the high-water mark is
    refused with the mark (`gap`), so the node sends again from there; anything at or before it is applied
    idempotently. Rows that cannot be applied (not the node's, or referring to a row the center lacks) are held
    in `sync_held` and the rest is applied: one bad row never stops the link. A batch received before (`digest`,
    its sha256) is answered as a replay. Returns {hwm, written, gap, replay, held: [Held]}."""
    if batch.node != node.id:
        raise SyncRefused(f"a batch of node {batch.node!r} sent with node {node.id!r}'s credentials")
    conn.execute("INSERT OR IGNORE INTO sync_nodes (node) VALUES (?)", (node.id,))
    mark = hwm(conn, node.id)
    seen = {"last_contact_at": to_iso(now) if via == "link" else None, "clock_offset_s": clock_offset_s,
            "version": version or None}
    known = conn.execute("SELECT db_id FROM sync_nodes WHERE node = ?", (node.id,)).fetchone()[0]
    if known and batch.db_id != known:
        raise SyncRefused(f"node {node.id!r} sends from another database than before: its records would reuse ids "
                          f"the center has. Give the new database a new node id and block in [[nodes]] "
                          f"(docs/federation.md, limits)")
    replay = bool(digest) and conn.execute("SELECT 1 FROM sync_seen WHERE node = ? AND digest = ?",
                                           (node.id, digest)).fetchone() is not None
    if via == "link" and batch.ver < mark:
        if replay:  # a batch the center already took, sent again (a retry, a proxy): nothing to do, no alarm
            _touch(conn, node.id, seen)
            return {"hwm": mark, "written": 0, "gap": False, "replay": True, "held": []}
        raise SyncRefused(f"node {node.id!r} has fewer changes ({batch.ver}) than the center already holds ({mark}): "
                          f"its database was put back from a backup, and its new records would reuse ids. Give it a "
                          f"new node id and block in [[nodes]] (docs/federation.md, limits)")
    if not known and batch.db_id:
        conn.execute("UPDATE sync_nodes SET db_id = ? WHERE node = ?", (batch.db_id, node.id))
    if batch.after > mark:
        _touch(conn, node.id, seen)
        return {"hwm": mark, "written": 0, "gap": True, "replay": False, "held": []}
    kiosks = [k.id for code in node.sites for k in config.sites[code].kiosks]
    refused = check(conn, node, batch, kiosks)
    flag = clock_offset_s if clock_offset_s is not None and abs(clock_offset_s) > CLOCK_TOLERANCE_S else None
    written, dangling = apply(conn, batch, clock_flag_s=flag)
    held = refused + dangling
    at = to_iso(now)
    hold(conn, node.id, held, batch.ver, at)
    retried, _ = retry_held(conn, node, kiosks, batch)
    if held:
        first = held[0]
        conn.execute("UPDATE sync_nodes SET refused_at = ?, refused = ? WHERE node = ?",
                     (at, f"{len(held)} record(s) held, e.g. {first.tbl} {first.key!r}: {first.reason}", node.id))
    elif not conn.execute("SELECT 1 FROM sync_held WHERE node = ? LIMIT 1", (node.id,)).fetchone():
        conn.execute("UPDATE sync_nodes SET refused_at = NULL, refused = NULL WHERE node = ?", (node.id,))
    new_mark = max(mark, batch.to)
    records = batch.records() + len(held)
    total = sum(written.values()) + retried
    _touch(conn, node.id, seen)
    conn.execute("UPDATE sync_nodes SET hwm = ?, records = records + ? WHERE node = ?", (new_mark, total, node.id))
    if digest and via == "link":
        conn.execute("INSERT OR IGNORE INTO sync_seen (node, digest, at) VALUES (?,?,?)", (node.id, digest, at))
        conn.execute("DELETE FROM sync_seen WHERE at < ?", (to_iso(now - timedelta(days=SEEN_DAYS)),))
    if records:
        conn.execute("UPDATE sync_nodes SET last_records_at = ? WHERE node = ?", (at, node.id))
        conn.execute("INSERT INTO sync_batches (node, at, via, from_seq, to_seq, records, bytes, clock_offset_s) "
                     "VALUES (?,?,?,?,?,?,?,?)", (node.id, at, via, batch.after, batch.to, total, size,
                                                  clock_offset_s))
    return {"hwm": new_mark, "written": total, "gap": False, "replay": replay, "held": held}


def held(conn: sqlite3.Connection, node_id: str | None = None) -> list[dict[str, Any]]:
    """The rows held back (`sync held`), oldest first."""
    where, args = ("WHERE node = ?", (node_id,)) if node_id else ("", ())
    return [dict(r) for r in conn.execute(f"SELECT node, tbl, key, reason, retry, first_at, at, ver FROM sync_held "  # noqa: S608
                                          f"{where} ORDER BY first_at, tbl, key", args)]


def _touch(conn: sqlite3.Connection, node_id: str, seen: dict[str, Any]) -> None:
    conn.execute("UPDATE sync_nodes SET last_contact_at = coalesce(?, last_contact_at), "
                 "clock_offset_s = coalesce(?, clock_offset_s), version = coalesce(?, version) WHERE node = ?",
                 (seen["last_contact_at"], seen["clock_offset_s"], seen["version"], node_id))


def status(conn: sqlite3.Connection, config: Config, now: datetime) -> list[dict[str, Any]]:
    """Each configured node: last contact and records, clock offset, whether it has a token, what came in
    by bundle. For the overview and `node list`."""
    rows = {r["node"]: dict(r) for r in conn.execute("SELECT * FROM sync_nodes")}
    out = []
    for n in config.nodes:
        r = rows.get(n.id, {})
        contact = r.get("last_contact_at")
        age = (now - from_iso(contact)).total_seconds() if contact else None
        offset = r.get("clock_offset_s")
        held_count = conn.execute("SELECT count(*) FROM sync_held WHERE node = ?", (n.id,)).fetchone()[0]
        last_bundle = conn.execute("SELECT at, records, to_seq FROM sync_batches WHERE node = ? AND via = 'bundle' "
                                   "ORDER BY id DESC LIMIT 1", (n.id,)).fetchone()
        out.append({"node": n.id, "name": n.name, "sites": list(n.sites), "has_token": bool(r.get("token_hash")),
                    "last_contact_at": contact, "age_s": None if age is None else max(0, round(age)),
                    "silent": age is None or age > SILENT_AFTER_S, "last_records_at": r.get("last_records_at"),
                    "records": r.get("records", 0), "hwm": r.get("hwm", 0), "version": r.get("version"),
                    "clock_offset_s": offset,
                    "clock_off": offset is not None and abs(offset) > CLOCK_TOLERANCE_S,
                    "last_bundle": dict(last_bundle) if last_bundle else None, "held": held_count,
                    "refused_at": r.get("refused_at"), "refused": r.get("refused")})
    return out
