"""Medians and p90s: exact ones from sorted rows or value-ordered indexes (raw path), and ones from
fixed-bucket histograms (roll-ups), which stay within one bucket's width of the exact value."""

from __future__ import annotations

import bisect
import math
import sqlite3
from array import array
from collections import defaultdict
from typing import Any

from .filters import _Query


def _interp(points: dict[int, float], n: int, q: float) -> float | None:
    if n == 0:
        return None
    pos = (n - 1) * q
    lo = math.floor(pos)
    a = points.get(lo)
    b = points.get(min(lo + 1, n - 1), a)
    if a is None or b is None:
        return None
    return a + (pos - lo) * (b - a)


def _ranks(n: int) -> set[int]:
    return {i for q in (0.5, 0.9) for i in (math.floor((n - 1) * q), min(math.floor((n - 1) * q) + 1, n - 1))}


def _sorted_percentiles(conn: sqlite3.Connection, values_sql: str, params: dict[str, Any], key: str | None,
                        sizes: dict[Any, int]) -> dict[Any, dict[str, float | None]]:
    """Median and p90 per group; `values_sql` yields columns k, x (x not null).

    The group sizes are known from the aggregate pass, so one ranking pass returns only the rows at the
    needed ranks (median and p90 lie between two neighbouring ranks: linear interpolation).
    """
    wanted = {k: _ranks(n) for k, n in sizes.items() if n}
    if not wanted:
        return {}
    ranks = sorted(set().union(*wanted.values()))
    part = "PARTITION BY k " if key else ""
    sql = (f"{values_sql}) SELECT k, rn, x FROM (SELECT k, x, row_number() OVER ({part}ORDER BY x) - 1 AS rn "
           f"FROM v) WHERE rn IN ({','.join(str(r) for r in ranks)})")
    points: dict[Any, dict[int, float]] = defaultdict(dict)
    for k, rn, x in conn.execute(sql, params).fetchall():
        if rn in wanted.get(k, ()):
            points[k][rn] = x
    return {k: {"median": _interp(points[k], sizes[k], 0.5), "p90": _interp(points[k], sizes[k], 0.9)}
            for k in wanted}


_RANK_INDEX = {
    ("w", ()): "tickets_wait_rank_all", ("w", ("site",)): "tickets_wait_rank",
    ("w", ("site", "service")): "tickets_wait_rank_service",
    ("s", ()): "tickets_service_rank_all", ("s", ("site",)): "tickets_service_rank",
    ("s", ("site", "service")): "tickets_service_rank_service",
}


def _indexed_percentiles(conn: sqlite3.Connection, metric: str, eq: list[tuple[str, Any]], d0: str, d1: str,
                         n: int) -> dict[str, float | None]:
    """Median and p90 by walking a value-ordered index: LIMIT 2 OFFSET k, no sort (n from the aggregates)."""
    if not n:
        return {"median": None, "p90": None}
    index = _RANK_INDEX[(metric, tuple(c for c, _ in eq))]
    x = "wait_s" if metric == "w" else "service_s"
    cond = [f"{c} = ?" for c, _ in eq] + ([] if metric == "w" else ["status = 'served'"])
    cond += [f"{x} IS NOT NULL", "service_day BETWEEN ? AND ?"]
    sql = f"SELECT {x} FROM tickets INDEXED BY {index} WHERE {' AND '.join(cond)} ORDER BY {x} LIMIT 2 OFFSET ?"
    points: dict[int, float] = {}
    for lo in sorted({math.floor((n - 1) * 0.5), math.floor((n - 1) * 0.9)}):
        for i, row in enumerate(conn.execute(sql, (*[v for _, v in eq], d0, d1, lo)).fetchall()):
            points[lo + i] = row[0]
    return {"median": _interp(points, n, 0.5), "p90": _interp(points, n, 0.9)}


# Bucket lower bounds (seconds): 10 s wide below 2 min, 30 s to 10 min, 60 s to 30 min, 120 s to 1 h,
# 600 s to 3 h, then one open bucket (interpolated up to the maximum).
BUCKETS: tuple[int, ...] = (tuple(range(0, 120, 10)) + tuple(range(120, 600, 30)) + tuple(range(600, 1800, 60))
                            + tuple(range(1800, 3600, 120)) + tuple(range(3600, 10800, 600)) + (10800,))
NB = len(BUCKETS)


def bucket_error_s(value: float) -> int:
    """The largest error of a histogram percentile near `value` (its bucket's width)."""
    for lo, hi in zip(BUCKETS, BUCKETS[1:], strict=False):
        if lo <= value < hi:
            return hi - lo
    return 10**9


def _bucket_sql(x: str) -> str:
    """SQL for the bucket index of a value (a binary search unrolled into CASE)."""
    parts = " ".join(f"WHEN {x} < {BUCKETS[i + 1]} THEN {i}" for i in range(NB - 1))
    return f"CASE {parts} ELSE {NB - 1} END"


def _pack_sparse(pairs: dict[int, int]) -> bytes:

    a = array("I")
    for b, n in sorted(pairs.items()):
        a.extend((b, n))
    return a.tobytes()


def _pack_dense(pairs: dict[int, int]) -> bytes:

    a = array("I", bytes(4 * NB))
    for b, n in pairs.items():
        a[b] += n
    return a.tobytes()


def _add_sparse(acc: list[int], blob: bytes | None) -> None:
    if blob:
        from array import array

        a = array("I", blob)
        for i in range(0, len(a), 2):
            acc[a[i]] += a[i + 1]


def _hist_percentiles(h: list[int], n: int, mx: float | None) -> dict[str, float | None]:
    """Median and p90 from a histogram, as the raw path does it: the values at ranks ⌊(n−1)q⌋ and the next,
    linearly interpolated. A rank's value is placed inside its bucket by its position among the bucket's
    values (the open last bucket ends at the maximum), so each is off by less than its bucket's width."""
    if not n:
        return {"median": None, "p90": None}
    cum = [0]
    for c in h:
        cum.append(cum[-1] + c)

    def at(rank: int) -> float:
        b = bisect.bisect_right(cum, rank) - 1  # the first bucket whose values reach past the rank
        if b >= NB:
            return float(mx or 0)
        c = h[b]
        lo = BUCKETS[b]
        hi = BUCKETS[b + 1] if b + 1 < NB else max(lo, mx or lo)
        if mx is not None:
            hi = min(hi, max(lo, mx))
        return lo + (rank - cum[b] + 0.5) / c * (hi - lo)

    out: dict[str, float | None] = {}
    for name, q in (("median", 0.5), ("p90", 0.9)):
        pos = (n - 1) * q
        k = math.floor(pos)
        a, b = at(k), at(min(k + 1, n - 1))
        value = a + (pos - k) * (b - a)
        out[name] = value if mx is None else min(value, mx)
    return out


def _hists(conn: sqlite3.Connection, sql: str, params: dict[str, Any], dense: bool,
           width: int = 1) -> list[dict[Any, list[int]]]:
    """Histograms summed per key from rows (k, blob1, …, blob<width>): dense arrays or sparse (bucket, n) pairs."""

    blobs: list[dict[Any, list[bytes]]] = [defaultdict(list) for _ in range(width)]
    for k, *bs in conn.execute(sql, params):
        for i, blob in enumerate(bs):
            if blob:
                blobs[i][k].append(blob)
    outs: list[dict[Any, list[int]]] = []
    for per_key in blobs:
        out: dict[Any, list[int]] = {}
        for k, bs in per_key.items():
            if dense:
                out[k] = [sum(c) for c in zip(*(array("I", b) for b in bs), strict=True)]
                continue
            acc = out[k] = [0] * NB
            a = array("I", b"".join(bs))
            for b, n in zip(a[0::2], a[1::2], strict=True):
                acc[b] += n
        outs.append(out)
    return outs


def _raw_hists(conn: sqlite3.Connection, q: _Query, key: str, x: str, where: str = "1") -> dict[Any, list[int]]:
    out: dict[Any, list[int]] = {}
    for k, b, n in conn.execute(f"WITH {q.sql} SELECT {key}, {_bucket_sql(x)}, count(*) FROM t WHERE {x} IS NOT "
                                f"NULL AND {where} GROUP BY 1, 2", q.params):
        out.setdefault(k, [0] * NB)[b] += n
    return out


def _add_hists(a: dict[Any, list[int]], b: dict[Any, list[int]]) -> dict[Any, list[int]]:
    for k, h in b.items():
        if k in a:
            a[k] = [x + y for x, y in zip(a[k], h, strict=True)]
        else:
            a[k] = h
    return a
