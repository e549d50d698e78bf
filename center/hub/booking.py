"""Bookings made at the hub (issue 17): what a center offers, its slots and places left, making and cancelling.

A center offers what its labels say (center/sync/labels.py, `booking`): its settings, each site's opening hours,
and per service the counters serving it per site and the default handling minutes. A slot's places are those the
center itself counts: from its booking plan (center/queue/bookings.py `booking_plan`, kept in
`hub_booking_plans`), its measured places per slot and its walk-ins' measured waits by slot start, put through the
center's own `slot_places` (a busy slot opens fewer places, none past twice `busy_wait_min`). A center that never
sent a plan is counted from its labels: counters × slot length ÷ default handling minutes × the share opened to
bookings (or the center's own figure). The places left are those minus the bookings already in the slot: those
made here and those the center made at its desk (synced up).

Every write for a center takes that center's advisory lock: two citizens cannot both take a slot's last place,
and `ver` (the down flow's position) is taken in commit order, so a center's mark never skips a change.
"""

from __future__ import annotations

import hmac
import json
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ..contract.booking import ALPHABET, clean_code, new_code, normal_phone, phone_hash  # noqa: F401 - one rule
from ..errors import Conflict, Invalid, NotFound, QueueError, clean_text
from ..queue.bookings import PLAN_VERSION, hhmm, slot_places
from ..queue.clock import to_iso
from .config import HubConfig

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DOWN_LIMIT = 500
PURGE_AFTER_DAYS = 7  # as at the center (center/queue/bookings.py): then only the code and the slot remain


def _hm(text: Any) -> time | None:
    try:
        h, m = str(text).strip().split(":")[:2]
        return time(23, 59, 59) if int(h) == 24 else time(int(h), int(m))
    except (ValueError, TypeError):
        return None


def _intervals(items: Any) -> list[tuple[time, time]]:
    """["07:30-11:30", …] or [["07:30", "11:30"], …]; an end of 24:00 or null is the day's end."""
    out = []
    for it in items or []:
        a, b = (it.split("-", 1) + [None])[:2] if isinstance(it, str) else (list(it) + [None, None])[:2]
        start, end = _hm(a), _hm(b) if b not in (None, "") else time(23, 59, 59)
        if start is not None and end is not None and end > start:
            out.append((start, end))
    return out


@dataclass
class Place:
    """One site of a center that takes bookings, as its labels describe it."""

    center: str
    center_name: str
    site: str
    site_name: str
    tz: ZoneInfo
    settings: dict[str, Any]
    hours: dict[str, list[tuple[time, time]]]
    closed: set[str]
    services: dict[str, dict[str, Any]] = field(default_factory=dict)  # code -> {name, name_en, counters, min}
    # The center's booking plan for this site (`site_plan`): {busy_wait_min, day, services: {code: {rate, waits}}}.
    plan: dict[str, Any] | None = None

    @property
    def key(self) -> str:
        return f"{self.center}:{self.site}"

    def setting(self, name: str, default: float) -> float:
        v = self.settings.get(name)
        return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else default

    @property
    def slot_min(self) -> int:
        return max(5, int(self.setting("slot_min", 30)))

    def day_places(self, service: str, day: date) -> list[tuple[datetime, int]]:
        """Every slot of `day` (UTC start) with its places, counted as the center counts them (`slot_places`):
        with its plan, its measured rate and each slot's measured walk-in wait; without, the labels' rate."""
        starts = self.day_slots(day)
        if self.plan is None:
            return list(zip(starts, slot_places(self.rate(service), [None] * len(starts), 0), strict=True))
        waits = (self.plan["services"].get(service) or {}).get("waits") or {}
        local = [t.astimezone(self.tz) for t in starts]
        seen = [waits.get(hhmm(t.hour * 60 + t.minute)) for t in local]
        return list(zip(starts, slot_places(self.rate(service), seen, self.plan["busy_wait_min"]), strict=True))

    def rate(self, service: str) -> float:
        """Places per slot on average: the center's measured figure from its plan; without a plan, the center's
        own figure if it set one, else counted from its counters and default handling time."""
        if self.plan is not None:
            sv = self.plan["services"].get(service)
            return float(sv["rate"]) if sv else 0.0
        over = self.settings.get("capacity") or {}
        for key in (f"{self.site}/{service}", f"{self.site}:{service}", service):
            if isinstance(over, dict) and isinstance(over.get(key), int):
                return max(0, over[key])
        if isinstance(over, dict) and isinstance(over.get(self.site), dict) and isinstance(
                over[self.site].get(service), int):
            return max(0, over[self.site][service])
        sv = self.services.get(service)
        if not sv or not sv["counters"] or not sv["minutes"]:
            return 0
        return sv["counters"] * self.slot_min / sv["minutes"] * self.setting("share", 0.3)

    def days(self, now: datetime) -> list[date]:
        """Today and the next `days_ahead` days the site is open (with a slot still ahead)."""
        today = now.astimezone(self.tz).date()
        out = [today + timedelta(days=i) for i in range(int(self.setting("days_ahead", 14)) + 1)]
        return [d for d in out if self.slot_times(d, now)]

    def slot_times(self, day: date, now: datetime) -> list[datetime]:
        """The slots' starts (UTC) on `day`, those still ahead of `now`."""
        return [t for t in self.day_slots(day) if t > now]

    def day_slots(self, day: date) -> list[datetime]:
        """Every slot start (UTC) of `day`, in order: a slot's places depend on its number in the day."""
        if day.isoformat() in self.closed:
            return []
        step = timedelta(minutes=self.slot_min)
        out = []
        for a, b in self.hours.get(WEEKDAYS[day.weekday()], []):
            t = datetime.combine(day, a, self.tz)
            end = datetime.combine(day, b, self.tz)
            while t + step <= end + timedelta(seconds=1):
                out.append(t.astimezone(UTC))
                t += step
        return out


def _name(d: dict[str, Any], en: bool, fallback: str) -> str:
    return str((d.get("name_en") if en else None) or d.get("name") or fallback)


def _count(v: Any, site: str) -> int:
    """Counters serving a service at a site, however the labels list them ({site: n} or {site: [ids]})."""
    if isinstance(v, dict):
        v = v.get(site)
    if isinstance(v, list):
        return len(v)
    return int(v) if isinstance(v, int | float) and not isinstance(v, bool) else 0


def _number(v: Any, low: float, high: float) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and low <= v <= high


_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
PLAN_SITES, PLAN_SERVICES, PLAN_WAITS = 1000, 200, 24 * 60  # far past any center: a slot start per minute


def check_plan(plan: Any) -> dict[str, Any]:
    """A center's booking plan as it came in a push (center/queue/bookings.py `booking_plan`), checked: Invalid
    (`bad_batch`, like malformed labels) for anything else. Returns the plan with only the keys the page reads."""
    bad = Invalid("Kế hoạch đặt lịch không hợp lệ", "malformed booking plan", code="bad_batch")
    if not isinstance(plan, dict) or plan.get("version") != PLAN_VERSION:
        raise bad
    h, sites = plan.get("hash"), plan.get("sites")
    if not isinstance(h, str) or not 1 <= len(h) <= 64 or not isinstance(sites, dict) or len(sites) > PLAN_SITES:
        raise bad
    if not (isinstance(plan.get("slot_min"), int) and _number(plan["slot_min"], 5, 240)
            and _number(plan.get("busy_wait_min"), 0, 600)
            and isinstance(plan.get("busy_days"), int) and _number(plan["busy_days"], 1, 365)):
        raise bad
    out_sites: dict[str, Any] = {}
    for code, site in sites.items():
        if not 1 <= len(code) <= 64 or not isinstance(site, dict) or not isinstance(site.get("services"), dict):
            raise bad
        if not isinstance(site.get("day"), str) or not _DAY.match(site["day"]) or len(site["services"]) > PLAN_SERVICES:
            raise bad
        services: dict[str, Any] = {}
        for sv_code, sv in site["services"].items():
            if not 1 <= len(sv_code) <= 64 or not isinstance(sv, dict) or not _number(sv.get("rate"), 0, math.inf):
                raise bad
            waits = sv.get("waits")
            if not isinstance(waits, dict) or len(waits) > PLAN_WAITS or not all(
                    _HHMM.match(k) and _number(v, 0, math.inf) for k, v in waits.items()):
                raise bad
            services[sv_code] = {"rate": sv["rate"], "waits": dict(waits)}
        out_sites[code] = {"day": site["day"], "services": services}
    return {"version": PLAN_VERSION, "slot_min": plan["slot_min"], "busy_wait_min": plan["busy_wait_min"],
            "busy_days": plan["busy_days"], "sites": out_sites, "hash": h}


def store_plan(conn: Any, center: str, plan: Any, now: datetime) -> None:
    """Keep a center's booking plan (checked by `check_plan`) in place of the one it sent before."""
    plan = check_plan(plan)
    conn.execute("INSERT INTO hub_booking_plans (center, hash, plan, at) VALUES (%s, %s, %s, %s) ON CONFLICT (center) "
                 "DO UPDATE SET hash = excluded.hash, plan = excluded.plan, at = excluded.at",
                 (center, plan["hash"], json.dumps(plan), now))


def plan_hash(conn: Any, center: str) -> str | None:
    row = conn.execute("SELECT hash FROM hub_booking_plans WHERE center = %s", (center,)).fetchone()
    return row[0] if row else None


def site_plan(plan: Any, site: str, slot_min: int) -> dict[str, Any] | None:
    """One site's part of a stored plan, or None (no plan, no such site, or counted for another slot length
    than the labels': the labels' formula then, until the center's next plan)."""
    if not isinstance(plan, dict) or plan.get("slot_min") != slot_min or site not in (plan.get("sites") or {}):
        return None
    return {"busy_wait_min": plan["busy_wait_min"], **plan["sites"][site]}


def places(conn: Any, cfg: HubConfig, en: bool = False, center: str | None = None) -> list[Place]:
    """Every site of hub.toml's centers whose labels open bookings, with the center's plan when it sent one."""
    out = []
    known = {c.id: c for c in cfg.centers}
    sql = ("SELECT l.center, l.labels, p.plan FROM hub_labels l LEFT JOIN hub_booking_plans p ON p.center = l.center"
           + (" WHERE l.center = %s" if center else "") + " ORDER BY l.center")
    for cid, lab, plan in conn.execute(sql, (center,) if center else ()):
        b = lab.get("booking") if isinstance(lab, dict) else None
        if cid not in known or not isinstance(b, dict) or not b.get("enabled"):
            continue
        tz = ZoneInfo(str(lab.get("timezone") or cfg.timezone))
        site_hours = b.get("sites") or b.get("hours") or {}
        cname = str((lab.get("center_name_en") if en else None) or lab.get("center_name") or known[cid].name)
        for site in known[cid].sites:
            sh = site_hours.get(site) if isinstance(site_hours, dict) else None
            if not isinstance(sh, dict):
                continue
            hours_d = sh.get("hours", sh)
            default = _intervals(hours_d.get("default")) if isinstance(hours_d, dict) else []
            hours = {d: _intervals(hours_d[d]) if d in hours_d else default for d in WEEKDAYS}
            p = Place(cid, cname, site, _name((lab.get("sites") or {}).get(site) or {}, en, site), tz, b, hours,
                      {str(x) for x in sh.get("closed_dates") or []} if isinstance(sh, dict) else set())
            p.plan = site_plan(plan, site, p.slot_min)
            for code, sv in (b.get("services") or {}).items():
                n = _count(sv.get("counters"), site) if isinstance(sv, dict) else 0
                minutes = sv.get("handling_min") or sv.get("default_service_min") or sv.get("service_min") or 0
                named = (lab.get("services") or {}).get(code) or {}
                if n > 0 or p.rate(code) > 0:
                    p.services[code] = {"name": _name(named, en, code), "counters": n, "minutes": float(minutes)}
            p.services = {k: v for k, v in p.services.items() if p.rate(k) > 0}
            if p.services:
                out.append(p)
    return out


def place(conn: Any, cfg: HubConfig, key: str, en: bool = False) -> Place:
    center, _, site = (key or "").partition(":")
    found = [p for p in places(conn, cfg, en, center) if p.site == site] if center else []
    if not found:
        raise NotFound("Không có nơi nhận đặt lịch này", "No such place takes bookings", code="unknown_place")
    return found[0]


# A hub booking still holds its place unless the center's synced copy says it ended there (cancelled at the desk,
# no-show): `h` is the hub_bookings row.
_NOT_ENDED_THERE = ("NOT EXISTS (SELECT 1 FROM bookings e WHERE e.center = h.center AND e.code = h.code AND "
                    "e.status IN ('cancelled', 'no_show'))")


def _taken(conn: Any, p: Place, service: str, day: date) -> dict[datetime, int]:
    """Places taken per slot start: the hub's bookings and the center's own (desk, API) synced up. A hub booking
    the center cancelled (its desk) or marked no-show, as its synced copy says, gives its place back."""
    sql = ("SELECT slot_at, count(*) FROM (SELECT h.slot_at FROM hub_bookings h WHERE h.center = %(c)s AND "
           "h.site = %(s)s AND h.service = %(v)s AND h.service_day = %(d)s AND h.status = 'booked' AND "
           f"{_NOT_ENDED_THERE} UNION ALL SELECT b.slot_at "
           "FROM bookings b WHERE b.center = %(c)s AND b.site = %(s)s AND b.service = %(v)s AND "
           "b.service_day = %(d)s AND b.status IN ('booked', 'checked_in') AND NOT EXISTS (SELECT 1 "
           "FROM hub_bookings h WHERE h.center = b.center AND h.code = b.code)) x GROUP BY 1")
    return {r[0]: r[1] for r in conn.execute(sql, {"c": p.center, "s": p.site, "v": service, "d": day})}


def slots(conn: Any, p: Place, service: str, day: date, now: datetime) -> list[dict[str, Any]]:
    """Each slot still ahead on `day`: its start (UTC and local) and the places left."""
    taken = _taken(conn, p, service, day)
    out = []
    for t, cap in p.day_places(service, day):
        if t > now:
            out.append({"slot_at": to_iso(t), "time": t.astimezone(p.tz).strftime("%H:%M"), "capacity": cap,
                        "left": max(0, cap - taken.get(t, 0))})
    return out


def _lock(conn: Any, center: str) -> None:
    conn.execute("SELECT pg_advisory_xact_lock(7310010, hashtext(%s))", (center,))


def create(conn: Any, cfg: HubConfig, pepper: bytes, *, place_key: str, service: str, slot_at: str, name: str = "",
           phone: str = "", channel: str = "page", now: datetime) -> dict[str, Any]:
    """Book one place; Conflict (slot_full, per_person_cap) or Invalid with a message for the citizen."""
    p = place(conn, cfg, place_key)
    if service not in p.services:
        raise Invalid("Dịch vụ này không nhận đặt lịch tại đây", "This service takes no bookings here",
                      code="unknown_service")
    try:
        at = datetime.fromisoformat(str(slot_at).replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        raise Invalid("Khung giờ không hợp lệ", "Invalid time slot", code="bad_slot") from None
    day = at.astimezone(p.tz).date()
    if at not in p.slot_times(day, now) or day not in p.days(now):
        raise Invalid("Khung giờ này không còn nhận đặt lịch", "This time slot takes no bookings",
                      code="bad_slot")
    name = clean_text(name or "", "name", limit=100)
    hashed = phone_hash(pepper, phone) if phone or channel == "page" else None
    with conn.transaction():
        _lock(conn, p.center)
        cap = int(p.setting("per_person_per_day", 2))
        # the same citizen's bookings here and those made at the center's desk (synced up, hashed with this key)
        mine = conn.execute("SELECT (SELECT count(*) FROM hub_bookings h WHERE h.center = %s AND h.service_day = %s "
                            f"AND h.phone_hash = %s AND h.status = 'booked' AND {_NOT_ENDED_THERE}) + "
                            "(SELECT count(*) FROM bookings b WHERE b.center = %s AND b.service_day = %s AND "
                            "b.phone_hash = %s AND b.origin <> 'hub' AND b.status IN ('booked', 'checked_in'))",
                            (p.center, day, hashed, p.center, day, hashed)).fetchone()[0]
        if hashed and mine >= cap:
            raise Conflict(f"Mỗi người chỉ được đặt tối đa {cap} lịch hẹn mỗi ngày tại trung tâm này",
                           f"At most {cap} bookings per person per day at this center", code="per_person_cap")
        if _taken(conn, p, service, day).get(at, 0) >= dict(p.day_places(service, day))[at]:
            raise Conflict("Khung giờ này đã hết chỗ; vui lòng chọn giờ khác",
                           "This time slot is full; please choose another", code="slot_full")
        for _ in range(20):
            code = new_code()
            clash = conn.execute("SELECT 1 FROM hub_bookings WHERE code = %s UNION ALL SELECT 1 FROM bookings WHERE "
                                 "code = %s AND center = %s", (code, code, p.center)).fetchone()
            if not clash:
                break
        conn.execute("INSERT INTO hub_bookings (center, code, site, service, service_day, slot_at, slot_min, name, "
                     "phone_hash, channel, status, created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, "
                     "%s, %s, 'booked', %s, %s)", (p.center, code, p.site, service, day, at, p.slot_min, name or None,
                                                   hashed, channel, now, now))
    return lookup(conn, cfg, code)


def lookup(conn: Any, cfg: HubConfig, code: str, en: bool = False) -> dict[str, Any]:
    """A hub booking as the citizen and the API see it; its state at the center (kept, no-show) once synced."""
    code = clean_code(code)
    row = conn.execute("SELECT h.center, h.code, h.site, h.service, h.service_day, h.slot_at, h.slot_min, h.name, "
                       "h.status, h.created_at, h.cancelled_at, b.status, b.late, b.checked_in_at FROM hub_bookings h "
                       "LEFT JOIN bookings b ON b.center = h.center AND b.code = h.code WHERE h.code = %s",
                       (code,)).fetchone()
    if row is None:
        raise NotFound("Không tìm thấy lịch hẹn với mã này", "No booking with this code", code="unknown_booking")
    center, code, site, service, day, at, slot_min, name, status, created, cancelled, there, late, checked = row
    if status == "booked" and there in ("checked_in", "no_show", "cancelled"):
        status = there
    lab = conn.execute("SELECT labels FROM hub_labels WHERE center = %s", (center,)).fetchone()
    lab = lab[0] if lab else {}
    c = cfg.center(center)
    tz = ZoneInfo(str(lab.get("timezone") or cfg.timezone))
    return {"code": code, "center": center,
            "center_name": str((lab.get("center_name_en") if en else None) or lab.get("center_name")
                               or (c.name if c else center)),
            "site": site, "site_name": _name((lab.get("sites") or {}).get(site) or {}, en, site),
            "service": service, "service_name": _name((lab.get("services") or {}).get(service) or {}, en, service),
            "service_day": day.isoformat(), "slot_at": to_iso(at), "time": at.astimezone(tz).strftime("%H:%M"),
            "slot_min": slot_min, "name": name, "status": status, "late": bool(late) if late is not None else None,
            "created_at": to_iso(created), "cancelled_at": to_iso(cancelled) if cancelled else None,
            "checked_in_at": to_iso(checked) if isinstance(checked, datetime) else None}


def cancel(conn: Any, cfg: HubConfig, code: str, *, phone_hashed: str | None, now: datetime) -> dict[str, Any]:
    """Cancel a hub booking (the page checks the phone's hash, a system's token stands for it); the change takes
    a new `ver`, so it flows down to the center with its next push."""
    code = clean_code(code)
    center = conn.execute("SELECT center FROM hub_bookings WHERE code = %s", (code,)).fetchone()
    missing = NotFound("Không tìm thấy lịch hẹn với mã và số điện thoại này",
                       "No booking with this code and phone number", code="unknown_booking")
    if center is None:
        raise missing
    with conn.transaction():
        _lock(conn, center[0])
        row = conn.execute("SELECT h.status, h.phone_hash, b.status FROM hub_bookings h LEFT JOIN bookings b ON "
                           "b.center = h.center AND b.code = h.code WHERE h.code = %s FOR UPDATE OF h",
                           (code,)).fetchone()
        if phone_hashed is not None and not hmac.compare_digest(row[1] or "", phone_hashed):
            raise missing
        if row[0] == "cancelled" or row[2] == "cancelled":  # here, or at the center's desk (its synced copy)
            raise QueueError("Lịch hẹn này đã được hủy", "This booking is already cancelled", code="already_cancelled")
        if row[2] in ("checked_in", "no_show"):
            raise QueueError("Lịch hẹn này đã được sử dụng", "This booking has been used", code="booking_used")
        conn.execute("UPDATE hub_bookings SET status = 'cancelled', cancelled_at = %s, updated_at = %s, "
                     "ver = nextval('hub_booking_ver') WHERE code = %s", (now, now, code))
    return lookup(conn, cfg, code)


def down(conn: Any, center: str, mark: int) -> tuple[list[dict[str, Any]], int]:
    """The center's hub bookings changed past its mark (at most DOWN_LIMIT), as rows of its `bookings` table,
    and the new mark. Read under the center's lock: no change with a lower `ver` can still be uncommitted."""
    with conn.transaction():
        _lock(conn, center)
        rows = conn.execute("SELECT code, site, service, service_day, slot_at, slot_min, name, phone_hash, channel, "
                            "status, created_at, updated_at, cancelled_at, ver FROM hub_bookings WHERE center = %s "
                            "AND ver > %s ORDER BY ver LIMIT %s", (center, mark, DOWN_LIMIT)).fetchall()
    out = [{"code": r[0], "site": r[1], "service": r[2], "service_day": r[3].isoformat(), "slot_at": to_iso(r[4]),
            "slot_min": r[5], "name": r[6], "phone_hash": r[7], "origin": "hub",
            "status": r[9], "created_at": to_iso(r[10]), "updated_at": to_iso(r[11]),
            "cancelled_at": to_iso(r[12]) if r[12] else None} for r in rows]
    return out, (rows[-1][13] if rows else mark)


_purged_at: list[datetime] = []  # this process's last purge


def purge_if_due(conn: Any, now: datetime) -> int:
    """Erase the name and phone hash of hub bookings PURGE_AFTER_DAYS after their slot, at most hourly per process
    (the centers erase their copies the same way, and the erasure comes back up as a newer copy)."""
    if _purged_at and now - _purged_at[-1] < timedelta(hours=1):
        return 0
    _purged_at[:] = [now]
    cur = conn.execute("UPDATE hub_bookings SET name = NULL, phone_hash = NULL WHERE slot_at < %s AND (name IS NOT "
                       "NULL OR phone_hash IS NOT NULL)", (now - timedelta(days=PURGE_AFTER_DAYS),))
    return max(cur.rowcount, 0)


def rate_ok(conn: Any, addr: str, kind: str, limit: int) -> bool:
    """Count this request against its address's minute; False past `limit`. Old minutes are swept as they go."""
    n = conn.execute("INSERT INTO hub_rate (addr, minute, n) VALUES (%s, date_trunc('minute', now()), 1) ON CONFLICT "
                     "(addr, minute) DO UPDATE SET n = hub_rate.n + 1 RETURNING n", (f"{kind}:{addr}",)).fetchone()[0]
    if n == 1:
        conn.execute("DELETE FROM hub_rate WHERE minute < now() - interval '5 minutes'")
    return n <= limit
