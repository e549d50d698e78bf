"""What a report is asked for (dates, site, service, procedure, counter, staff member, grouping) and
the filtered ticket rows it reads, as one SQL CTE: every raw query of the package starts from `_base`, so
a filter means the same thing in the summary, the percentiles, staffing and the live figures."""

from __future__ import annotations

import sqlite3
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from ..config.model import Config
from ..errors import Invalid

GROUPS = ("none", "site", "service", "procedure", "counter", "staff", "hour", "weekday", "day")
STATUSES = ("served", "no_show", "cancelled", "transferred", "left")


MAX_RANGE_DAYS = 3700


_KEYS = {
    "none": "'all'",
    "site": "t.site",
    "service": "t.service",
    "counter": "t.counter_id",
    "staff": "t.staff",
    "hour": "t.hour",
    "weekday": "t.weekday",
    "day": "t.service_day",
}


@dataclass
class Filters:
    date_from: str
    date_to: str
    site: str | None = None
    service: str | None = None
    procedure: str | None = None
    counter: str | None = None
    staff: str | None = None
    group: str = "none"

    @classmethod
    def parse(cls, args: Any, *, today: str) -> Filters:
        """From query arguments (a dict-like); empty strings mean no filter. Checks dates and group."""

        def get(name: str) -> str | None:
            v = args.get(name)
            return v.strip() if isinstance(v, str) and v.strip() else None

        f = cls(date_from=get("from") or today, date_to=get("to") or get("from") or today, site=get("site"),
                service=get("service"), procedure=get("procedure"), counter=get("counter"), staff=get("staff"),
                group=get("group") or "none")
        f.check()
        return f

    def check(self) -> None:
        try:
            d0, d1 = date.fromisoformat(self.date_from), date.fromisoformat(self.date_to)
        except (TypeError, ValueError):
            raise Invalid("Ngày không hợp lệ (định dạng YYYY-MM-DD)", "Dates must be YYYY-MM-DD",
                          code="bad_date") from None
        if d1 < d0:
            raise Invalid("Ngày kết thúc trước ngày bắt đầu", "The end date is before the start date",
                          code="bad_range")
        if (d1 - d0).days > MAX_RANGE_DAYS:
            raise Invalid("Khoảng thời gian quá dài (tối đa 10 năm)", "Range too long (10 years at most)",
                          code="bad_range")
        if self.group not in GROUPS:
            raise Invalid("Cách nhóm không hợp lệ", f"group must be one of {', '.join(GROUPS)}", code="bad_group")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Query:
    """The filtered ticket rows as a CTE `t`, with local hour and weekday."""

    sql: str
    params: dict[str, Any] = field(default_factory=dict)


def utc_offset_minutes(config: Config, day: str) -> int:
    """The timezone's UTC offset on a local date (fixed per report: Vietnam has no DST)."""
    moment = datetime.fromisoformat(day + "T12:00:00").replace(tzinfo=config.tz)
    off = moment.utcoffset() or timedelta(0)
    return int(off.total_seconds() // 60)


def _base(config: Config, f: Filters) -> _Query:
    off = utc_offset_minutes(config, f.date_from)
    params: dict[str, Any] = {"d0": f.date_from, "d1": f.date_to, "off": f"{off:+d} minutes"}
    where = ["t.service_day BETWEEN :d0 AND :d1"]
    for name, column in (("site", "site"), ("service", "service"), ("counter", "counter_id"), ("staff", "staff")):
        value = getattr(f, name)
        if value:
            where.append(f"t.{column} = :{name}")
            params[name] = value
    if f.procedure:
        where.append("EXISTS (SELECT 1 FROM ticket_procedures p WHERE p.ticket_id = t.id AND p.procedure = :procedure)")
        params["procedure"] = f.procedure
    if off % 60 == 0:  # whole-hour offset (Vietnam): cheaper than strftime on every row
        hour = f"((CAST(substr(t.issued_at, 12, 2) AS INTEGER) + {off // 60 + 24}) % 24)"
    else:
        hour = "CAST(strftime('%H', t.issued_at, :off) AS INTEGER)"
    targets = " ".join(f"WHEN '{code}' THEN {float(sv.target_wait_min) * 60!r}" for code, sv in config.services.items()
                       if code.replace("-", "").replace("_", "").isalnum())
    target = f"CASE t.service {targets} ELSE 900.0 END" if targets else "900.0"
    sql = (
        "t AS (SELECT t.id, t.site, t.service, t.counter_id, t.staff, t.status, t.service_day, t.transferred_from, "
        f"t.wait_s, t.service_s, {hour} AS hour, "
        "(CAST(strftime('%w', t.service_day) AS INTEGER) + 6) % 7 AS weekday, "
        f"{target} AS target_s "
        f"FROM tickets t WHERE {' AND '.join(where)})")
    return _Query(sql, params)


def _counter_site(conn: sqlite3.Connection, config: Config, counter_id: str) -> str | None:
    """The site a counter belongs to (config.toml, else the counters table of counters configured before): a
    counter's report then reads only that site's roll-ups, the narrow per-site path."""
    counter = config.counter(counter_id)
    if counter:
        return counter.site
    row = conn.execute("SELECT site FROM counters WHERE id = ?", (counter_id,)).fetchone()
    return row[0] if row else None
