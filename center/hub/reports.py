"""The province's reports: one center's figures here are that center's own (center/reports/figures.py).

Additive figures (issued, served, no-show, waiting mean, satisfaction) come from `hub_daily`. Medians and p90s
come exactly from the filtered tickets with `percentile_cont` (linear interpolation between the ranks
⌊(n−1)q⌋ and the next: what center/reports/percentiles.py computes). The service level's denominator is
also read from tickets: the center counts a ticket called *or* left/cancelled once, and a ticket cancelled
at closing after being called is both waited and cancelled, so hub_daily's waited + left + cancelled would
count it twice. Grouping by procedure reads tickets and ticket_procedures only (hub_daily has no procedure).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import Any

from ..errors import Invalid
from ..queue.clock import vn_date
from ..reports.export import tables_csv, tables_xlsx
from . import rollup_read
from .config import HubCenter, HubConfig
from .names import center_names

GROUPS = ("center", "service", "procedure", "hour", "day")
RANKS = ("service_level", "satisfaction")
MAX_DAYS = 3700
DEFAULT_DAYS = 30  # a report asked for without dates covers the last 30 days (a center's month at a glance)

_DAILY_KEY = {"all": "'all'", "center": "d.center", "service": "d.service", "hour": "d.hour::int",
              "day": "d.service_day::text"}
_TICKET_KEY = {"all": "'all'", "center": "t.center", "service": "t.service",
               "hour": "extract(hour FROM t.issued_at AT TIME ZONE coalesce(l.labels->>'timezone', %(tz)s))::int",
               "day": "t.service_day::text"}
_TARGET = "coalesce((l.labels->'services'->t.service->>'target_wait_min')::float8, 15) * 60"
_SATISFIED = ("r.level IN (SELECT lv->>'code' FROM jsonb_array_elements(coalesce(l.labels->'rating_levels', "
              "'[]'::jsonb)) lv WHERE (lv->>'satisfied')::boolean)")
_PCT = ("percentile_cont(0.5) WITHIN GROUP (ORDER BY t.wait_s), percentile_cont(0.9) WITHIN GROUP (ORDER BY t.wait_s), "
        "count(*) FILTER (WHERE t.wait_s IS NOT NULL OR t.status IN ('left', 'cancelled'))")


@dataclass
class HubFilters:
    date_from: str
    date_to: str
    center: str | None = None
    site: str | None = None
    service: str | None = None
    group: str = "center"
    rank: str = "service_level"

    @classmethod
    def parse(cls, args: Any, today: str, default: tuple[str, str] | None = None) -> HubFilters:
        """The filters of a request; without dates, `default` (`default_range`), else today alone."""
        def get(name: str) -> str | None:
            v = args.get(name)
            return v.strip() if isinstance(v, str) and v.strip() else None

        start, end = get("from"), get("to")
        if not start and not end:
            start, end = default or (today, today)
        f = cls(date_from=start or today, date_to=end or start or today, center=get("center"),
                site=get("site"), service=get("service"), group=get("group") or "center",
                rank=get("rank") or "service_level")
        try:
            d0, d1 = date.fromisoformat(f.date_from), date.fromisoformat(f.date_to)
        except ValueError:
            raise Invalid("Ngày không hợp lệ (định dạng YYYY-MM-DD)", "Dates must be YYYY-MM-DD",
                          code="bad_date") from None
        if d1 < d0 or (d1 - d0).days > MAX_DAYS:
            raise Invalid("Khoảng thời gian không hợp lệ", "Bad date range", code="bad_range")
        if f.group not in GROUPS:
            raise Invalid("Cách nhóm không hợp lệ", f"group must be one of {', '.join(GROUPS)}", code="bad_group")
        if f.rank not in RANKS:
            raise Invalid("Cách xếp hạng không hợp lệ", f"rank must be one of {', '.join(RANKS)}", code="bad_rank")
        return f


def default_range(conn: Any, centers: list[HubCenter], today: date) -> tuple[str, str]:
    """The last DEFAULT_DAYS days up to today; when they hold nothing (every center silent for longer), the
    DEFAULT_DAYS days up to the last day with figures: a report never opens on "no data" while the hub has some.
    One index lookup per center (hub_daily's key starts with center, service_day)."""
    row = conn.execute("SELECT max(x.d) FROM unnest(%s::text[]) AS c(id), LATERAL (SELECT max(service_day) AS d "
                       "FROM hub_daily WHERE center = c.id AND service_day <= %s) x",
                       ([c.id for c in centers], today)).fetchone()
    last = row[0] if row else None
    end = last if last is not None and (today - last).days >= DEFAULT_DAYS else today
    return (end - timedelta(days=DEFAULT_DAYS - 1)).isoformat(), end.isoformat()


def _r(x: float | None, digits: int = 1) -> float | None:
    return None if x is None else round(float(x), digits)


def _share(a: int | None, b: int | None) -> float | None:
    return round(a / b, 4) if b else None


def _where(f: HubFilters, alias: str, params: dict[str, Any]) -> str:
    out = [f"{alias}.center = ANY(%(centers)s)", f"{alias}.service_day BETWEEN %(d0)s AND %(d1)s"]
    for name in ("site", "service"):
        if getattr(f, name):
            out.append(f"{alias}.{name} = %({name})s")
            params[name] = getattr(f, name)
    return " AND ".join(out)


def _additive(conn: Any, f: HubFilters, params: dict[str, Any], key: str) -> dict[Any, dict[str, Any]]:
    where = _where(f, "d", params)
    sql = (f"SELECT {_DAILY_KEY[key]} AS k, sum(issued), sum(served), sum(no_show), sum(left_before), sum(cancelled), "
           "sum(transferred), sum(waited), sum(wait_sum), sum(in_target), sum(rated), sum(satisfied), "
           f"sum(service_n), sum(service_sum) FROM hub_daily d WHERE {where} GROUP BY 1")
    names = ("issued", "served", "no_show", "left", "cancelled", "transferred", "wait_n", "wait_sum", "sl_within",
             "rated", "satisfied", "service_n", "service_sum")
    return {r[0]: dict(zip(names, (x or 0 for x in r[1:]), strict=True)) for r in conn.execute(sql, params)}


def _exact(conn: Any, f: HubFilters, params: dict[str, Any], key: str) -> dict[Any, dict[str, Any]]:
    where = _where(f, "t", params)
    sql = (f"SELECT {_TICKET_KEY[key]} AS k, {_PCT} FROM tickets t LEFT JOIN hub_labels l ON l.center = t.center "
           f"WHERE {where} GROUP BY 1")
    return {r[0]: {"wait_median": r[1], "wait_p90": r[2], "sl_total": r[3]} for r in conn.execute(sql, params)}


def _procedures(conn: Any, f: HubFilters, params: dict[str, Any]) -> dict[Any, dict[str, Any]]:
    """Per procedure: the figures of the tickets that had it (each ticket once), and its own service time."""
    where = _where(f, "t", params)
    sql = (f"WITH tp AS (SELECT DISTINCT center, ticket_id, procedure FROM ticket_procedures "
           f"WHERE center = ANY(%(centers)s)) "
           f"SELECT tp.procedure, count(*) FILTER (WHERE t.transferred_from IS NULL), "
           f"count(*) FILTER (WHERE t.status = 'served'), count(*) FILTER (WHERE t.status = 'no_show'), "
           f"count(t.wait_s), coalesce(sum(t.wait_s), 0), count(*) FILTER (WHERE t.wait_s <= {_TARGET}), "
           f"count(r.level), count(r.level) FILTER (WHERE {_SATISFIED}), {_PCT} "
           f"FROM tp JOIN tickets t ON t.center = tp.center AND t.id = tp.ticket_id "
           f"LEFT JOIN hub_labels l ON l.center = t.center LEFT JOIN ratings r ON r.center = t.center "
           f"AND r.ticket_id = t.id WHERE {where} GROUP BY 1")
    out = {}
    for r in conn.execute(sql, params):
        out[r[0]] = {"issued": r[1], "served": r[2], "no_show": r[3], "wait_n": r[4], "wait_sum": r[5],
                     "sl_within": r[6], "rated": r[7], "satisfied": r[8], "wait_median": r[9], "wait_p90": r[10],
                     "sl_total": r[11]}
    times = (f"SELECT p.procedure, count(p.seconds), avg(p.seconds), percentile_cont(0.5) WITHIN GROUP "
             f"(ORDER BY p.seconds), percentile_cont(0.9) WITHIN GROUP (ORDER BY p.seconds) FROM tickets t JOIN "
             f"ticket_procedures p ON p.center = t.center AND p.ticket_id = t.id WHERE {where} "
             f"AND t.status = 'served' GROUP BY 1")
    for k, n, mean, med, p90 in conn.execute(times, params):
        out.setdefault(k, {}).update({"proc_n": n, "proc_mean_s": _r(mean), "proc_median_s": _r(med),
                                      "proc_p90_s": _r(p90)})
    return out


def _finish(key: Any, label: str, a: dict[str, Any]) -> dict[str, Any]:
    row = {"key": key, "label": label, "issued": a.get("issued", 0), "served": a.get("served", 0),
           "no_show": a.get("no_show", 0), "wait_n": a.get("wait_n", 0),
           "wait_mean_s": _r(a["wait_sum"] / a["wait_n"]) if a.get("wait_n") else None,
           "wait_median_s": _r(a.get("wait_median")), "wait_p90_s": _r(a.get("wait_p90")),
           "sl_within": a.get("sl_within", 0), "sl_total": a.get("sl_total", 0),
           "service_level": _share(a.get("sl_within"), a.get("sl_total")),
           "rated": a.get("rated", 0), "satisfied": a.get("satisfied", 0),
           "satisfied_share": _share(a.get("satisfied"), a.get("rated"))}
    row.update({k: v for k, v in a.items() if k.startswith("proc_")})
    return row


class _Labels:
    """Names from what each center sent of its config (hub_labels), in the reader's language."""

    def __init__(self, conn: Any, centers: list[HubCenter], en: bool) -> None:
        self.en = en
        self.centers = center_names(conn, centers, en)
        self.services: dict[str, str] = {}
        self.procedures: dict[str, str] = {}
        self.sites: dict[str, str] = {}
        for _center, lab in conn.execute("SELECT center, labels FROM hub_labels WHERE center = ANY(%s) ORDER BY center",
                                        ([c.id for c in centers],)):
            for code, st in (lab.get("sites") or {}).items():
                self.sites.setdefault(code, self._name(st, code))
            for code, sv in (lab.get("services") or {}).items():
                self.services.setdefault(code, self._name(sv, code))
                for pc, p in (sv.get("procedures") or {}).items():
                    self.procedures.setdefault(pc, self._name(p, pc))

    def _name(self, d: dict[str, Any], code: str) -> str:
        return str((d.get("name_en") if self.en else None) or d.get("name") or code)

    def __call__(self, group: str, key: Any) -> str:
        if group == "center":
            return self.centers.get(key, str(key))
        if group == "service":
            return self.services.get(key, str(key))
        if group == "procedure":
            return self.procedures.get(key, str(key))
        if group == "site":
            return self.sites.get(key, str(key))
        if group == "hour":
            return f"{int(key):02d}:00"
        if group == "day" and key not in (None, "all"):
            return vn_date(str(key))
        return "Tổng" if key == "all" and not self.en else ("All" if key == "all" else str(key))


def filter_options(conn: Any, centers: list[HubCenter],
                   lang: str = "vi") -> dict[str, list[tuple[str, str]]]:
    """The report form's choices as (code, name): each visible center's sites (with the center's name when
    several centers are listed: every center has a "reception point 1") and the services they sent."""
    label = _Labels(conn, centers, lang == "en")
    sites = [(s, f"{label('center', c.id)} · {label('site', s)}" if len(centers) > 1 else label("site", s))
             for c in centers for s in c.sites]
    services = list(label.services.items())  # in the order the center lists them (its config.toml)
    return {"sites": sites, "services": services}


def _rows(conn: Any, f: HubFilters, params: dict[str, Any], group: str, label: _Labels) -> list[dict[str, Any]]:
    if "mc" in params:  # a long range: the roll-ups
        got = rollup_read.procedures(conn, f, params) if group == "procedure" else rollup_read.grouped(
            conn, f, params, group)
    elif group == "procedure":
        got = _procedures(conn, f, params)
    else:
        got = _additive(conn, f, params, group)
        for k, v in _exact(conn, f, params, group).items():
            got.setdefault(k, {}).update(v)
    return [_finish(k, label(group, k), got[k]) for k in sorted(got, key=lambda k: (k is None, str(k).zfill(2)))]


_BOOKED = ("made", "kept", "cancelled", "no_show", "late", "booked_n", "booked_wait_sum", "walkin_n",
           "walkin_wait_sum")


def _bookings(conn: Any, f: HubFilters, params: dict[str, Any], label: _Labels) -> dict[str, Any]:
    """Per center, from the bookings the centers synced up (the truth of what happened to each): made, kept
    (checked in), cancelled, no-show, late; and the wait of booked tickets against walk-ins'."""
    got: dict[str, dict[str, Any]] = {}
    counted = rollup_read.booking_counts(conn, f, params) if "mc" in params else None
    for k, v in (counted or {}).items():
        got[k] = {name: v[f"b_{name}"] for name in _BOOKED[:5]}
    sql = (f"SELECT b.center, count(*), count(*) FILTER (WHERE b.status = 'checked_in'), count(*) FILTER (WHERE "
           f"b.status = 'cancelled'), count(*) FILTER (WHERE b.status = 'no_show'), count(*) FILTER (WHERE b.late = 1) "
           f"FROM bookings b WHERE {_where(f, 'b', params)} GROUP BY 1")
    if counted is None:  # a short range, or one site: count the bookings themselves
        for r in conn.execute(sql, params):
            got.setdefault(r[0], {}).update(zip(_BOOKED[:5], r[1:], strict=True))
    if "mc" in params:
        for k, v in rollup_read.booked_waits(conn, f, params).items():
            got.setdefault(k, {}).update(v)
    else:
        sql = (f"SELECT t.center, count(t.wait_s) FILTER (WHERE t.booking IS NOT NULL), coalesce(sum(t.wait_s) "
               f"FILTER (WHERE t.booking IS NOT NULL), 0), count(t.wait_s) FILTER (WHERE t.booking IS NULL), "
               f"coalesce(sum(t.wait_s) FILTER (WHERE t.booking IS NULL), 0) FROM tickets t WHERE "
               f"{_where(f, 't', params)} AND t.transferred_from IS NULL GROUP BY 1")
        for r in conn.execute(sql, params):
            got.setdefault(r[0], {}).update(zip(_BOOKED[5:], r[1:], strict=True))

    def row(key: str, a: dict[str, Any]) -> dict[str, Any]:
        out = {"key": key, "label": label("center", key), **{k: a.get(k, 0) for k in _BOOKED[:5]}}
        for kind in ("booked", "walkin"):
            n = a.get(f"{kind}_n", 0)
            out.update({f"{kind}_n": n, f"{kind}_wait_mean_s": _r(a[f"{kind}_wait_sum"] / n) if n else None})
        return out

    total = {k: sum(a.get(k, 0) for a in got.values()) for k in _BOOKED}
    return {"rows": [row(k, got[k]) for k in sorted(got)],
            "summary": row("all", total) | {"label": label("all", "all")}}


def report(conn: Any, cfg: HubConfig, centers: list[HubCenter], f: HubFilters, lang: str = "vi") -> dict[str, Any]:
    """The report over `centers` (already narrowed to what the caller may see)."""
    params: dict[str, Any] = {"centers": [c.id for c in centers], "d0": f.date_from, "d1": f.date_to,
                              "tz": cfg.timezone, "site": f.site, "service": f.service}
    label = _Labels(conn, centers, lang == "en")
    if rollup_read.is_long(f):
        rollup_read.clean_months(conn, params)
    summary = _rows(conn, f, params, "all", label)
    by_center = _rows(conn, f, params, "center", label)
    field = "service_level" if f.rank == "service_level" else "satisfied_share"
    ranking = sorted(by_center, key=lambda r: (r[field] is None, -(r[field] or 0), r["label"]))
    return {"filters": asdict(f), "centers": [{"id": c.id, "name": label("center", c.id)} for c in centers],
            "summary": summary[0] if summary else _finish("all", label("all", "all"), {}),
            "rows": by_center if f.group == "center" else _rows(conn, f, params, f.group, label),
            "ranking": [{"rank": i + 1, **r} for i, r in enumerate(ranking)],
            "trend": _rows(conn, f, params, "day", label) if f.group != "day" else None,
            "bookings": _bookings(conn, f, params, label)}


COLUMNS = [("label", "Nhóm", "Group"), ("issued", "Số cấp", "Issued"), ("served", "Đã phục vụ", "Served"),
           ("no_show", "Vắng mặt", "No-show"), ("wait_mean_s", "Chờ TB (giây)", "Wait mean (s)"),
           ("wait_median_s", "Chờ trung vị (giây)", "Wait median (s)"),
           ("wait_p90_s", "Chờ P90 (giây)", "Wait p90 (s)"),
           ("service_level", "Mức phục vụ (tỉ lệ gọi đúng hạn)", "Service level"),
           ("satisfied_share", "Tỉ lệ hài lòng", "Satisfied share"), ("rated", "Số lượt đánh giá", "Ratings")]
PROC_EXTRA = [("proc_n", "Số lượt thủ tục", "Procedure count"),
              ("proc_mean_s", "Phục vụ TB (giây)", "Service mean (s)"),
              ("proc_median_s", "Phục vụ trung vị (giây)", "Service median (s)"),
              ("proc_p90_s", "Phục vụ P90 (giây)", "Service p90 (s)")]


BOOKING_COLUMNS = [("label", "Trung tâm", "Center"), ("made", "Lịch đã đặt", "Bookings made"),
                   ("kept", "Đã đến", "Kept"), ("cancelled", "Đã hủy", "Cancelled"),
                   ("no_show", "Không đến", "No-show"), ("late", "Đến muộn", "Late"),
                   ("booked_wait_mean_s", "Chờ TB có hẹn (giây)", "Booked wait mean (s)"),
                   ("walkin_wait_mean_s", "Chờ TB không hẹn (giây)", "Walk-in wait mean (s)")]


def export_tables(rep: dict[str, Any], lang: str = "vi") -> list[tuple[str, list[str], list[list[Any]]]]:
    """(section, header, rows) for CSV and XLSX: Vietnamese names unless lang=en; durations stay seconds."""
    i = 2 if lang == "en" else 1
    booked = rep.get("bookings") or {"rows": []}
    return _export_main(rep, i) + [("Bookings" if i == 2 else "Đặt lịch", [c[i] for c in BOOKING_COLUMNS],
                                    [[r.get(c[0]) for c in BOOKING_COLUMNS] for r in booked["rows"]])]


def _export_main(rep: dict[str, Any], i: int) -> list[tuple[str, list[str], list[list[Any]]]]:
    cols = COLUMNS + (PROC_EXTRA if rep["filters"]["group"] == "procedure" else [])
    rank_cols = [("rank", "Hạng", "Rank"), *COLUMNS]
    by_day = rep["filters"]["group"] == "day"  # a day stays ISO in a data column, as the center's exports keep it

    def cell(r: dict[str, Any], name: str) -> Any:
        return r.get("key") if by_day and name == "label" else r.get(name)

    return [("Summary" if i == 2 else "Tổng hợp", [c[i] for c in COLUMNS],
             [[rep["summary"].get(c[0]) for c in COLUMNS]]),
            ("Rows" if i == 2 else "Theo nhóm", [c[i] for c in cols],
             [[cell(r, c[0]) for c in cols] for r in rep["rows"]]),
            ("Ranking" if i == 2 else "Xếp hạng trung tâm", [c[i] for c in rank_cols],
             [[r.get(c[0]) for c in rank_cols] for r in rep["ranking"]])]


def to_csv(rep: dict[str, Any], lang: str = "vi") -> str:
    return tables_csv(export_tables(rep, lang))


def to_xlsx(rep: dict[str, Any], lang: str = "vi") -> bytes:
    return tables_xlsx(export_tables(rep, lang))
