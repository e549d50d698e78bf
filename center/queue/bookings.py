"""Bookings (issue 17): a citizen reserves a time slot (on the province hub's page, at the desk or through the
API) and checks in at the kiosk with a short code; the ticket is then called as if it had arrived a little
before its slot (`queue_at` = the slot's start − `lead_min`, configurable; 0 = at the slot's start), and
center/queue/policy.py's fair merge keeps bookings from crowding out walk-ins. Each operation is one short
write transaction, like the engine's, which inherits these.

Personal data: a name (optional, shown to the desk) and a hash of the phone number (the per-person cap per
day; never the number), both erased PURGE_AFTER_DAYS after the slot by the engine's housekeeping.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import math
import re
import secrets
import sqlite3
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from ..config.model import Site
from ..contract.booking import ALPHABET, CODE_LEN, new_code, normal_code, normal_phone, phone_hash  # noqa: F401 - one rule
from ..errors import Conflict, Invalid, NotFound, clean_text
from ..storage.secret import booking_key
from . import code_limits
from .actors import SYSTEM, Actor
from .clock import _intervals, from_iso, opening_state, service_day, to_iso
from .events import Event
from .issuing import closed_error, take_issue_token
from .journal import log_ticket
from .policy import Me

PURGE_AFTER_DAYS = 7  # name and phone hash are erased this many days after the slot
NAME_MAX = 100
PLAN_VERSION = 1  # the booking plan's shape (`Bookings.booking_plan`, checked at the hub by center/hub/booking.py)
BUSY_MIN_TICKETS = 5  # walk-ins at a slot's time of day needed before their measured wait closes places
ORIGINS = ("hub", "desk", "api")
_CODE_RE = re.compile(f"^[{ALPHABET}]{{{CODE_LEN}}}$")


def receive_from_hub(conn: sqlite3.Connection, rows: list[dict[str, Any]]) -> int:
    """Bookings coming down from the hub, inside the caller's write transaction: a new code is inserted (origin
    'hub'); of a known one only a cancellation is taken (booked → cancelled), so a booking the center already
    checked in or marked no-show keeps its state. Returns the rows written."""
    written = 0
    for r in rows:
        code = str(r.get("code") or "")
        if not _CODE_RE.match(code):
            continue
        known = conn.execute("SELECT status FROM bookings WHERE code = ?", (code,)).fetchone()
        if known is None:
            conn.execute(
                "INSERT INTO bookings (code, site, service, service_day, slot_at, slot_min, name, phone_hash, origin, "
                "status, created_at, updated_at, cancelled_at) VALUES (?,?,?,?,?,?,?,?, 'hub', ?,?,?,?)",
                (code, r["site"], r["service"], r["service_day"], r["slot_at"], int(r["slot_min"]), r.get("name"),
                 r.get("phone_hash"), "cancelled" if r.get("status") == "cancelled" else "booked",
                 r.get("created_at") or r["slot_at"], r.get("updated_at") or r.get("created_at") or r["slot_at"],
                 r.get("cancelled_at")))
            written += 1
        elif known["status"] == "booked" and r.get("status") == "cancelled":
            at = r.get("cancelled_at") or r.get("updated_at")
            conn.execute("UPDATE bookings SET status = 'cancelled', cancelled_at = ?, updated_at = ? WHERE code = ?",
                         (at, r.get("updated_at") or at, code))
            written += 1
    return written


def _view(row: sqlite3.Row | dict[str, Any], *, private: bool) -> dict[str, Any]:
    """A booking as the API shows it: never the phone hash; the name only to staff."""
    r = dict(row)
    out = {k: r[k] for k in ("code", "site", "service", "service_day", "slot_at", "slot_min", "origin", "status",
                             "ticket_id", "created_at", "updated_at", "cancelled_at", "checked_in_at")}
    out["late"] = bool(r["late"])
    if private:
        out["name"] = r["name"]
    return out



def places_in_slot(per_slot: float, index: int) -> int:
    """Whole places of a day's slot number `index` when slots hold `per_slot` people on average: the remainder
    is carried from slot to slot (0.75 gives 1, 1, 1, 0, …), where rounding each slot down would give a service
    with less than one place a slot none at all. The hub offers slots by the same rule (center/hub/booking.py)."""
    return math.floor((index + 1) * per_slot + 1e-9) - math.floor(index * per_slot + 1e-9)


def places_in_slots(rates: Sequence[float]) -> list[int]:
    """Whole places of each of a day's slots when slot i holds `rates[i]` people on average, the remainder
    carried from slot to slot as in `places_in_slot` (with one rate for every slot, the same places: a sum of
    equal rates, correctly rounded by `math.fsum`, is the product `places_in_slot` takes). A busy slot's rate
    of 0 carries the remainder on to the next open one."""
    out, before = [], 0
    for i in range(len(rates)):
        upto = math.floor(math.fsum(rates[:i + 1]) + 1e-9)
        out.append(upto - before)
        before = upto
    return out


def busy_factor(wait_min: float | None, limit_min: float) -> float:
    """The share of a slot's places opened when walk-ins usually wait `wait_min` at that time of day: all of
    them up to `limit_min`, none from twice that, in proportion between (a slot a little past the limit keeps
    some places; 0 = the rule is off, as is a slot with no measured wait)."""
    if not limit_min or wait_min is None or wait_min <= limit_min:
        return 1.0
    return max(0.0, 2 - wait_min / limit_min)


def slot_places(rate: float, waits: Sequence[float | None], limit_min: float) -> list[int]:
    """Whole places of each of a day's slots: `rate` people a slot on average, × `busy_factor` of the walk-ins'
    measured wait at that slot's time of day (`waits`, one per slot, None where nobody measured), the remainder
    carried by `places_in_slots`. The center's `day_places` and the hub's page (center/hub/booking.py, from the
    center's plan: `Bookings.booking_plan`) both count places with it."""
    return places_in_slots([rate * busy_factor(w, limit_min) for w in waits])


def hhmm(minute: int) -> str:
    """A slot's start, minutes after local midnight, as the plan names it ("09:30")."""
    return f"{minute // 60:02d}:{minute % 60:02d}"


class Bookings:
    """The engine's booking operations (a mixin: `Engine` provides the store, config, clock and queue parts)."""

    # ------------------------------------------------------------------ slots

    def _booking_conf(self) -> Any:
        return self.config.booking  # type: ignore[attr-defined]

    def _handling_s(self, conn: sqlite3.Connection, site: Site, service: str) -> float:
        """The service's measured handling time (call to end, the last 30 in 14 days), else its default."""
        since = to_iso(self.clock() - timedelta(days=14))  # type: ignore[attr-defined]
        row = conn.execute(
            "SELECT avg(h), count(*) FROM (SELECT (julianday(ended_at) - julianday(last_called_at)) * 86400 AS h "
            "FROM tickets WHERE site = ? AND service = ? AND status IN ('served', 'no_show') AND ended_at > ? "
            "AND last_called_at IS NOT NULL ORDER BY ended_at DESC LIMIT 30)", (site.code, service, since)).fetchone()
        if row[1] >= 5 and row[0] and row[0] > 0:
            return float(row[0])
        return self.config.services[service].default_service_min * 60  # type: ignore[attr-defined]

    def slot_rate(self, conn: sqlite3.Connection, site: Site, service: str) -> float:
        """People per slot on average: the configured override, else counters serving the service × slot ÷
        handling time × the share open to bookings. `places_in_slot` makes whole places of it."""
        b = self._booking_conf()
        if service in b.capacity:
            return float(b.capacity[service])
        counters = sum(1 for c in site.counters if service in c.services)
        return counters * b.slot_min * 60 / self._handling_s(conn, site, service) * b.share

    def busy_waits(self, conn: sqlite3.Connection, site: Site, service: str,
                   starts: Sequence[int]) -> dict[int, float]:
        """Walk-ins' measured mean wait (minutes) in each slot of a day, by its start (minutes after midnight,
        `starts` in order), over the `busy_days` days before today: those who took a ticket within that slot's
        time of day (every day the site was open), first call − issue, or until they left or were cancelled at
        closing when never called. Slots with fewer than BUSY_MIN_TICKETS walk-ins are left out (no evidence);
        bookings and transfers are not walk-ins' waits. Kept for the day: it reads only past days."""
        b = self._booking_conf()
        today = self.today(site, self.clock())  # type: ignore[attr-defined]
        key = (site.code, service, today, b.slot_min, b.busy_days, tuple(starts))
        cache = self.__dict__.setdefault("_busy_cache", {})
        if key in cache:
            return cache[key]
        since = (date.fromisoformat(today) - timedelta(days=b.busy_days)).isoformat()
        tz = self.config.tz  # type: ignore[attr-defined]
        sums: dict[int, list[float]] = {}
        for issued, wait_s in conn.execute(
                "SELECT issued_at, coalesce(wait_s, (julianday(ended_at) - julianday(issued_at)) * 86400) "
                "FROM tickets WHERE service_day >= ? AND service_day < ? AND site = ? AND service = ? "
                "AND booking IS NULL AND transferred_from IS NULL "
                "AND status NOT IN ('waiting', 'called', 'serving')", (since, today, site.code, service)):
            if wait_s is None:
                continue
            local = from_iso(issued).astimezone(tz)
            minute = local.hour * 60 + local.minute
            i = bisect.bisect_right(starts, minute) - 1
            if i < 0 or minute >= starts[i] + b.slot_min:
                continue  # outside every slot of the day (before opening, a break)
            acc = sums.setdefault(starts[i], [0.0, 0])
            acc[0] += max(0.0, wait_s)
            acc[1] += 1
        out = {start: total / n / 60 for start, (total, n) in sums.items() if n >= BUSY_MIN_TICKETS}
        if len(cache) > 256:
            cache.clear()
        cache[key] = out
        return out

    def day_places(self, conn: sqlite3.Connection, site: Site, service: str,
                   local_day: date) -> list[tuple[datetime, int, float | None]]:
        """Each slot of a day: its start, its whole places and the walk-ins' measured wait at that time of day.
        A slot's rate is `slot_rate` × `busy_factor` of that wait: a booking is promised only where it can be
        called soon after its slot, the others stay for walk-ins (BENCHMARKS.md, "Bookings in a busy day")."""
        b = self._booking_conf()
        rate = self.slot_rate(conn, site, service)
        starts = self._slot_starts(site, local_day)
        minutes = [s.hour * 60 + s.minute for s in starts]
        waits = self.busy_waits(conn, site, service, minutes) if b.busy_wait_min and starts else {}
        seen = [waits.get(m) for m in minutes]
        places = slot_places(rate, seen, b.busy_wait_min)
        return list(zip(starts, places, seen, strict=True))

    def booking_plan(self, conn: sqlite3.Connection) -> dict[str, Any]:
        """What the province hub needs to offer each slot exactly the places `day_places` gives here: per site
        and service the measured `slot_rate`, and the walk-ins' measured wait by slot start (`busy_waits`,
        "HH:MM" local), with the settings `slot_places` takes; `hash` names the contents. The link sends it
        when the hub holds another hash (center/sync/link.py); the hub counts with `slot_places` on it.

        A slot's measured wait depends only on its own start (the tickets issued within it), not on the day's
        other slots: the waits of every weekday's slot starts are merged into one table per service."""
        b = self._booking_conf()
        config = self.config  # type: ignore[attr-defined]
        sites: dict[str, Any] = {}
        for site in config.sites.values():
            today = date.fromisoformat(self.today(site, self.clock()))  # type: ignore[attr-defined]
            weeks = {tuple(s.hour * 60 + s.minute for s in self._slot_starts(site, today + timedelta(days=i)))
                     for i in range(7)}
            services: dict[str, Any] = {}
            for code in site.services:
                waits: dict[int, float] = {}
                for minutes in sorted(w for w in weeks if w):
                    if b.busy_wait_min:
                        waits.update(self.busy_waits(conn, site, code, minutes))
                services[code] = {"rate": self.slot_rate(conn, site, code),
                                  "waits": {hhmm(m): w for m, w in sorted(waits.items())}}
            sites[site.code] = {"day": today.isoformat(), "services": services}
        body = {"version": PLAN_VERSION, "slot_min": b.slot_min, "busy_wait_min": b.busy_wait_min,
                "busy_days": b.busy_days, "sites": sites}
        return {**body, "hash": hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:32]}

    def _slot_starts(self, site: Site, day: date) -> list[datetime]:
        """Slot starts (aware, local) of a day's opening intervals: whole slots only."""
        step = timedelta(minutes=self._booking_conf().slot_min)
        tz = self.config.tz  # type: ignore[attr-defined]
        out = []
        for s, e in _intervals(site, day):
            t = s
            while t + step <= e:
                out.append(t.replace(tzinfo=tz))
                t += step
        return out

    def slots(self, site_code: str, service_code: str, day: str) -> list[dict[str, Any]]:
        """Each slot of a day with its capacity and the places taken (booked or checked in)."""
        site = self.served_here(self.site(site_code))  # type: ignore[attr-defined]
        service = self.service(site, service_code)  # type: ignore[attr-defined]
        try:
            local_day = date.fromisoformat(day)
        except (TypeError, ValueError):
            raise Invalid("Ngày không hợp lệ (YYYY-MM-DD)", "day must be YYYY-MM-DD", code="bad_field",
                          field="day") from None
        now = self.clock()  # type: ignore[attr-defined]
        with self.store.read() as conn:  # type: ignore[attr-defined]
            places = self.day_places(conn, site, service.code, local_day)
            taken = dict(conn.execute(
                "SELECT slot_at, count(*) FROM bookings WHERE site = ? AND service_day = ? AND service = ? "
                "AND status IN ('booked', 'checked_in') GROUP BY slot_at", (site.code, day, service.code)).fetchall())
        out = []
        for start, capacity, wait in places:
            iso = to_iso(start)
            booked = taken.get(iso, 0)
            out.append({"slot_at": iso, "time": start.strftime("%H:%M"), "capacity": capacity, "booked": booked,
                        "free": max(0, capacity - booked),
                        "walkin_wait_min": None if wait is None else round(wait, 1),
                        "past": start + timedelta(minutes=self._booking_conf().slot_min) <= now})
        return out

    # ------------------------------------------------------------------ booking

    def book(self, site_code: str, service_code: str, slot_at: str, *, name: str | None = None,
             phone: str | None = None, origin: str = "desk", actor: Actor = SYSTEM) -> dict[str, Any]:
        """Book a slot at the desk or through the API; returns the booking (with its code)."""
        b = self._booking_conf()
        if not b.enabled:
            raise Conflict("Trung tâm chưa mở đặt lịch", "This center does not take bookings", code="booking_disabled")
        if origin not in ("desk", "api"):
            raise Invalid("Nguồn đặt lịch không hợp lệ", "origin must be desk or api", code="bad_field", field="origin")
        site = self.served_here(self.site(site_code))  # type: ignore[attr-defined]
        service = self.service(site, service_code)  # type: ignore[attr-defined]
        tz = self.config.tz  # type: ignore[attr-defined]
        try:
            start = from_iso(str(slot_at))
            if start.tzinfo is None or not 2000 <= start.year <= 9000:
                raise ValueError(slot_at)
        except (TypeError, ValueError, OverflowError):
            raise Invalid("Giờ hẹn không hợp lệ", "slot_at must be the start of a slot (ISO 8601 with its offset)",
                          code="slot_closed", field="slot_at") from None
        now = self.clock()  # type: ignore[attr-defined]
        day = service_day(start, site, tz)
        local_day = start.astimezone(tz).date()
        if start + timedelta(minutes=b.slot_min) <= now:
            raise Invalid("Khung giờ này đã qua", "That slot is past", code="slot_past", field="slot_at")
        if local_day > now.astimezone(tz).date() + timedelta(days=b.days_ahead):
            raise Invalid(f"Chỉ đặt lịch trước tối đa {b.days_ahead} ngày",
                          f"Bookings open {b.days_ahead} days ahead", code="too_far_ahead", field="slot_at")
        if start not in self._slot_starts(site, local_day) or not opening_state(start, site, tz).issuing:
            raise Invalid("Ngoài giờ làm việc hoặc không phải đầu một khung giờ", "Not the start of an open slot",
                          code="slot_closed", field="slot_at")
        name = (clean_text(name, "name", limit=NAME_MAX) or None) if name is not None else None
        hashed = phone_hash(booking_key(self.store.path), phone) if phone else None  # type: ignore[attr-defined]
        iso, start_iso = to_iso(now), to_iso(start)
        with self.store.write() as conn:  # type: ignore[attr-defined]
            capacity = next(n for t, n, _w in self.day_places(conn, site, service.code, local_day) if t == start)
            taken = conn.execute("SELECT count(*) FROM bookings WHERE site = ? AND service_day = ? AND service = ? "
                                 "AND slot_at = ? AND status IN ('booked', 'checked_in')",
                                 (site.code, day, service.code, start_iso)).fetchone()[0]
            if taken >= capacity:
                raise Conflict("Khung giờ này đã hết chỗ", "That slot is full", code="slot_full")
            if hashed and conn.execute(
                    "SELECT count(*) FROM bookings WHERE service_day = ? AND phone_hash = ? AND status IN "
                    "('booked', 'checked_in')", (day, hashed)).fetchone()[0] >= b.per_person_per_day:
                raise Conflict(f"Mỗi người chỉ được đặt tối đa {b.per_person_per_day} lịch mỗi ngày",
                               f"At most {b.per_person_per_day} bookings per person and day", code="per_person_cap")
            while True:
                code = new_code()
                row = conn.execute(
                    "INSERT OR IGNORE INTO bookings (code, site, service, service_day, slot_at, slot_min, name, "
                    "phone_hash, origin, status, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?, 'booked', ?, ?) "
                    "RETURNING *", (code, site.code, service.code, day, start_iso, b.slot_min, name, hashed, origin,
                                    iso, iso)).fetchone()
                if row is not None:
                    break
        return _view(row, private=True)

    def lookup(self, code: str, *, private: bool = True) -> dict[str, Any]:
        with self.store.read() as conn:  # type: ignore[attr-defined]
            row = conn.execute("SELECT * FROM bookings WHERE code = ?", (normal_code(code),)).fetchone()
            if row is None:
                raise NotFound("Không có lịch hẹn với mã này", "No booking with that code", code="unknown_booking")
            view = _view(row, private=private)
            if row["ticket_id"]:
                t = conn.execute("SELECT number, status FROM tickets WHERE id = ?", (row["ticket_id"],)).fetchone()
                view["ticket"] = {"id": row["ticket_id"], "number": t["number"], "status": t["status"]} if t else None
        return view

    def cancel(self, code: str, actor: Actor = SYSTEM) -> dict[str, Any]:
        """Cancel a booking not yet used; the place returns to the slot."""
        code = normal_code(code)
        iso = to_iso(self.clock())  # type: ignore[attr-defined]
        with self.store.write() as conn:  # type: ignore[attr-defined]
            row = conn.execute("UPDATE bookings SET status = 'cancelled', cancelled_at = ?, updated_at = ? "
                               "WHERE code = ? AND status = 'booked' RETURNING *", (iso, iso, code)).fetchone()
            if row is None:
                known = conn.execute("SELECT status FROM bookings WHERE code = ?", (code,)).fetchone()
                if known is None:
                    raise NotFound("Không có lịch hẹn với mã này", "No booking with that code", code="unknown_booking")
                raise Conflict(f"Lịch hẹn đã ở trạng thái {_STATUS_VI[known['status']]}",
                               f"The booking is {known['status']}", code="wrong_status", status_now=known["status"])
        return _view(row, private=True)

    # ------------------------------------------------------------------ check-in

    def check_in(self, code: str, actor: Actor = SYSTEM, *, site_code: str | None = None, source: str = "kiosk",
                 kiosk: str | None = None) -> dict[str, Any]:
        """The citizen arrived: a ticket whose queue time is the slot's start (called as if they had come then;
        early, the ticket says from when), or, later than the grace, an ordinary walk-in ticket (`late`)."""
        b = self._booking_conf()
        now = self.clock()  # type: ignore[attr-defined]
        with self.store.read() as conn:  # type: ignore[attr-defined]
            code_limits.refuse_if_paused(conn, site_code, actor.name, now)  # a pause refuses before any look-up
        code = normal_code(code)
        iso = to_iso(now)
        tz = self.config.tz  # type: ignore[attr-defined]
        with self.store.read() as conn:  # type: ignore[attr-defined]
            found = conn.execute("SELECT * FROM bookings WHERE code = ?", (code,)).fetchone()
        if found is None or (site_code is not None and found["site"] != site_code):
            with self.store.write() as conn:  # type: ignore[attr-defined]
                pause = code_limits.count_wrong(conn, site_code, actor, now)
            vi, en = "Không có lịch hẹn với mã này tại điểm tiếp nhận này", "No booking with that code at this site"
            if pause is not None:  # this wrong code started a pause: the next one is refused, say so now
                paused = code_limits.too_many(pause)
                raise NotFound(f"{vi}. {paused.message}", f"{en}. {paused.message_en}", code="unknown_booking",
                               retry_after=paused.details["retry_after"])
            raise NotFound(vi, en, code="unknown_booking")
        site = self.served_here(self.site(found["site"]))  # type: ignore[attr-defined]
        service = self.service(site, found["service"])  # type: ignore[attr-defined]
        start = from_iso(found["slot_at"])
        if now < start - timedelta(minutes=b.early_min):
            when = (start - timedelta(minutes=b.early_min)).astimezone(tz)
            raise Conflict(f"Còn sớm — mời quay lại từ {when:%H:%M} ngày {when:%d/%m/%Y} (hẹn lúc "
                           f"{start.astimezone(tz):%H:%M})", f"Too early: please come back from {when:%H:%M} "
                           f"on {when:%d/%m/%Y}", code="too_early", come_from=to_iso(when))
        state = opening_state(now, site, tz)
        if not state.issuing:
            raise closed_error(site, state)
        late = now > start + timedelta(minutes=b.grace_min)
        day = self.today(site, now)  # type: ignore[attr-defined]
        queue_at = iso if late else to_iso(start - timedelta(minutes=b.lead_min))
        with self.store.write() as conn:  # type: ignore[attr-defined]
            row = conn.execute("SELECT * FROM bookings WHERE code = ?", (code,)).fetchone()
            if row["status"] != "booked":
                detail = {}
                if row["ticket_id"]:
                    t = conn.execute("SELECT number FROM tickets WHERE id = ?", (row["ticket_id"],)).fetchone()
                    detail["number"] = t["number"] if t else None
                raise Conflict(f"Lịch hẹn đã ở trạng thái {_STATUS_VI[row['status']]}",
                               f"The booking is {row['status']}", code="wrong_status", status_now=row["status"],
                               **detail)
            if actor.role == "kiosk":
                take_issue_token(conn, actor.name, now)
            code_limits.forget_caller(conn, site_code, actor.name)
            ticket = self._booked_ticket(conn, site, service.code, day, iso, queue_at, None if late else code,
                                         source, kiosk or actor.name, actor, now)
            conn.execute("UPDATE bookings SET status = 'checked_in', ticket_id = ?, late = ?, checked_in_at = ?, "
                         "updated_at = ? WHERE code = ?", (ticket["id"], int(late), iso, iso, code))
        self._newcomers.pop(site.code, None)  # type: ignore[attr-defined]  # it may join ahead of others
        self._after([Event("ticket.issued", site.code, self.ticket_view(ticket))], {site.code})  # type: ignore
        view = self.get_ticket(ticket["id"], private=True)  # type: ignore[attr-defined]
        local = start.astimezone(tz)
        early = not late and now < start
        view["booking"] = {"code": code, "slot_at": found["slot_at"], "late": late,
                           "called_from": f"{local:%H:%M}" if early else None}
        if late:
            view["booking_note"] = "ĐẶT LỊCH – đến muộn – xếp như khách không đặt lịch"
            view["booking_note_en"] = "BOOKED – late – queued as a walk-in"
        elif early:
            view["booking_note"] = f"ĐẶT LỊCH – được gọi từ {local:%H:%M}"
            view["booking_note_en"] = f"BOOKED – called from {local:%H:%M}"
        else:
            view["booking_note"], view["booking_note_en"] = "ĐẶT LỊCH", "BOOKED"
        if not late:
            # The one line a booked citizen needs: when they are called. Not a walk-in's wait, nor "no counter
            # open" (the kiosk said both: "Chưa có quầy mở…" above "Thời gian chờ dự kiến: dưới 5 phút").
            view["booking_wait"] = (f"Giờ hẹn {local:%H:%M} – Ông/Bà được gọi từ {local:%H:%M}" if early
                                    else f"Giờ hẹn {local:%H:%M} – Ông/Bà sẽ được gọi sớm")
            view["booking_wait_en"] = (f"Booked for {local:%H:%M} – you are called from {local:%H:%M}" if early
                                       else f"Booked for {local:%H:%M} – you will be called soon")
        return view

    def _booked_ticket(self, conn: sqlite3.Connection, site: Site, service: str, day: str, iso: str, queue_at: str,
                       booking: str | None, source: str, device: str, actor: Actor, now: datetime) -> dict[str, Any]:
        """The ticket of a check-in, numbered like any other of its service (a booking is never refused by the
        daily cap: its place was promised)."""
        seq = conn.execute(
            "INSERT INTO day_sequences (site, service, service_day, last_seq) VALUES (?,?,?,1) "
            "ON CONFLICT(site, service, service_day) DO UPDATE SET last_seq = last_seq + 1 "
            "RETURNING last_seq", (site.code, service, day)).fetchone()[0]
        number = self.config.number_format(site.code, service).format(seq)  # type: ignore[attr-defined]
        ticket_id = conn.execute("SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'tickets'), 0) "
                                 "+ 1").fetchone()[0]
        ahead = None
        if booking is None:  # late: a walk-in joining now, last of every line
            ahead = self._ahead_of_newcomer(conn, site, day, Me(ticket_id, service, False, None, iso), now)  # type: ignore
        row = conn.execute(
            "INSERT INTO tickets (id, visit_id, public_id, site, service, service_day, seq, number, source, device, "
            "status, issued_at, queue_at, ahead_at_issue, booking) VALUES (?,?,?,?,?,?,?,?,?,?, 'waiting', ?,?,?,?) "
            "RETURNING *", (ticket_id, ticket_id, secrets.token_urlsafe(12), site.code, service, day, seq, number,
                            source if source in ("kiosk", "desk", "api") else "api", device, iso, queue_at, ahead,
                            booking)).fetchone()
        if booking is not None:  # its place depends on its slot: counted now that it is in the queue
            ahead = self._ahead(conn, row)  # type: ignore[attr-defined]
            row = conn.execute("UPDATE tickets SET ahead_at_issue = ? WHERE id = ? RETURNING *",
                               (ahead, ticket_id)).fetchone()
        log_ticket(conn, ticket_id, iso, "issued", site.code, None, actor.name,
                   {"source": source, "booking": booking, "ahead": ahead, "kiosk": device})
        return dict(row)

    # ------------------------------------------------------------------ housekeeping

    def expire_bookings(self, site: Site, now: datetime) -> int:
        """Unused bookings become no-shows once their slot and the grace are over (the place is released);
        names and phone hashes are erased PURGE_AFTER_DAYS after the slot. Reads first: housekeeping runs
        every few seconds and most runs find nothing to write."""
        grace = self._booking_conf().grace_min
        iso = to_iso(now)
        purge_day = (now.astimezone(self.config.tz).date() - timedelta(days=PURGE_AFTER_DAYS)).isoformat()  # type: ignore
        expired = ("site = ? AND status = 'booked' AND service_day <= ? AND "
                   "julianday(slot_at) + (slot_min + ?) / 1440.0 < julianday(?)")
        purge = "site = ? AND service_day < ? AND (name IS NOT NULL OR phone_hash IS NOT NULL)"
        today = self.today(site, now)  # type: ignore[attr-defined]
        with self.store.connection() as conn:  # type: ignore[attr-defined]
            due = conn.execute(f"SELECT (SELECT count(*) FROM bookings WHERE {expired}) + "  # noqa: S608
                               f"(SELECT count(*) FROM bookings WHERE {purge})",
                               (site.code, today, grace, iso, site.code, purge_day)).fetchone()[0]
        if not due:
            return 0
        with self.store.write() as conn:  # type: ignore[attr-defined]
            n = conn.execute(f"UPDATE bookings SET status = 'no_show', updated_at = ? WHERE {expired}",  # noqa: S608
                             (iso, site.code, today, grace, iso)).rowcount
            conn.execute(f"UPDATE bookings SET name = NULL, phone_hash = NULL, updated_at = ? WHERE {purge}",  # noqa: S608
                         (iso, site.code, purge_day))
        return n


_STATUS_VI = {"booked": "đã đặt", "cancelled": "đã hủy", "checked_in": "đã đến lấy số", "no_show": "không đến"}


class Planner(Bookings):
    """`Bookings`' counting of places on a config and a clock, without an engine: the center's link to the hub
    builds the booking plan with it (`booking_plan`, on the caller's connection)."""

    def __init__(self, config: Any, clock: Any):
        self.config, self.clock = config, clock

    def today(self, site: Site, now: datetime | None = None) -> str:
        return service_day(now or self.clock(), site, self.config.tz)
