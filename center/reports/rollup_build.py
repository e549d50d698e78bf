"""Building the roll-ups (daily, per dekad and month, over all sites).

Closed service days (before today) are summed once into rollup_* tables per (site, day, service, counter,
staff, hour); reports over long ranges read those plus the raw rows of today. Each rolled-up (site, day)
keeps a fingerprint of its raw rows (tickets, max ticket id, max event id, ratings, procedures); any
ticket_events row written after the last check marks its day for a rebuild (cheap watermark check on every
report), and verify_rollups() compares every fingerprint (housekeeping). Medians and p90 over long ranges
come from fixed-bucket histograms: the error is at most the width of the bucket holding the value."""

from __future__ import annotations

import sqlite3
from array import array
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

from ..config.model import Config
from ..queue.clock import to_iso
from .figures import _AGG, _SUMS
from .filters import Filters, _base
from .percentiles import BUCKETS, NB, _pack_dense, _pack_sparse

ROLLUP_FORMAT = 4  # bumped when what the roll-ups hold changes: every roll-up is then rebuilt


def _config_key(config: Config) -> str:
    """Roll-ups depend on each service's target wait (service level): a change rebuilds them."""
    targets = ";".join(f"{c}={float(s.target_wait_min)!r}" for c, s in sorted(config.services.items()))
    return f"v{ROLLUP_FORMAT};{targets}"


def _all_sites(conn: sqlite3.Connection, config: Config) -> list[str]:
    sites = {r[0] for r in conn.execute("SELECT code FROM sites")} | set(config.sites)
    return sorted(sites)


def _fingerprint(conn: sqlite3.Connection, site: str, day: str) -> tuple[int, int | None, int | None, int, int]:
    t = conn.execute("SELECT count(*), max(id) FROM tickets WHERE site = ? AND service_day = ?", (site, day)).fetchone()
    e = conn.execute("SELECT max(e.id), (SELECT count(*) FROM ratings r JOIN tickets x ON x.id = r.ticket_id "
                     "WHERE x.site = :s AND x.service_day = :d), (SELECT count(*) FROM ticket_procedures p JOIN "
                     "tickets x ON x.id = p.ticket_id WHERE x.site = :s AND x.service_day = :d) FROM tickets t "
                     "JOIN ticket_events e ON e.ticket_id = t.id WHERE t.site = :s AND t.service_day = :d",
                     {"s": site, "d": day}).fetchone()
    return (t[0], t[1], e[0], e[1], e[2])


def _fingerprints(conn: sqlite3.Connection, site: str, days: list[str]
                  ) -> dict[str, tuple[int, int | None, int | None, int, int]]:
    """_fingerprint() of several days of one site, in four grouped queries."""
    marks = ",".join("?" * len(days))
    args = (site, *days)
    where = f"t.site = ? AND t.service_day IN ({marks})"
    out = {d: [n, mx, None, 0, 0] for d, n, mx in conn.execute(
        f"SELECT service_day, count(*), max(id) FROM tickets t WHERE {where} GROUP BY 1", args)}  # noqa: S608
    for i, sql in ((2, "max(e.id) FROM tickets t JOIN ticket_events e ON e.ticket_id = t.id"),
                   (3, "count(*) FROM tickets t JOIN ratings r ON r.ticket_id = t.id"),
                   (4, "count(*) FROM tickets t JOIN ticket_procedures p ON p.ticket_id = t.id")):
        for d, v in conn.execute(f"SELECT t.service_day, {sql} WHERE {where} GROUP BY 1", args):  # noqa: S608
            out[d][i] = v
    return {d: tuple(v) for d, v in out.items()}  # type: ignore[misc]


def _build_site_days(conn: sqlite3.Connection, config: Config, site: str, days: list[str]) -> None:
    """Roll up some past days of one site (inside the caller's write transaction)."""
    days = sorted(days)
    marks = ",".join("?" * len(days))
    for table in ("rollup_days", "rollup_cells", "rollup_hists", "rollup_staff_hists", "rollup_procedures",
                  "rollup_ratings", "rollup_day_sums", "rollup_day_hists"):
        conn.execute(f"DELETE FROM {table} WHERE site = ? AND service_day IN ({marks})", (site, *days))  # noqa: S608
    for table in _ALL_SITES_TABLES:  # the all-sites sums of these days are rebuilt later (_build_all_sites_days)
        conn.execute(f"DELETE FROM {table} WHERE service_day IN ({marks})", days)  # noqa: S608
    q = _base(config, Filters(days[0], days[-1], site=site))
    q.sql = q.sql[:-1] + f" AND t.service_day IN ({', '.join(':day' + str(i) for i in range(len(days)))}))"
    q.params.update({f"day{i}": d for i, d in enumerate(days)})
    keys = "t.service_day, t.service, t.counter_id, t.staff, t.hour"
    from bisect import bisect_right

    hists: dict[str, dict[tuple, dict[int, int]]] = {"w": defaultdict(dict), "s": defaultdict(dict)}
    hw, hs = hists["w"], hists["s"]
    for *k, w, sv in conn.execute(f"WITH {q.sql} SELECT {keys}, t.wait_s, CASE WHEN t.status = 'served' THEN "
                                  "t.service_s END FROM t WHERE t.wait_s IS NOT NULL OR t.status = 'served'",
                                  q.params):
        key = tuple(k)
        if w is not None:
            b = bisect_right(BUCKETS, w) - 1
            h = hw[key]
            h[b] = h.get(b, 0) + 1
        if sv is not None:
            b = bisect_right(BUCKETS, sv) - 1
            h = hs[key]
            h[b] = h.get(b, 0) + 1
    rows = []
    for r in conn.execute(f"WITH {q.sql} SELECT {keys}, {_AGG} FROM t GROUP BY 1, 2, 3, 4, 5", q.params):
        k = tuple(r)[:5]
        rows.append((site, *k, *(r[c] for c in (*_SUMS[:8], "wait_n", "wait_sum", "wait_max", "service_n",
                                                 "service_sum", "service_max", "sl_within", "sl_total")),
                     _pack_sparse(hists["w"].get(k, {})), _pack_sparse(hists["s"].get(k, {}))))
    conn.executemany("INSERT INTO rollup_cells VALUES (" + ",".join("?" * 24) + ")", rows)
    dense: dict[tuple, list[dict[int, int]]] = defaultdict(lambda: [defaultdict(int), defaultdict(int)])
    for i, metric in enumerate(("w", "s")):
        for k, pairs in hists[metric].items():
            acc = dense[(k[0], k[1])][i]
            for b, n in pairs.items():
                acc[b] += n
    staffed: dict[tuple, list[dict[int, int]]] = defaultdict(lambda: [defaultdict(int), defaultdict(int)])
    for i, metric in enumerate(("w", "s")):
        for k, pairs in hists[metric].items():
            acc = staffed[k[:4]][i]
            for b, n in pairs.items():
                acc[b] += n
    conn.executemany("INSERT INTO rollup_staff_hists VALUES (?,?,?,?,?,?,?)",
                     [(site, *k, _pack_sparse(w), _pack_sparse(s)) for k, (w, s) in staffed.items()])
    conn.executemany("INSERT INTO rollup_hists VALUES (?,?,?,?,?)",
                     [(site, d, sv, _pack_dense(w), _pack_dense(s)) for (d, sv), (w, s) in dense.items()])
    per_day: dict[str, list[dict[int, int]]] = defaultdict(lambda: [defaultdict(int), defaultdict(int)])
    for (d, _), pair in dense.items():
        for i in range(2):
            for b, n in pair[i].items():
                per_day[d][i][b] += n
    conn.executemany("INSERT INTO rollup_day_hists VALUES (?,?,?,?)",
                     [(site, d, _pack_dense(w), _pack_dense(s)) for d, (w, s) in per_day.items()])
    pkeys = "t.service_day, t.service, t.counter_id, t.staff, p.procedure"
    src = "t CROSS JOIN ticket_procedures p ON p.ticket_id = t.id WHERE t.status = 'served'"
    phist: dict[tuple, dict[int, int]] = defaultdict(dict)
    for *k, x in conn.execute(f"WITH {q.sql} SELECT {pkeys}, p.seconds FROM {src} AND p.seconds IS NOT NULL",
                              q.params):
        b = bisect_right(BUCKETS, x) - 1
        h = phist[tuple(k)]
        h[b] = h.get(b, 0) + 1
    conn.executemany("INSERT INTO rollup_procedures VALUES (?,?,?,?,?,?,?,?,?,?,?)", [
        (site, *r[:5], r[5], r[6], r[7], r[8], _pack_sparse(phist.get(tuple(r[:5]), {})))
        for r in conn.execute(f"WITH {q.sql} SELECT {pkeys}, count(p.seconds), count(DISTINCT p.ticket_id), "
                              f"total(p.seconds), max(p.seconds) FROM {src} GROUP BY 1, 2, 3, 4, 5", q.params)])
    conn.execute(f"WITH {q.sql} INSERT INTO rollup_ratings SELECT :site, t.service_day, t.service, t.counter_id, "
                 "t.staff, r.counter_id, r.staff, NULL, r.level, count(*) FROM t CROSS JOIN ratings r "
                 "ON r.ticket_id = t.id GROUP BY 2, 3, 4, 5, 6, 7, 9", q.params)
    conn.execute(f"WITH {q.sql} INSERT INTO rollup_ratings SELECT :site, t.service_day, t.service, t.counter_id, "
                 "t.staff, NULL, NULL, p.procedure, r.level, count(DISTINCT r.ticket_id) FROM t CROSS JOIN ratings r "
                 "ON r.ticket_id = t.id CROSS JOIN ticket_procedures p ON p.ticket_id = t.id "
                 "GROUP BY 2, 3, 4, 5, 8, 9", q.params)
    now = to_iso(datetime.now(UTC))
    prints = _fingerprints(conn, site, days)
    conn.executemany("INSERT INTO rollup_days VALUES (?,?,?,?,?,?,?,?)",
                     [(site, d, *prints.get(d, (0, None, None, 0, 0)), now) for d in days])
    conn.execute(f"INSERT INTO rollup_day_sums SELECT site, service_day, hour, {_RSUM_COLS} FROM rollup_cells "
                 f"WHERE site = ? AND service_day IN ({marks}) GROUP BY service_day, hour", (site, *days))  # noqa: S608
    for month in sorted({d[:7] for d in days}):
        for key, first, last in _periods_of_month(month):
            _build_period(conn, site, key, first, last, now)


_CELL_SUMS = (*_SUMS[:8], "wait_n", "wait_sum", "wait_max", "service_n", "service_sum", "service_max", "sl_within",
              "sl_total")
_RSUM_COLS = ", ".join(f'max("{c}")' if c.endswith("_max") else f'sum("{c}")' for c in _CELL_SUMS)


def _month_end(d: date) -> date:
    return (d.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


def _periods_of_month(month: str) -> list[tuple[str, str, str]]:
    """(key, first day, last day) of a month ('YYYY-MM') and of its three dekads ('YYYY-MM/1' = days 1–10,
    '/2' = 11–20, '/3' = 21 to the end): the grains of the period roll-ups."""
    end = _month_end(date.fromisoformat(month + "-01")).isoformat()
    return [(month, month + "-01", end), (month + "/1", month + "-01", month + "-10"),
            (month + "/2", month + "-11", month + "-20"), (month + "/3", month + "-21", end)]


def _period_of(d: date) -> tuple[str, date] | None:
    """The dekad starting on day d (its key and last day), if one does."""
    if d.day not in (1, 11, 21):
        return None
    last = _month_end(d) if d.day == 21 else d + timedelta(days=9)
    return f"{d.isoformat()[:7]}/{d.day // 10 + 1}", last


def _merge_sparse(rows: Any, nkeys: int, nblobs: int) -> dict[tuple, list[dict[int, int]]]:
    """Sparse histogram blobs summed per key (the first nkeys columns of each row, then nblobs blobs)."""

    out: dict[tuple, list[dict[int, int]]] = {}
    for r in rows:
        k = tuple(r[:nkeys])
        acc = out.get(k)
        if acc is None:
            acc = out[k] = [defaultdict(int) for _ in range(nblobs)]
        for i in range(nblobs):
            blob = r[nkeys + i]
            if blob:
                a = array("I", blob)
                h = acc[i]
                for j in range(0, len(a), 2):
                    h[a[j]] += a[j + 1]
    return out


def _build_period(conn: sqlite3.Connection, site: str, month: str, first: str, last: str, now: str) -> None:
    """A period's (month's or dekad's) roll-ups of one site from its daily ones, once every day of it is rolled
    up (the period's rows are dropped and rebuilt whenever one of its days is rebuilt, in the same transaction).
    The period's key goes in the service_day column of the rollup_m_* tables."""
    for table in ("rollup_months", "rollup_m_cells", "rollup_m_keys", "rollup_m_hists", "rollup_m_staff_hists",
                  "rollup_m_procedures", "rollup_m_ratings", "rollup_m_hour_hists"):
        column = "month" if table == "rollup_months" else "service_day"
        conn.execute(f"DELETE FROM {table} WHERE site = ? AND {column} = ?", (site, month))  # noqa: S608
    days = conn.execute("SELECT count(*) FROM rollup_days WHERE site = ? AND service_day BETWEEN ? AND ?",
                        (site, first, last)).fetchone()[0]
    if days < (date.fromisoformat(last) - date.fromisoformat(first)).days + 1:
        return
    args = (site, first, last)
    where = "site = ? AND service_day BETWEEN ? AND ?"
    keys = "service, counter_id, staff, hour"
    hists = _merge_sparse(conn.execute(f"SELECT {keys}, wait_hist, service_hist FROM rollup_cells WHERE {where}",  # noqa: S608
                                       args), 4, 2)
    rows = []
    for r in conn.execute(f"SELECT {keys}, {_RSUM_COLS} FROM rollup_cells WHERE {where} "  # noqa: S608
                          f"GROUP BY {keys}", args):
        k = tuple(r[:4])
        w, sv = hists.get(k, ({}, {}))
        rows.append((site, month, *r, _pack_sparse(w), _pack_sparse(sv)))
    conn.executemany("INSERT INTO rollup_m_cells VALUES (" + ",".join("?" * 24) + ")", rows)
    conn.execute(f"INSERT INTO rollup_m_keys SELECT site, service_day, service, counter_id, staff, {_RSUM_COLS} "  # noqa: S608
                 "FROM rollup_m_cells WHERE site = ? AND service_day = ? GROUP BY service, counter_id, staff",
                 (site, month))
    by_hour: dict[Any, list[dict[int, int]]] = defaultdict(lambda: [defaultdict(int), defaultdict(int)])
    for k, pair in hists.items():
        for i in range(2):
            acc = by_hour[k[3]][i]
            for b, n in pair[i].items():
                acc[b] += n
    conn.executemany("INSERT INTO rollup_m_hour_hists VALUES (?,?,?,?,?)",
                     [(site, month, h, _pack_dense(w), _pack_dense(sv)) for h, (w, sv) in by_hour.items()])
    dense: dict[Any, list[list[int]]] = {}

    for service, wb, sb in conn.execute(f"SELECT service, wait_hist, service_hist FROM rollup_hists "  # noqa: S608
                                        f"WHERE {where}", args):
        acc = dense.setdefault(service, [[0] * NB, [0] * NB])
        for i, blob in enumerate((wb, sb)):
            if blob:
                acc[i] = [x + y for x, y in zip(acc[i], array("I", blob), strict=True)]
    conn.executemany("INSERT INTO rollup_m_hists VALUES (?,?,?,?,?)",
                     [(site, month, sv, array("I", w).tobytes(), array("I", s).tobytes())
                      for sv, (w, s) in dense.items()])
    staffed = _merge_sparse(conn.execute("SELECT service, counter_id, staff, wait_hist, service_hist FROM "  # noqa: S608
                                         f"rollup_staff_hists WHERE {where}", args), 3, 2)
    conn.executemany("INSERT INTO rollup_m_staff_hists VALUES (?,?,?,?,?,?,?)",
                     [(site, month, *k, _pack_sparse(w), _pack_sparse(s)) for k, (w, s) in staffed.items()])
    pkeys = "service, counter_id, staff, procedure"
    phist = _merge_sparse(conn.execute(f"SELECT {pkeys}, hist FROM rollup_procedures WHERE {where}", args),  # noqa: S608
                          4, 1)
    conn.executemany("INSERT INTO rollup_m_procedures VALUES (?,?,?,?,?,?,?,?,?,?,?)", [
        (site, month, *r, _pack_sparse(phist.get(tuple(r[:4]), [{}])[0]))
        for r in conn.execute(f"SELECT {pkeys}, sum(n), sum(tickets), total(seconds_sum), max(seconds_max) "  # noqa: S608
                              f"FROM rollup_procedures WHERE {where} GROUP BY {pkeys}", args)])
    conn.execute("INSERT INTO rollup_m_ratings SELECT site, ?, service, counter_id, staff, r_counter, r_staff, "  # noqa: S608
                 f"procedure, level, sum(n) FROM rollup_ratings WHERE {where} GROUP BY service, counter_id, staff, "
                 "r_counter, r_staff, procedure, level", (month, *args))
    conn.execute("INSERT INTO rollup_months VALUES (?,?,?)", (site, month, now))


_ALL_SITES_TABLES = ("rollup_all_days", "rollup_all_day_sums", "rollup_all_service_days", "rollup_all_service_sums",
                     "rollup_all_service_hists")


def _build_all_sites_days(conn: sqlite3.Connection, config: Config, d0: str, d1: str) -> None:
    """Sums over all sites for the days in [d0, d1] that every site has rolled up and that have none yet
    (rebuilding a site's day drops that day's: these are always the sum of the current daily rows): (day × hour)
    sums, and per service (day × hour) sums and daily histograms (reports filtered by one service)."""
    n_sites = len(_all_sites(conn, config))
    complete = [d for d, n in conn.execute("SELECT service_day, count(*) FROM rollup_days WHERE service_day "
                                           "BETWEEN ? AND ? GROUP BY 1", (d0, d1)) if n >= n_sites]
    done = {r[0] for r in conn.execute("SELECT service_day FROM rollup_all_days WHERE service_day BETWEEN ? AND ?",
                                       (d0, d1))}
    todo = [d for d in complete if d not in done]
    for i in range(0, len(todo), 500):
        days = todo[i:i + 500]
        marks = ",".join("?" * len(days))
        conn.execute(f"INSERT INTO rollup_all_day_sums SELECT service_day, hour, {_RSUM_COLS} FROM rollup_day_sums "  # noqa: S608
                     f"WHERE service_day IN ({marks}) GROUP BY service_day, hour", days)
        now = to_iso(datetime.now(UTC))
        conn.executemany("INSERT INTO rollup_all_days VALUES (?, ?)", [(d, now) for d in days])
    done = {r[0] for r in conn.execute("SELECT service_day FROM rollup_all_service_days WHERE service_day "
                                       "BETWEEN ? AND ?", (d0, d1))}
    todo = [d for d in complete if d not in done]

    for i in range(0, len(todo), 100):
        days = todo[i:i + 100]
        marks = ",".join("?" * len(days))
        conn.execute(f"INSERT INTO rollup_all_service_sums SELECT service, service_day, hour, {_RSUM_COLS} "  # noqa: S608
                     f"FROM rollup_cells WHERE service_day IN ({marks}) GROUP BY service_day, service, hour", days)
        dense: dict[tuple[str, str], list[Any]] = {}
        for d, service, wb, sb in conn.execute("SELECT service_day, service, wait_hist, service_hist FROM "  # noqa: S608
                                               f"rollup_hists WHERE service_day IN ({marks})", days):
            acc = dense.get((service, d))
            if acc is None:
                dense[(service, d)] = [array("I", wb or bytes(4 * NB)), array("I", sb or bytes(4 * NB))]
                continue
            for j, blob in enumerate((wb, sb)):
                if blob:
                    acc[j] = array("I", [x + y for x, y in zip(acc[j], array("I", blob), strict=True)])
        conn.executemany("INSERT INTO rollup_all_service_hists VALUES (?,?,?,?)",
                         [(sv, d, w.tobytes(), s.tobytes()) for (sv, d), (w, s) in dense.items()])
        now = to_iso(datetime.now(UTC))
        conn.executemany("INSERT INTO rollup_all_service_days VALUES (?, ?)", [(d, now) for d in days])
