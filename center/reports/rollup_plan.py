"""Where a roll-up report reads the past days of its range: whole months and dekads from the period
tables, the days at the ends from the daily ones; and which one site's roll-ups hold a counter or staff
member when no site is given."""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from datetime import date, timedelta
from typing import Any

from ..config.model import Config
from .filters import Filters
from .rollup_build import _all_sites, _month_end, _period_of


def _rwhere(f: Filters, d0: str, d1: str) -> tuple[str, dict[str, Any]]:
    # Without a site, a long range reads most of the table: a sequential scan (the unary + keeps SQLite off
    # the service_day index, whose row look-ups cost more than they save).
    where = ["service_day BETWEEN :rd0 AND :rd1" if f.site else "+service_day BETWEEN :rd0 AND :rd1"]
    params: dict[str, Any] = {"rd0": d0, "rd1": d1}
    for name, column in (("site", "site"), ("service", "service"), ("counter", "counter_id"), ("staff", "staff")):
        value = getattr(f, name)
        if value:
            where.append(f"{column} = :{name}")
            params[name] = value
    return " AND ".join(where), params


def _all_sites_built(conn: sqlite3.Connection, marker: str, rp: dict[str, Any]) -> bool:
    """Whether the all-sites sums (whose days are listed in `marker`) cover every day of [rd0, rd1]."""
    n_days = (date.fromisoformat(rp["rd1"]) - date.fromisoformat(rp["rd0"])).days + 1
    return conn.execute(f"SELECT count(*) FROM {marker} WHERE service_day BETWEEN :rd0 AND :rd1",  # noqa: S608
                        rp).fetchone()[0] == n_days


class _Plan:
    """Where a roll-up report reads past days: the period tables (rollup_m_*) for whole months, and whole
    dekads, inside the range that are rolled up for every site in scope; the daily tables for the other days
    (at most 9 at each end of the range)."""

    def __init__(self, conn: sqlite3.Connection, config: Config, f: Filters, d0: str, d1: str):
        self.f = f
        where, params = [], {}
        for name, column in (("site", "site"), ("service", "service"), ("counter", "counter_id"),
                             ("staff", "staff")):
            value = getattr(f, name)
            if value:
                where.append(f"{column} = :{name}")
                params[name] = value
        self.filt = " AND ".join(where) or "1"
        self.params: dict[str, Any] = params
        self.rw, rp = _rwhere(f, d0, d1)  # every past day of the range (tables without a monthly version)
        self.params.update(rp)
        first, last = date.fromisoformat(d0), date.fromisoformat(d1)
        scope = {f.site} if f.site else set(_all_sites(conn, config))
        have: dict[str, set[str]] = defaultdict(set)
        for site, key in conn.execute("SELECT site, month FROM rollup_months WHERE month BETWEEN ? AND ?",
                                      (d0[:7], d1[:7] + "/9")):
            have[key].add(site)
        # greedy cover: a whole month where it fits and is rolled up for every site in scope, else a dekad,
        # else single days (merged into ranges)
        self.months: list[str] = []
        self.ranges: list[tuple[str, str]] = []
        day, start = first, None
        while day <= last:
            take = None
            if day.day == 1 and _month_end(day) <= last and scope <= have[day.isoformat()[:7]]:
                take = day.isoformat()[:7], _month_end(day)
            else:
                dekad = _period_of(day)
                if dekad and dekad[1] <= last and scope <= have[dekad[0]]:
                    take = dekad
            if take is None:
                start = start or day
                day += timedelta(days=1)
                continue
            if start:
                self.ranges.append((start.isoformat(), (day - timedelta(days=1)).isoformat()))
                start = None
            self.months.append(take[0])
            day = take[1] + timedelta(days=1)
        if start:
            self.ranges.append((start.isoformat(), last.isoformat()))
        for i, (a, b) in enumerate(self.ranges):
            self.params[f"pa{i}"], self.params[f"pb{i}"] = a, b
        for i, mo in enumerate(self.months):
            self.params[f"pm{i}"] = mo

    def arms(self, daily: str, monthly: str | None) -> list[tuple[str, str]]:
        """(table, where) pairs covering the range once: daily rows of the ends, monthly rows of whole months."""
        out = []
        for i, (a, b) in enumerate(self.ranges):
            # without a site a long stretch reads most of the table: a scan beats index look-ups (+ disables it)
            plus = "+" if not self.f.site and (date.fromisoformat(b) - date.fromisoformat(a)).days > 62 else ""
            out.append((daily, f"{plus}service_day BETWEEN :pa{i} AND :pb{i} AND {self.filt}"))
        if self.months:
            if monthly is None:
                raise ValueError("no monthly table")
            marks = ", ".join(f":pm{i}" for i in range(len(self.months)))
            out.append((monthly, f"service_day IN ({marks}) AND {self.filt}"))
        return out


def _only_site(conn: sqlite3.Connection, config: Config, f: Filters, last: str) -> str | None:
    """The one site whose roll-ups of [from, last] hold the filter's counter / staff member (any site when none
    does; None when several do): the report then reads only that site's roll-ups. Every site's days are rolled
    up (checked before), so the other sites' roll-ups have no row of it: the same sums."""
    plan = _Plan(conn, config, Filters(f.date_from, last), f.date_from, last)
    params = dict(plan.params)
    cond = []
    for name, column in (("counter", "counter_id"), ("staff", "staff")):
        if getattr(f, name):
            cond.append(f"{column} = :only_{name}")
            params[f"only_{name}"] = getattr(f, name)
    sites: set[str] = set()
    for table, where in plan.arms("rollup_cells", "rollup_m_keys"):
        sites.update(r[0] for r in conn.execute(f"SELECT DISTINCT site FROM {table} WHERE {where} AND "  # noqa: S608
                                                f"{' AND '.join(cond)}", params))
        if len(sites) > 1:
            return None
    if sites:
        return sites.pop()
    every = _all_sites(conn, config)
    return every[0] if every else None
