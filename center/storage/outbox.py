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
from ..contract.records import ID_TABLES, LOCAL_COLUMNS, MUTABLE, ORDER, SITE_TABLES  # noqa: F401 - named here too
from ..contract.records import SYNCED as SYNCED_KEYS


class SyncRefused(ValueError):
    """A batch the receiver must not take (records of another node's site or id block, an unknown table)."""


class BadShape(SyncRefused):
    """A batch whose tables or rows are not the schema's (an unknown column, rows without their key): nothing of it
    can be applied. 422, against the 403 of a refusal for who sent it (another database, a restore)."""


class BatchTooLarge(SyncRefused):
    """A body past the bounds of one batch (bytes sent, bytes inflated, values, rows): refused before it is built."""


MAX_ROWS = 20_000  # rows of one batch: the link sends 250 outbox positions (a row each, plus the rows they refer to)
_SCALARS = (str, int, float, type(None))


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
            if not all(isinstance(d[k], int) and not isinstance(d[k], bool) for k in ("after", "to", "ver")):
                raise TypeError("positions must be whole numbers")
            if not isinstance(d["node"], str) or not isinstance(d.get("db_id") or "", str):
                raise TypeError("node and db_id must be text")
            b = cls(node=d["node"], after=d["after"], to=d["to"], ver=d["ver"], db_id=d.get("db_id") or "",
                    tables=d.get("tables") or {})
        except (KeyError, TypeError, ValueError) as e:
            raise SyncRefused(f"malformed batch: {e}") from None
        if not (0 <= b.after <= b.to <= b.ver):
            raise SyncRefused(f"batch positions out of order: after {b.after}, to {b.to}, ver {b.ver}")
        if not isinstance(d.get("tables") or {}, dict):
            raise SyncRefused("malformed batch: tables is not an object")
        rows = 0
        for name, t in b.tables.items():
            if name not in SYNCED_KEYS:
                raise SyncRefused(f"unknown table {name!r}")
            if not isinstance(t, dict) or not isinstance(t.get("cols"), list) or not isinstance(t.get("rows"), list):
                raise SyncRefused(f"malformed table {name!r}")
            if any(not isinstance(c, str) for c in t["cols"]):
                raise SyncRefused(f"a column name of {name!r} is not a string")
            if any(not isinstance(r, list) or len(r) != len(t["cols"]) for r in t["rows"]):
                raise SyncRefused(f"a row of {name!r} does not match its columns")
            for r in t["rows"]:
                for cell in r:
                    if not isinstance(cell, _SCALARS) or isinstance(cell, bool):
                        raise SyncRefused(f"a cell of {name!r} is {type(cell).__name__}, not a text, number or null")
                    if isinstance(cell, int) and not -2**63 <= cell < 2**63:
                        raise SyncRefused(f"a number in {name!r} is out of range")
            rows += len(t["rows"])
        if rows > MAX_ROWS:
            raise BatchTooLarge(f"{rows} rows in one batch (at most {MAX_ROWS})")
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


_REFERENCES: dict[str, list[tuple[str, str, str]]] = {}


def references(conn: sqlite3.Connection, table: str) -> list[tuple[str, str, str]]:
    """(column, synced table, its column) for each foreign key of `table` that points at a synced table, from the
    schema itself: a reference added by a later migration is followed without anyone listing it here. Read once
    per process (the schema is migrated before anything is synced)."""
    if table not in _REFERENCES:
        _REFERENCES[table] = [(r[3], r[2], r[4] or SYNCED_KEYS[r[2]])
                              for r in conn.execute(f"PRAGMA foreign_key_list({table})")  # noqa: S608
                              if r[2] in SYNCED_KEYS]
    return _REFERENCES[table]


def collect(conn: sqlite3.Connection, node: str, after: int, limit: int = 2000) -> Batch:
    """The rows changed at outbox positions after `after` (at most `limit` positions), each once, as they
    are now. One read transaction: the rows and `ver` come from the same snapshot.

    A row is read as it is now, so it may refer to a row whose own note lies past this batch (a ticket transferred
    to one made later, a counter serving a ticket issued since, a booking checked in since): the batch carries
    every row its rows refer to, transitively, so the receiver never holds a reference to a row it lacks, whatever
    the batch boundaries."""
    conn.execute("BEGIN")
    try:
        ver = conn.execute("SELECT coalesce(max(seq), 0) FROM sync_outbox").fetchone()[0]
        db_id = conn.execute("SELECT db_id FROM sync_link").fetchone()[0]
        notes = conn.execute("SELECT seq, tbl, key FROM sync_outbox WHERE seq > ? ORDER BY seq LIMIT ?",
                             (after, limit)).fetchall()
        to = notes[-1][0] if notes else after
        keys: dict[str, set[Any]] = {}
        for _, tbl, key in notes:
            keys.setdefault(tbl, set()).add(key)
        cols = {tbl: [c for c in _columns(conn, tbl) if c not in LOCAL_COLUMNS] for tbl in ORDER}
        rows: dict[str, dict[Any, list[Any]]] = {tbl: {} for tbl in ORDER}
        wanted = {tbl: sorted(k) for tbl, k in keys.items() if tbl in rows}
        while wanted:
            found: dict[str, list[list[Any]]] = {}
            for tbl, ks in wanted.items():
                key = SYNCED_KEYS[tbl]
                k = cols[tbl].index(key)
                for i in range(0, len(ks), 500):
                    chunk = ks[i:i + 500]
                    for r in conn.execute(f"SELECT {', '.join(cols[tbl])} FROM {tbl} WHERE {key} IN "  # noqa: S608
                                          f"({','.join('?' * len(chunk))})", chunk):
                        rows[tbl][r[k]] = list(r)
                        found.setdefault(tbl, []).append(list(r))
            wanted = {}
            for tbl, new in found.items():  # what the rows just read refer to, not in the batch yet
                for column, target, target_col in references(conn, tbl):
                    if target_col != SYNCED_KEYS[target]:
                        continue
                    i = cols[tbl].index(column)
                    missing = {r[i] for r in new if r[i] is not None and r[i] not in rows[target]}
                    missing -= set(wanted.get(target, ()))
                    if missing:
                        wanted[target] = sorted({*wanted.get(target, ()), *missing})
        batch = Batch(node=node, after=after, to=to, ver=max(ver, to), db_id=db_id)
        for tbl in ORDER:
            if rows[tbl]:
                batch.tables[tbl] = {"cols": cols[tbl], "rows": [rows[tbl][k] for k in sorted(rows[tbl])]}
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


@dataclass
class Held:
    """A row the receiver could not apply: kept with the reason, not lost (`sync_held`). `retry`: the reason may
    pass by itself (a reference to a row that a later batch brings), so it is tried again with each batch."""

    tbl: str
    cols: list[str]
    row: list[Any]
    reason: str
    retry: bool

    @property
    def key(self) -> Any:
        return self.row[self.cols.index(SYNCED_KEYS[self.tbl])]

    def describe(self) -> dict[str, Any]:
        return {"table": self.tbl, "key": self.key, "reason": self.reason}


def check(conn: sqlite3.Connection, node: Node, batch: Batch, kiosks: Iterable[str]) -> list[Held]:
    """Refuse the whole batch when its shape is not the schema's (an unknown column, rows without their key or
    site); return the rows that are not the node's (another site, an id outside its block, another place's
    kiosk), which the caller holds instead of applying, and removes from the batch."""
    sites = set(node.sites)
    kiosk_ids = set(kiosks)
    lo, hi = node.block * BLOCK_SIZE, (node.block + 1) * BLOCK_SIZE
    held: list[Held] = []
    for tbl, t in batch.tables.items():
        cols = t["cols"]
        known = set(_columns(conn, tbl)) - LOCAL_COLUMNS
        if unknown := [c for c in cols if c not in known]:
            raise BadShape(f"{tbl}: unknown column(s) {unknown}")
        key = SYNCED_KEYS[tbl]
        if key not in cols:
            raise BadShape(f"{tbl}: the rows lack their key {key!r}")
        if len(set(cols)) != len(cols):
            raise BadShape(f"{tbl}: a column is named twice")
        k = cols.index(key)
        site_i = cols.index("site") if "site" in cols else None
        if tbl in SITE_TABLES and site_i is None:
            raise BadShape(f"{tbl}: the rows lack their site")
        kiosk_i = cols.index("kiosk") if tbl == "print_jobs" and "kiosk" in cols else None

        def why(row: list[Any], tbl: str = tbl, k: int = k, site_i: int | None = site_i,
                kiosk_i: int | None = kiosk_i) -> str | None:
            if site_i is not None and row[site_i] not in sites:
                return f"a record of site {row[site_i]!r}, which is not node {node.id!r}'s"
            if tbl in ("counter_state", "bookings"):
                return None  # keyed by the counter or the booking code, whose site was just checked
            if not (isinstance(row[k], int) and not isinstance(row[k], bool) and lo <= row[k] < hi):
                return f"id {row[k]!r} is outside node {node.id!r}'s block {node.block}"
            if kiosk_i is not None and row[kiosk_i] not in kiosk_ids:
                return f"kiosk {row[kiosk_i]!r} is not at node {node.id!r}'s sites"
            return None

        held += sift(tbl, t, why)
    return held


def sift(tbl: str, t: dict[str, Any], why: Any) -> list[Held]:
    """Keep in table `t` of a batch the rows `why` finds nothing against (None); return the others, held with
    their reason. The one step both receivers (a center, the hub) take rows out of a batch with."""
    keep: list[list[Any]] = []
    held: list[Held] = []
    for row in t["rows"]:
        reason = why(row)
        if reason is None:
            keep.append(row)
        else:
            held.append(Held(tbl, list(t["cols"]), list(row), reason, retry=False))
    t["rows"] = keep
    return held


def apply(conn: sqlite3.Connection, batch: Batch, clock_flag_s: float | None = None
          ) -> tuple[dict[str, int], list[Held]]:
    """Upsert the batch's rows inside the caller's write transaction. Returns the rows written per table (a row
    already there, or newer, is not written) and the rows held back: those that refer to a row neither this
    database nor the batch has (taken out before anything is written, so the commit never fails on a foreign key
    and the rest arrives). `clock_flag_s`: the node's clock offset, noted on its new tickets when past the
    tolerance."""
    conn.execute("PRAGMA defer_foreign_keys = ON")
    held = _take_dangling(conn, batch)
    written = _upsert_all(conn, batch)
    _mark_days(conn, batch)
    if clock_flag_s is not None and "tickets" in batch.tables:
        t = batch.tables["tickets"]
        k = t["cols"].index("id")
        ids = [r[k] for r in t["rows"]]
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            conn.execute(f"UPDATE tickets SET clock_offset_s = ? WHERE clock_offset_s IS NULL AND id IN "  # noqa: S608
                         f"({','.join('?' * len(chunk))})", (clock_flag_s, *chunk))
    return written, held


def _upsert_all(conn: sqlite3.Connection, batch: Batch) -> dict[str, int]:
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
    return written


def _take_dangling(conn: sqlite3.Connection, batch: Batch) -> list[Held]:
    """Take out of the batch, and return, its rows that refer to a row neither this database nor the batch has,
    and then those that referred to them: what the deferred foreign keys would refuse at the commit, found before
    anything is written. A sender of this release never sends one (each batch carries what its rows refer to):
    references to rows of the batch itself cost no query."""
    held: list[Held] = []
    known: dict[tuple[str, str], set[Any]] = {}  # (table, column) -> values seen to exist in the database
    while True:
        keys = {tbl: {r[t["cols"].index(SYNCED_KEYS[tbl])] for r in t["rows"]} for tbl, t in batch.tables.items()}
        dangling: dict[tuple[str, int], str] = {}
        for tbl, t in batch.tables.items():
            for column, target, target_col in references(conn, tbl):
                if column not in t["cols"]:
                    continue
                i = t["cols"].index(column)
                inside = keys.get(target, set()) if target_col == SYNCED_KEYS[target] else set()
                seen = known.setdefault((target, target_col), set())
                ask = sorted({r[i] for r in t["rows"] if r[i] is not None} - inside - seen, key=str)
                for j in range(0, len(ask), 500):
                    chunk = ask[j:j + 500]
                    seen.update(r[0] for r in conn.execute(
                        f"SELECT {target_col} FROM {target} WHERE {target_col} IN "  # noqa: S608
                        f"({','.join('?' * len(chunk))})", chunk))
                for n, r in enumerate(t["rows"]):
                    if r[i] is not None and r[i] not in inside and r[i] not in seen:
                        dangling.setdefault((tbl, n), f"{column} refers to {target} {r[i]!r}, which the center "
                                                      "does not have")
        if not dangling:
            return held
        for (tbl, n), reason in sorted(dangling.items(), key=lambda d: (d[0][0], -d[0][1])):
            t = batch.tables[tbl]
            held.append(Held(tbl, list(t["cols"]), list(t["rows"][n]), reason, retry=True))
            del t["rows"][n]


def hold(conn: sqlite3.Connection, node: str, rows: list[Held], ver: int, now: str) -> None:
    """Keep rows that could not be applied (`sync_held`), each once per (node, table, key), the newest copy."""
    import json

    for h in rows:
        conn.execute(
            "INSERT INTO sync_held (node, tbl, key, cols, row, ver, reason, retry, first_at, at) "
            "VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT (node, tbl, key) DO UPDATE SET cols = excluded.cols, "
            "row = excluded.row, ver = excluded.ver, reason = excluded.reason, retry = excluded.retry, "
            "at = excluded.at WHERE excluded.ver >= sync_held.ver",
            (node, h.tbl, str(h.key), json.dumps(h.cols), json.dumps(h.row, ensure_ascii=False), ver, h.reason,
             int(h.retry), now, now))


def retry_held(conn: sqlite3.Connection, node: Node, kiosks: Iterable[str], batch: Batch | None = None, *,
               only_retry: bool = True) -> tuple[int, int]:
    """Apply again the node's held rows (those whose reason may have passed, or all of them for IT's `sync held
    --retry` once config.toml is put right), checked again as a batch is: after a batch, a copy it brought replaces
    a held one. Returns (applied, still held)."""
    import json

    kiosks = list(kiosks)
    node_id = node.id
    batch = batch or Batch(node=node_id, after=0, to=0, ver=0)
    if not conn.execute("SELECT 1 FROM sync_held WHERE node = ? LIMIT 1", (node_id,)).fetchone():
        return 0, 0  # the usual case: nothing of this node waits

    for tbl, t in batch.tables.items():  # what the batch brought supersedes what was held of it
        k = t["cols"].index(SYNCED_KEYS[tbl])
        keys = [str(r[k]) for r in t["rows"]]
        for i in range(0, len(keys), 500):
            chunk = keys[i:i + 500]
            conn.execute(f"DELETE FROM sync_held WHERE node = ? AND tbl = ? AND ver <= ? AND key IN "  # noqa: S608
                         f"({','.join('?' * len(chunk))})", (node_id, tbl, batch.ver, *chunk))
    where = "node = ? AND retry = 1" if only_retry else "node = ?"
    rows = conn.execute(f"SELECT tbl, key, cols, row, ver FROM sync_held WHERE {where} ORDER BY ver",  # noqa: S608
                        (node_id,)).fetchall()
    if not rows:
        return 0, 0
    applied = 0
    for ver in sorted({r[4] for r in rows}):
        again = Batch(node=node_id, after=0, to=0, ver=ver)
        for tbl, _key, cols, row, _ in (r for r in rows if r[4] == ver):
            t = again.tables.setdefault(tbl, {"cols": json.loads(cols), "rows": []})
            if t["cols"] == json.loads(cols):
                t["rows"].append(json.loads(row))
        refused = check(conn, node, again, kiosks)
        _, still = apply(conn, again)
        hold(conn, node_id, refused + still, ver, _now_iso())
        for tbl, t in again.tables.items():
            k = t["cols"].index(SYNCED_KEYS[tbl])
            for r in t["rows"]:
                conn.execute("DELETE FROM sync_held WHERE node = ? AND tbl = ? AND key = ? AND ver <= ?",
                             (node_id, tbl, str(r[k]), ver))
                applied += 1
    remaining = conn.execute("SELECT count(*) FROM sync_held WHERE node = ?", (node_id,)).fetchone()[0]
    return applied, remaining


def _now_iso() -> str:
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


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
