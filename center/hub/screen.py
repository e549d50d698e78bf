"""What the hub checks of every row of a center's batch before PostgreSQL sees it: its columns are the table's,
its site is the center's, each cell fits its column's type (a text where a number goes, a NUL that PostgreSQL
text cannot hold, a date that is none). A row that fails is held (`hub_held`) with the reason and the rest of the
batch is applied, so a bad row never costs a 500 nor stops a center's link; a batch whose shape is wrong (an
unknown column, rows without their key or site) is refused whole, with the reason, before anything is written."""

from __future__ import annotations

import json
from datetime import date, datetime
from functools import cache
from typing import Any

from ..contract.records import SYNCED as SYNCED_KEYS
from ..storage.outbox import BadShape, Batch, Held, sift
from .config import HubCenter

_INT_RANGE = {"smallint": 2**15, "integer": 2**31, "bigint": 2**63}


@cache
def column_types(definition: str) -> dict[str, tuple[str, bool]]:
    """column -> (PostgreSQL type, NOT NULL) from a table's column list as the schema writes it."""
    out = {}
    for part in definition.replace("\n", " ").split(","):
        words = part.split()
        if not words:
            continue
        rest = " ".join(words[1:]).lower()
        kind = "double precision" if rest.startswith("double precision") else rest.split()[0] if rest else "text"
        out[words[0]] = (kind, "not null" in rest)
    return out


def _fits(value: Any, kind: str, not_null: bool) -> str | None:
    """Why `value` does not fit the column, or None."""
    if value is None:
        return "is empty, and the column must not be" if not_null else None
    if kind in _INT_RANGE:
        if not isinstance(value, int) or isinstance(value, bool):
            return f"is {type(value).__name__}, not a whole number"
        return None if -_INT_RANGE[kind] <= value < _INT_RANGE[kind] else "is out of range"
    if kind in ("double precision", "real", "numeric"):
        return None if isinstance(value, int | float) and not isinstance(value, bool) else "is not a number"
    if not isinstance(value, str):
        return f"is {type(value).__name__}, not a text"
    if "\x00" in value:
        return "holds a NUL character"
    try:
        if kind == "date":
            date.fromisoformat(value)
        elif kind == "timestamptz":
            if not value.endswith("Z"):
                return "is not a UTC time (ISO 8601 ending in Z, as stored)"
            datetime.fromisoformat(value[:-1] + "+00:00")
    except ValueError:
        return f"is not a {'date' if kind == 'date' else 'time'}"
    return None


def screen(center: HubCenter, batch: Batch, tables: dict[str, tuple[Any, Any, str]]) -> list[Held]:
    """Refuse the batch whole for a wrong shape; take out of it, and return, the rows that cannot be written."""
    sites = set(center.sites)
    held: list[Held] = []
    for tbl, t in batch.tables.items():
        cols = t["cols"]
        types = column_types(tables[tbl][2])
        if unknown := [c for c in cols if c not in types]:
            raise BadShape(f"{tbl}: unknown column(s) {unknown}")
        if len(set(cols)) != len(cols):
            raise BadShape(f"{tbl}: a column is named twice")
        if SYNCED_KEYS[tbl] not in cols or any(k not in cols for k in tables[tbl][0]):
            raise BadShape(f"{tbl}: the rows lack their key")
        site_i = cols.index("site") if "site" in cols else None
        if site_i is None and tbl not in ("print_jobs", "audit_log"):
            raise BadShape(f"{tbl}: the rows lack their site")

        def why(row: list[Any], cols: list[str] = cols, site_i: int | None = site_i,
                types: dict[str, tuple[str, bool]] = types) -> str | None:
            if site_i is not None and row[site_i] not in sites:
                return f"a record of site {row[site_i]!r}, which is not center {center.id!r}'s"
            for c, value in zip(cols, row, strict=True):
                if problem := _fits(value, *types[c]):
                    return f"{c} {problem}"
            return None

        held += sift(tbl, t, why)
    return held


def hold(conn: Any, center: str, rows: list[Held], ver: int, now: datetime) -> None:
    for h in rows:
        conn.execute(
            "INSERT INTO hub_held (center, tbl, key, cols, row, ver, reason, first_at, at) VALUES "
            "(%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (center, tbl, key) DO UPDATE SET cols = excluded.cols, "
            "row = excluded.row, ver = excluded.ver, reason = excluded.reason, at = excluded.at "
            "WHERE excluded.ver >= hub_held.ver",
            (center, h.tbl, str(h.key).replace("\x00", "\\0")[:200], json.dumps(h.cols), json.dumps(h.row), ver,
             h.reason[:500], now, now))


def held_rows(conn: Any, center: str) -> Batch:
    """The center's held rows as batches' rows again (oldest snapshot's columns), to be screened and applied."""
    again = Batch(node=center, after=0, to=0, ver=0)
    for tbl, cols, row, ver in conn.execute("SELECT tbl, cols, row, ver FROM hub_held WHERE center = %s ORDER BY ver",
                                            (center,)):
        t = again.tables.setdefault(tbl, {"cols": json.loads(cols), "rows": []})
        if t["cols"] == json.loads(cols):
            t["rows"].append(json.loads(row))
            again.ver = max(again.ver, ver)
    return again
