"""Records that flow upstream, exactly once (docs/federation.md).

Sender (a node): triggers note every change of a synced row in `sync_outbox`, in commit order. `collect`
reads the rows named after the upstream's high-water mark, each once and as it is now, in one read snapshot;
the batch says which outbox positions it covers and the outbox position of its snapshot (`ver`).

Receiver (the center): `apply` upserts every row by its primary key, so a batch sent twice, a bundle and a
live batch carrying the same rows, or a batch resent after the center lost it (restored from a backup) never
doubles a record. A mutable row (a ticket, a rating, a print job, a counter's state) is only replaced by a
copy from a later snapshot. A batch that starts past the high-water mark is refused: the sender starts again
from the mark, so nothing is skipped.

Why ids need no mapping: a node's ids start at `block × 10^12` (its `sqlite_sequence` is set when the link
is made), so its records keep their ids at the center and the references between them hold. The center's own
records take their ids from its own sequence (`own_id`), which `apply` keeps below the first block.
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..config.model import BLOCK_SIZE, Node
from .migrations_booking import MUTABLE_ALL as MUTABLE
from .migrations_booking import SYNCED as SYNCED_KEYS

# Applied in this order: tickets before what refers to them (the foreign keys are also deferred to the
# commit, since a ticket refers to the ticket it was transferred to).
ORDER = ("tickets", "bookings", "ticket_events", "ticket_procedures", "ratings", "counter_events", "counter_state",
         "print_jobs", "audit_log")
ID_TABLES = ("tickets", "ticket_events", "ticket_procedures", "counter_events", "print_jobs", "audit_log")
LOCAL_COLUMNS = {"sync_ver", "clock_offset_s"}  # the receiver's own bookkeeping, never sent
SITE_TABLES = ("tickets", "ticket_events", "ticket_procedures", "ratings", "counter_events", "counter_state",
               "bookings")


class SyncRefused(ValueError):
    """A batch the receiver must not take (records of another node's site or id block, an unknown table)."""


@dataclass
class Batch:
    """Rows of the synced tables, column-wise per table (compact once compressed): outbox positions
    (after, to], read at snapshot `ver`."""

    node: str
    after: int
    to: int
    ver: int
    db_id: str = ""
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)  # table -> {"cols": [...], "rows": [[...]]}

    def records(self) -> int:
        return sum(len(t["rows"]) for t in self.tables.values())

    def to_dict(self) -> dict[str, Any]:
        return {"node": self.node, "db_id": self.db_id, "after": self.after, "to": self.to, "ver": self.ver,
                "tables": self.tables}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Batch:
        try:
            b = cls(node=str(d["node"]), after=int(d["after"]), to=int(d["to"]), ver=int(d["ver"]),
                    db_id=str(d.get("db_id") or ""), tables=dict(d.get("tables") or {}))
        except (KeyError, TypeError, ValueError) as e:
            raise SyncRefused(f"malformed batch: {e}") from None
        if not (0 <= b.after <= b.to <= b.ver):
            raise SyncRefused(f"batch positions out of order: after {b.after}, to {b.to}, ver {b.ver}")
        for name, t in b.tables.items():
            if name not in SYNCED_KEYS:
                raise SyncRefused(f"unknown table {name!r}")
            if not isinstance(t, dict) or not isinstance(t.get("cols"), list) or not isinstance(t.get("rows"), list):
                raise SyncRefused(f"malformed table {name!r}")
            if any(not isinstance(r, list) or len(r) != len(t["cols"]) for r in t["rows"]):
                raise SyncRefused(f"a row of {name!r} does not match its columns")
        return b


# ---------------------------------------------------------------------------------------------- sender


def link(conn: sqlite3.Connection, node: str, block: int | None) -> None:
    """Make this database a node's: note changes from now on and give its new records ids of its own block.
    Refused if records exist with ids outside the block (they were made before it was a node).

    `block=None`: a center joining the province hub (center/hub/). Its ids stay as they are (the hub keys every
    record by center), and everything it already holds is noted to be sent, oldest first."""
    row = conn.execute("SELECT node FROM sync_link").fetchone()
    if row is not None:
        if row[0] != node:
            raise SyncRefused(f"this database is already node {row[0]!r}'s, not {node!r}'s")
        return
    if block is None:
        for table in ORDER:  # a center's history, in the order the receiver applies it
            conn.execute(f"INSERT INTO sync_outbox (tbl, key) SELECT '{table}', {SYNCED_KEYS[table]} "  # noqa: S608
                         f"FROM {table} ORDER BY {SYNCED_KEYS[table]}")
    else:
        _start_block(conn, node, block)
    conn.execute("INSERT INTO sync_link (id, node, db_id) VALUES (1, ?, ?)", (node, secrets.token_hex(16)))
    if block is not None:  # what exists already and belongs to the node's places (its counters' states)
        conn.execute("INSERT INTO sync_outbox (tbl, key) SELECT 'counter_state', counter_id FROM counter_state")


def _start_block(conn: sqlite3.Connection, node: str, block: int) -> None:
    first = block * BLOCK_SIZE
    for table in ID_TABLES:
        low = conn.execute(f"SELECT count(*) FROM {table} WHERE id < ?", (first,)).fetchone()[0]  # noqa: S608
        if low and table != "audit_log":
            raise SyncRefused(f"{table} already holds {low} record(s) made before this database was node {node!r}'s:"
                              " a node starts on a new database")
        conn.execute("DELETE FROM sqlite_sequence WHERE name = ?", (table,))
        conn.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (table, first - 1))


def pending(conn: sqlite3.Connection, after: int) -> int:
    """How many outbox positions lie past `after`."""
    top = conn.execute("SELECT coalesce(max(seq), 0) FROM sync_outbox").fetchone()[0]
    return max(0, top - after)


def collect(conn: sqlite3.Connection, node: str, after: int, limit: int = 2000) -> Batch:
    """The rows changed at outbox positions after `after` (at most `limit` positions), each once, as they
    are now. One read transaction: the rows and `ver` come from the same snapshot."""
    conn.execute("BEGIN")
    try:
        ver = conn.execute("SELECT coalesce(max(seq), 0) FROM sync_outbox").fetchone()[0]
        db_id = conn.execute("SELECT db_id FROM sync_link").fetchone()[0]
        notes = conn.execute("SELECT seq, tbl, key FROM sync_outbox WHERE seq > ? ORDER BY seq LIMIT ?",
                             (after, limit)).fetchall()
        to = notes[-1][0] if notes else after
        keys: dict[str, list[Any]] = {}
        seen: set[tuple[str, Any]] = set()
        for _, tbl, key in notes:
            if (tbl, key) not in seen:
                seen.add((tbl, key))
                keys.setdefault(tbl, []).append(key)
        batch = Batch(node=node, after=after, to=to, ver=max(ver, to), db_id=db_id)
        for tbl in ORDER:
            if tbl not in keys:
                continue
            cols = [c for c in _columns(conn, tbl) if c not in LOCAL_COLUMNS]
            key = SYNCED_KEYS[tbl]
            rows: list[list[Any]] = []
            wanted = keys[tbl]
            for i in range(0, len(wanted), 500):
                chunk = wanted[i:i + 500]
                rows.extend(list(r) for r in conn.execute(
                    f"SELECT {', '.join(cols)} FROM {tbl} WHERE {key} IN ({','.join('?' * len(chunk))}) "  # noqa: S608
                    f"ORDER BY {key}", chunk))
            if rows:
                batch.tables[tbl] = {"cols": cols, "rows": rows}
        return batch
    finally:
        conn.execute("COMMIT")


def prune(conn: sqlite3.Connection, acked: int, keep: int = 200_000) -> int:
    """Forget outbox notes the upstream has, keeping the last `keep` of them: a center restored from an older
    backup asks again from its own mark, and the notes since then must still be here."""
    cur = conn.execute("DELETE FROM sync_outbox WHERE seq <= ? AND seq <= (SELECT max(seq) FROM sync_outbox) - ?",
                       (acked, keep))
    return cur.rowcount


# ---------------------------------------------------------------------------------------------- receiver


def _columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]


def check(conn: sqlite3.Connection, node: Node, batch: Batch, kiosks: Iterable[str]) -> None:
    """Refuse records that are not the node's: another site, an id outside its block, an unknown column."""
    sites = set(node.sites)
    kiosk_ids = set(kiosks)
    lo, hi = node.block * BLOCK_SIZE, (node.block + 1) * BLOCK_SIZE
    for tbl, t in batch.tables.items():
        cols = t["cols"]
        known = set(_columns(conn, tbl)) - LOCAL_COLUMNS
        if unknown := [c for c in cols if c not in known]:
            raise SyncRefused(f"{tbl}: unknown column(s) {unknown}")
        key = SYNCED_KEYS[tbl]
        if key not in cols:
            raise SyncRefused(f"{tbl}: the rows lack their key {key!r}")
        k = cols.index(key)
        site_i = cols.index("site") if "site" in cols else None
        if tbl in SITE_TABLES and site_i is None:
            raise SyncRefused(f"{tbl}: the rows lack their site")
        for row in t["rows"]:
            if site_i is not None and row[site_i] not in sites:
                raise SyncRefused(f"{tbl}: a record of site {row[site_i]!r}, which is not node {node.id!r}'s")
            if tbl in ("counter_state", "bookings"):
                continue  # keyed by the counter or the booking code, whose site was just checked
            if not (isinstance(row[k], int) and lo <= row[k] < hi):
                raise SyncRefused(f"{tbl}: id {row[k]!r} is outside node {node.id!r}'s block {node.block}")
            if tbl == "print_jobs" and row[cols.index("kiosk")] not in kiosk_ids:
                raise SyncRefused(f"print_jobs: kiosk {row[cols.index('kiosk')]!r} is not at node {node.id!r}'s sites")


def apply(conn: sqlite3.Connection, batch: Batch, clock_flag_s: float | None = None) -> dict[str, int]:
    """Upsert the batch's rows inside the caller's write transaction. Returns the rows written per table
    (a row already there, or newer, is not written). `clock_flag_s`: the node's clock offset, noted on its
    new tickets when it is past the tolerance."""
    conn.execute("PRAGMA defer_foreign_keys = ON")
    written: dict[str, int] = {}
    own = _own_sequences(conn, [t for t in ID_TABLES if t in batch.tables])
    for tbl in ORDER:
        t = batch.tables.get(tbl)
        if not t or not t["rows"]:
            continue
        cols = list(t["cols"])
        key = SYNCED_KEYS[tbl]
        if tbl in MUTABLE:
            sets = ", ".join(f"{c} = excluded.{c}" for c in cols if c != key)
            sql = (f"INSERT INTO {tbl} ({', '.join(cols)}, sync_ver) VALUES ({','.join('?' * (len(cols) + 1))}) "
                   f"ON CONFLICT({key}) DO UPDATE SET {sets}, sync_ver = excluded.sync_ver "
                   f"WHERE {tbl}.sync_ver IS NULL OR {tbl}.sync_ver < excluded.sync_ver")
            params = [[*r, batch.ver] for r in t["rows"]]
        else:
            sql = f"INSERT OR IGNORE INTO {tbl} ({', '.join(cols)}) VALUES ({','.join('?' * len(cols))})"
            params = t["rows"]
        # rowcount: the rows this statement wrote, not what triggers wrote with them (queue_counts)
        written[tbl] = conn.executemany(sql, params).rowcount  # noqa: S608 - names checked against the schema
    for tbl, seq in own.items():  # the node's ids raised the sequence: back to this database's own
        conn.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = ?", (seq, tbl))
    _mark_days(conn, batch)
    if clock_flag_s is not None and "tickets" in batch.tables:
        t = batch.tables["tickets"]
        k = t["cols"].index("id")
        ids = [r[k] for r in t["rows"]]
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            conn.execute(f"UPDATE tickets SET clock_offset_s = ? WHERE clock_offset_s IS NULL AND id IN "  # noqa: S608
                         f"({','.join('?' * len(chunk))})", (clock_flag_s, *chunk))
    return written


def own_id(table: str) -> str:
    """SQL for the id of a record made here: one past this database's own sequence. AUTOINCREMENT alone takes
    one past the largest id in the table, which at a center is a node's (its records keep their ids): the
    center's new record would take that node's next id, and one of the two would be lost. `apply` keeps the
    sequence on the center's own ids (below the first block); a node's starts in its block (`link`)."""
    assert table in ID_TABLES
    return f"(SELECT seq + 1 FROM sqlite_sequence WHERE name = '{table}')"


def _own_sequences(conn: sqlite3.Connection, tables: list[str]) -> dict[str, int]:
    """The sequence of each table as it stands before a node's rows come in (a row made when missing)."""
    out = {}
    for tbl in tables:
        row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = ?", (tbl,)).fetchone()
        if row is None:
            top = conn.execute(f"SELECT coalesce(max(id), 0) FROM {tbl} WHERE id < ?",  # noqa: S608
                               (BLOCK_SIZE,)).fetchone()[0]
            conn.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (tbl, top))
            row = (top,)
        out[tbl] = int(row[0])
    return out


def _mark_days(conn: sqlite3.Connection, batch: Batch) -> None:
    """Note the (site, day)s the batch touched: their roll-ups are checked against the raw rows again."""
    ids: set[int] = set()
    for tbl, column in (("tickets", "id"), ("ticket_events", "ticket_id"), ("ticket_procedures", "ticket_id"),
                        ("ratings", "ticket_id")):
        t = batch.tables.get(tbl)
        if t:
            k = t["cols"].index(column)
            ids.update(r[k] for r in t["rows"])
    wanted = sorted(ids)
    for i in range(0, len(wanted), 500):
        chunk = wanted[i:i + 500]
        conn.execute(f"INSERT OR IGNORE INTO rollup_dirty (site, service_day) SELECT DISTINCT site, service_day "  # noqa: S608
                     f"FROM tickets WHERE id IN ({','.join('?' * len(chunk))})", chunk)
