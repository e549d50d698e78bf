"""The queue engine: every ticket and counter operation as one short SQLite write transaction.

It knows nothing of Flask or Socket.IO. Each operation runs inside `Store.write()` (BEGIN IMMEDIATE),
so numbering and calling are atomic across threads and processes; the events it produces are handed
to `publish` only after the commit, so no screen ever shows something the database does not hold.

Here are the ticket's operations; `Engine` inherits the rest, each part in its own module: the counter's
operations (seats.py), bookings and their check-in (bookings.py), the read models and the events built from
them (views.py), people ahead and the estimate's inputs (waits.py), lookups and `sync_config` (sites.py).
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from ..config.model import Config, Counter
from ..errors import Conflict, Invalid, NotFound, clean_text
from ..storage.outbox import own_id
from ..storage.store import Store
from .actors import SYSTEM, Actor
from .bookings import Bookings
from .clock import Clock, from_iso, opening_state, service_day, system_clock, to_iso, vn_date
from .estimate import with_range
from .events import Event, Publisher
from .issuing import closed_error, prior_request, remember_request, take_issue_token
from .journal import log_ticket
from .policy import Me
from .procedures import parse_procedures, time_procedures
from .seats import Seats
from .waits import _Newcomers


class Engine(Bookings, Seats):
    def __init__(self, store: Store, config: Config, *, clock: Clock = system_clock,
                 publish: Publisher | None = None):
        self.store = store
        self.config = config
        self.clock = clock
        self.publish: Publisher = publish or (lambda events: None)
        # site -> ((day, counters' statuses), monotonic time, estimate by service)
        self._estimates: dict[str, tuple[tuple[str, tuple[str, ...]], float, dict[str, int | None]]] = {}
        self._newcomers: dict[str, _Newcomers] = {}  # site -> replays reused while only tickets are issued
        self._ahead_sql: dict[tuple, tuple] = {}  # (site, service, priority, counters) -> people-ahead SQL
        self.sync_config()

    def record_print(self, ticket: dict[str, Any], ok: bool, by: str, data: dict[str, Any]) -> str:
        """A print attempt's outcome on the ticket's history (`printed` / `print_failed`), in one short write
        transaction; returns when (ISO). No event: center/output/printing.py tells staff when a printer changes."""
        now = to_iso(self.clock())
        with self.store.write() as conn:
            log_ticket(conn, ticket["id"], now, "printed" if ok else "print_failed", ticket["site"], None, by, data)
        return now

    # ------------------------------------------------------------------ issuing

    def issue(self, site_code: str, service_code: str, *, priority: str | None = None,
              source: str = "api", actor: Actor = SYSTEM, kiosk: str | None = None,
              request_id: str | None = None) -> dict[str, Any]:
        """Issue the next number of a service; returns the ticket with people ahead and estimated wait.

        A kiosk device is limited (KIOSK_BURST, then one per KIOSK_REFILL_S) whatever route it calls, and a
        `request_id` the caller sent before returns the ticket it made (marked `repeated`) instead of a
        second one. Both live in the database, inside the issue's own transaction, so every server process
        sees them and a refused issue costs nothing.
        """
        site = self.served_here(self.site(site_code))
        service = self.service(site, service_code)
        if priority is not None:
            if not isinstance(priority, str) or self.config.priority_group(priority) is None:
                raise Invalid(f"Nhóm ưu tiên '{priority}' không có trong danh sách",
                              f"Unknown priority group '{priority}'", code="unknown_priority")
            if not service.allow_priority:
                raise Invalid(f"Dịch vụ {service.name} không áp dụng ưu tiên",
                              f"Service {service.name_en} takes no priority tickets", code="priority_not_allowed")
        if source not in ("kiosk", "desk", "api"):
            raise Invalid("Nguồn cấp số không hợp lệ", "source must be kiosk, desk or api", code="bad_source")
        now = self.clock()
        state = opening_state(now, site, self.config.tz)
        if not state.issuing:
            raise closed_error(site, state)
        day = self.today(site, now)
        fmt = self.config.number_format(site.code, service.code)
        iso = to_iso(now)
        # The estimate replays the queue as it is just before this ticket joins; done before taking the
        # write lock so that other counters and kiosks never wait for it.
        estimate = self._newcomer_estimate(site, day, service.code, priority is not None, now)
        with self.store.write() as conn:
            if request_id is not None:
                prior = prior_request(conn, actor.name, request_id, now)
                if prior is not None:
                    view = self.ticket_view(prior, private=True)
                    view.update({"ahead": prior["ahead_at_issue"], "estimated_wait_s": prior["estimated_wait_s"],
                                 "repeated": True})
                    return view
            if actor.role == "kiosk":
                take_issue_token(conn, actor.name, now)
            seq = conn.execute(
                "INSERT INTO day_sequences (site, service, service_day, last_seq) VALUES (?,?,?,1) "
                "ON CONFLICT(site, service, service_day) DO UPDATE SET last_seq = last_seq + 1 "
                "RETURNING last_seq", (site.code, service.code, day)).fetchone()[0]
            if service.daily_cap and seq > service.daily_cap:
                raise Conflict(f"Dịch vụ {service.name} đã hết số hôm nay ({service.daily_cap} số)",
                               f"{service.name_en} has reached today's limit of {service.daily_cap} tickets",
                               code="daily_cap_reached")
            # The id is taken here (the write lock is held) so that one INSERT stores the people ahead and the
            # visit it starts (itself): every index of the table is written once, not twice.
            ticket_id = conn.execute("SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'tickets'), 0) "
                                     "+ 1").fetchone()[0]
            ahead = self._ahead_of_newcomer(conn, site, day, Me(ticket_id, service.code, priority is not None,
                                                                 None, iso), now)
            row = dict(conn.execute(
                "INSERT INTO tickets (id, visit_id, public_id, site, service, service_day, seq, number, priority, "
                "source, device, status, issued_at, queue_at, ahead_at_issue, estimated_wait_s) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?, 'waiting', ?,?,?,?) RETURNING *",
                (ticket_id, ticket_id, secrets.token_urlsafe(12), site.code, service.code, day, seq, fmt.format(seq),
                 priority, source, kiosk or actor.name, iso, iso, ahead, estimate)).fetchone())
            log_ticket(conn, row["id"], iso, "issued", site.code, None, actor.name,
                       {"source": source, "priority": priority, "ahead": ahead, "estimated_wait_s": estimate,
                        "kiosk": kiosk})
            if request_id is not None:
                remember_request(conn, actor.name, request_id, row["id"], now)
        self._joined(site, day, service.code, priority is not None)
        view = self.ticket_view(row, private=True)
        view.update(with_range({"ahead": ahead, "estimated_wait_s": estimate}))
        public = self.ticket_view(row)
        self._after([Event("ticket.issued", site.code, public)], {site.code})
        return view

    def _current(self, conn: sqlite3.Connection, counter: Counter, actor: Actor,
                 expect: int | None, statuses: Iterable[str]) -> sqlite3.Row:
        """The counter's current ticket, checked against what the caller believes it is."""
        state = self._counter_row(conn, counter)
        if state["status"] != "closed" and state["staff"] and state["staff"] != actor.name:
            raise Conflict(f"Quầy {counter.number} đang do {state['staff']} phụ trách",
                           f"Counter {counter.number} is held by {state['staff']}", code="counter_taken")
        if not state["ticket_id"]:
            raise Conflict("Quầy chưa gọi số nào", "This counter has no current ticket", code="no_current_ticket")
        if expect is not None and int(expect) != state["ticket_id"]:
            raise Conflict("Số này không còn ở quầy của bạn — màn hình đã được cập nhật",
                           "That ticket is no longer at your counter", code="stale_ticket")
        row = conn.execute("SELECT * FROM tickets WHERE id = ?", (state["ticket_id"],)).fetchone()
        if row["status"] not in statuses:
            raise Conflict(f"Số {row['number']} đang ở trạng thái {row['status']}",
                           f"Ticket {row['number']} is {row['status']}", code="wrong_status")
        return row

    def call_next(self, counter_id: str, actor: Actor) -> dict[str, Any] | None:
        """Call the next citizen for a counter: its services, the priority rules, then first come first served.

        Returns None when nobody waits for this counter.
        """
        counter = self.counter(counter_id)
        site = self.config.sites[counter.site]
        now = self.clock()
        iso = to_iso(now)
        day = self.today(site, now)
        rules = self.config.rules
        with self.store.write() as conn:
            services = self.counter_services(counter, conn)
            state = self._claim_counter(conn, counter, actor, iso)
            self._ensure_free(conn, counter, state)
            aged_before = to_iso(now - timedelta(minutes=rules.aging_min))
            seat = self.order.seat(counter.id, services, state["normal_since_priority"])
            seat = self.order.seat(counter.id, services, state["normal_since_priority"],
                                   self._walkin_due(conn, site, day, seat, now))
            where, wp = self.order.callable_sql(seat)
            order, op = self.order.order_sql(seat, aged_before)
            sql = ("SELECT * FROM tickets WHERE site = ? AND service_day = ? AND status = 'waiting' AND "
                   f"{where} ORDER BY {order} LIMIT 1")
            params = [site.code, day, *wp, *op]
            row = conn.execute(sql, params).fetchone()
            if row is None:
                return None
            ticket = self._mark_called(conn, row, counter, actor, now, recall=False)
            streak = self.order.after_call(state["normal_since_priority"], row["priority"] is not None)
            conn.execute("UPDATE counter_state SET normal_since_priority = ? WHERE counter_id = ?",
                         (streak, counter.id))
        return self._called(counter, ticket, recall=False)

    def call_ticket(self, counter_id: str, actor: Actor, *, ticket_id: int | None = None,
                    number: str | None = None) -> dict[str, Any]:
        """Call one chosen ticket out of order (by id, or by printed number today at this site).

        A ticket marked no-show can be called again: the citizen came back.
        """
        counter = self.counter(counter_id)
        site = self.config.sites[counter.site]
        now = self.clock()
        iso = to_iso(now)
        with self.store.write() as conn:
            state = self._claim_counter(conn, counter, actor, iso)
            self._ensure_free(conn, counter, state)
            if ticket_id is not None:
                row = conn.execute("SELECT * FROM tickets WHERE id = ? AND site = ?",
                                   (ticket_id, site.code)).fetchone()
            elif number:
                row = conn.execute(
                    "SELECT * FROM tickets WHERE site = ? AND service_day = ? AND number = ? "
                    "ORDER BY status = 'waiting' DESC, status = 'no_show' DESC, id DESC LIMIT 1",
                    (site.code, self.today(site, now), str(number).strip().upper())).fetchone()
            else:
                raise Invalid("Cần nhập số thứ tự", "Give a ticket id or number", code="missing_ticket")
            if row is None:
                raise NotFound(f"Không có số {number or ticket_id} hôm nay tại điểm này",
                               f"No ticket {number or ticket_id} today at this site", code="unknown_ticket")
            if row["status"] not in ("waiting", "no_show"):
                where = ""
                if row["counter_id"] and row["status"] in ("called", "serving"):
                    other = self.config.counter(row["counter_id"])
                    where = f" tại quầy {other.number}" if other else ""
                raise Conflict(f"Số {row['number']} đã được gọi{where} ({_status_vi(row['status'])})",
                               f"Ticket {row['number']} is already {row['status']}", code="already_called")
            if row["service_day"] != self.today(site, now):
                day = vn_date(row["service_day"])  # the API's service_day stays ISO; the message is Vietnamese text
                raise Conflict(f"Số {row['number']} thuộc ngày {day}, không gọi được hôm nay",
                               f"Ticket {row['number']} belongs to {day}, not today", code="other_day",
                               service_day=row["service_day"])
            ticket = self._mark_called(conn, row, counter, actor, now, recall=False)
        return self._called(counter, ticket, recall=False)

    def _ensure_free(self, conn: sqlite3.Connection, counter: Counter, state: sqlite3.Row) -> None:
        if state["status"] == "paused":
            raise Conflict(f"Quầy {counter.number} đang tạm dừng — bấm Tiếp tục trước khi gọi số",
                           f"Counter {counter.number} is paused: resume it first", code="counter_paused")
        if state["ticket_id"]:
            current = conn.execute("SELECT number FROM tickets WHERE id = ?", (state["ticket_id"],)).fetchone()
            raise Conflict(f"Quầy đang có số {current['number']} — hãy hoàn thành, báo vắng mặt hoặc chuyển trước",
                           f"Counter still has ticket {current['number']}: finish, mark no-show or transfer it",
                           code="counter_busy", ticket=state["ticket_id"])

    def _mark_called(self, conn: sqlite3.Connection, row: sqlite3.Row, counter: Counter, actor: Actor,
                     now: datetime, *, recall: bool) -> dict[str, Any]:
        iso = to_iso(now)
        first = row["called_at"] is None
        wait_s = (now - from_iso(row["queue_at"] if row["transferred_from"] else row["issued_at"])).total_seconds()
        # The status guard makes the claim safe even if two writers ever raced past BEGIN IMMEDIATE.
        cur = conn.execute(
            "UPDATE tickets SET status = 'called', counter_id = ?, staff = ?, last_called_at = ?, "
            "called_at = coalesce(called_at, ?), call_count = call_count + 1, wait_s = coalesce(wait_s, ?), "
            "ended_at = NULL WHERE id = ? AND status IN ('waiting', 'no_show', 'called') RETURNING *",
            (counter.id, actor.name, iso, iso, round(wait_s, 3) if first else None, row["id"]))
        updated = cur.fetchone()
        if updated is None:
            raise Conflict(f"Số {row['number']} vừa được quầy khác gọi", f"Ticket {row['number']} was just taken",
                           code="already_called")
        conn.execute("UPDATE counter_state SET ticket_id = ?, updated_at = ? WHERE counter_id = ?",
                     (row["id"], iso, counter.id))
        kind = "recalled" if recall else ("called" if row["status"] == "waiting" else "called_again")
        log_ticket(conn, row["id"], iso, kind, counter.site, counter.id, actor.name,
                   {"counter_number": counter.number, "call_count": updated["call_count"]})
        return dict(updated)

    def _called(self, counter: Counter, ticket: dict[str, Any], *, recall: bool) -> dict[str, Any]:
        view = self.ticket_view(ticket)
        payload = {
            "ticket": ticket["id"],
            "number": ticket["number"],
            "service": ticket["service"],
            "service_name": view["service_name"],
            "counter": counter.id,
            "counter_number": counter.number,
            "counter_name": counter.name,
            "recall": recall,
            "call_count": ticket["call_count"],
            "priority": ticket["priority"],
            "at": ticket["last_called_at"],
        }
        events = [Event("ticket.called", counter.site, payload), self._ticket_event(ticket)]
        self._after(events, {counter.site}, counters=[counter])
        return view

    def recall(self, counter_id: str, actor: Actor, *, expect: int | None = None) -> dict[str, Any]:
        """Call the current ticket again (the citizen did not come yet); counted, status stays 'called'."""
        counter = self.counter(counter_id)
        now = self.clock()
        with self.store.write() as conn:
            row = self._current(conn, counter, actor, expect, ("called",))
            ticket = self._mark_called(conn, row, counter, actor, now, recall=True)
        return self._called(counter, ticket, recall=True)

    def start(self, counter_id: str, actor: Actor, *, expect: int | None = None) -> dict[str, Any]:
        """The citizen is at the desk: service time starts now."""
        counter = self.counter(counter_id)
        iso = to_iso(self.clock())
        with self.store.write() as conn:
            row = self._current(conn, counter, actor, expect, ("called",))
            ticket = conn.execute("UPDATE tickets SET status = 'serving', started_at = ? WHERE id = ? RETURNING *",
                                  (iso, row["id"])).fetchone()
            log_ticket(conn, row["id"], iso, "started", counter.site, counter.id, actor.name, None)
        return self._ticket_changed(counter, dict(ticket))

    def mark_procedure(self, counter_id: str, actor: Actor, procedure: str, *,
                       expect: int | None = None) -> dict[str, Any]:
        """One procedure done now: its service time runs from the previous mark (or the start)."""
        counter = self.counter(counter_id)
        iso = to_iso(self.clock())
        with self.store.write() as conn:
            row = self._current(conn, counter, actor, expect, ("called", "serving"))
            service = self.config.services[row["service"]]
            if not isinstance(procedure, str) or service.procedure(procedure) is None:
                raise Invalid(f"Thủ tục '{procedure}' không thuộc dịch vụ {service.name}",
                              f"Procedure '{procedure}' is not part of {service.name_en}", code="unknown_procedure")
            if row["status"] == "called":
                row = conn.execute("UPDATE tickets SET status = 'serving', started_at = ? WHERE id = ? "
                                   "RETURNING *", (row["last_called_at"], row["id"])).fetchone()
                log_ticket(conn, row["id"], iso, "started", counter.site, counter.id, actor.name, {"implicit": True})
            log_ticket(conn, row["id"], iso, "procedure", counter.site, counter.id, actor.name,
                       {"procedure": procedure})
        return self.get_ticket(row["id"], private=True)

    def finish(self, counter_id: str, actor: Actor, procedures: list[Any], *,
               expect: int | None = None) -> dict[str, Any]:
        """End the visit as served, recording each procedure done with its own service time.

        `procedures` holds codes, or objects {"code", "seconds"}. Without seconds, a procedure takes the
        time since the previous procedure marked done (mark_procedure); procedures never marked share
        what remains equally.
        """
        counter = self.counter(counter_id)
        now = self.clock()
        iso = to_iso(now)
        if not isinstance(procedures, list) or not procedures:
            raise Invalid("Hãy chọn ít nhất một thủ tục đã giải quyết", "List at least one procedure done",
                          code="procedures_required")
        with self.store.write() as conn:
            row = self._current(conn, counter, actor, expect, ("called", "serving"))
            service = self.config.services[row["service"]]
            started = from_iso(row["started_at"] or row["last_called_at"])
            items = parse_procedures(procedures, service)
            marks = [(json.loads(e["data"])["procedure"], from_iso(e["at"])) for e in conn.execute(
                "SELECT at, data FROM ticket_events WHERE ticket_id = ? AND kind = 'procedure' ORDER BY id",
                (row["id"],))]
            timed = time_procedures(items, marks, started, now)
            for code, t0, t1 in timed:
                conn.execute(
                    "INSERT INTO ticket_procedures (id, ticket_id, service, procedure, site, counter_id, staff, "
                    f"started_at, ended_at, seconds) VALUES ({own_id('ticket_procedures')},?,?,?,?,?,?,?,?,?)",
                    (row["id"], service.code, code, counter.site, counter.id, actor.name, to_iso(t0), to_iso(t1),
                     round((t1 - t0).total_seconds(), 3)))
            ticket = conn.execute(
                "UPDATE tickets SET status = 'served', started_at = coalesce(started_at, ?), ended_at = ?, "
                "service_s = ? WHERE id = ? RETURNING *",
                (to_iso(started), iso, round((now - started).total_seconds(), 3), row["id"])).fetchone()
            conn.execute("UPDATE counter_state SET ticket_id = NULL, updated_at = ? WHERE counter_id = ?",
                         (iso, counter.id))
            log_ticket(conn, row["id"], iso, "finished", counter.site, counter.id, actor.name,
                       {"procedures": [c for c, _, _ in timed]})
        ticket = dict(ticket)
        view = self.ticket_view(ticket)
        events = [Event("ticket.finished", counter.site, {**view, "procedures": [c for c, _, _ in timed]}),
                  self._ticket_event(ticket)]
        self._after(events, {counter.site}, counters=[counter])
        return self.get_ticket(ticket["id"], private=True)

    def no_show(self, counter_id: str, actor: Actor, *, expect: int | None = None,
                confirmed: bool = False) -> dict[str, Any]:
        """Called, never came: the counter is free again. The number can still be called later.

        The event keeps how long after the (last) call it came; one earlier than `no_show_confirm_s` is marked
        `early`, with whether the clerk confirmed it (the counter page asks), so the audit log shows a stray key.
        """
        counter = self.counter(counter_id)
        now = self.clock()
        iso = to_iso(now)
        with self.store.write() as conn:
            row = self._current(conn, counter, actor, expect, ("called",))
            after_s = round((now - from_iso(row["last_called_at"])).total_seconds())
            data: dict[str, Any] = {"call_count": row["call_count"], "after_call_s": after_s}
            if after_s < self.config.rules.no_show_confirm_s:
                data.update(early=True, confirmed=confirmed)
            ticket = conn.execute("UPDATE tickets SET status = 'no_show', ended_at = ? WHERE id = ? RETURNING *",
                                  (iso, row["id"])).fetchone()
            conn.execute("UPDATE counter_state SET ticket_id = NULL, updated_at = ? WHERE counter_id = ?",
                         (iso, counter.id))
            log_ticket(conn, row["id"], iso, "no_show", counter.site, counter.id, actor.name, data)
        return self._ticket_changed(counter, dict(ticket))

    def transfer(self, counter_id: str, actor: Actor, *, service: str | None = None,
                 to_counter: str | None = None, keep_place: bool | None = None, note: str | None = None,
                 expect: int | None = None) -> dict[str, Any]:
        """Send the citizen to another service or counter; they wait again under the same number.

        The current row ends as 'transferred' and a new waiting row, linked to it, joins the new queue
        at its old place or at the end (config `transfer_keeps_place`, or `keep_place`).
        """
        counter = self.counter(counter_id)
        site = self.config.sites[counter.site]
        now = self.clock()
        iso = to_iso(now)
        note = (clean_text(note, "note") or None) if note is not None else None
        target: Counter | None = None
        if to_counter:
            target = self.counter(to_counter)
            if target.site != site.code:
                raise Invalid("Chỉ chuyển được sang quầy cùng điểm tiếp nhận",
                              "Transfer only to a counter at the same site", code="other_site")
            if target.id == counter.id:
                raise Invalid("Không thể chuyển sang chính quầy này", "Cannot transfer to the same counter",
                              code="same_counter")
        if service is None and target is None:
            raise Invalid("Hãy chọn dịch vụ hoặc quầy để chuyển", "Give a service or a counter",
                          code="transfer_target_required")
        keep = self.config.rules.transfer_keeps_place if keep_place is None else bool(keep_place)
        with self.store.write() as conn:
            row = self._current(conn, counter, actor, expect, ("called", "serving"))
            if service is not None:
                new_service = self.service(site, service).code
            else:
                target_services = self.counter_services(target, conn)  # type: ignore[arg-type]
                new_service = row["service"] if row["service"] in target_services else target_services[0]
            if target is None and new_service == row["service"]:
                raise Invalid("Số này đã ở dịch vụ đó", "The ticket is already in that service",
                              code="same_service")
            queue_at = row["queue_at"] if keep else iso
            # The citizen's phone link follows them: the old row gives its public id to the new one.
            conn.execute("UPDATE tickets SET public_id = public_id || '.' || id WHERE id = ?", (row["id"],))
            new = conn.execute(
                "INSERT INTO tickets (id, public_id, visit_id, site, service, service_day, seq, number, priority, "
                "source, device, status, issued_at, queue_at, target_counter, transferred_from, note, booking) "
                f"VALUES ({own_id('tickets')},?,?,?,?,?,NULL,?,?,?,?, 'waiting', ?, ?, ?, ?, ?, ?) RETURNING *",
                (row["public_id"], row["visit_id"] or row["id"], site.code, new_service, row["service_day"],
                 row["number"], row["priority"], row["source"], row["device"], row["issued_at"], queue_at,
                 target.id if target else None, row["id"], note, row["booking"])).fetchone()
            old = conn.execute(
                "UPDATE tickets SET status = 'transferred', ended_at = ?, transferred_to = ?, "
                "started_at = coalesce(started_at, last_called_at), "
                "service_s = round((julianday(?) - julianday(coalesce(started_at, last_called_at))) * 86400, 3) "
                "WHERE id = ? RETURNING *", (iso, new["id"], iso, row["id"])).fetchone()
            conn.execute("UPDATE counter_state SET ticket_id = NULL, updated_at = ? WHERE counter_id = ?",
                         (iso, counter.id))
            data = {"to_ticket": new["id"], "service": new_service, "counter": target.id if target else None,
                    "keep_place": keep, "note": note}
            log_ticket(conn, row["id"], iso, "transferred", site.code, counter.id, actor.name, data)
            log_ticket(conn, new["id"], iso, "issued", site.code, counter.id, actor.name,
                       {"source": "transfer", "from_ticket": row["id"]})
        events = [self._ticket_event(dict(old)), Event("ticket.issued", site.code, self.ticket_view(new)),
                  self._ticket_event(dict(new))]
        self._after(events, {site.code}, counters=[counter])
        return self.get_ticket(new["id"], private=True)

    def mark_left(self, ticket_id: int, actor: Actor, note: str | None = None) -> dict[str, Any]:
        """Staff saw a waiting citizen leave before being called."""
        note = clean_text(note, "note") if note is not None else None
        iso = to_iso(self.clock())
        with self.store.write() as conn:
            row = conn.execute("UPDATE tickets SET status = 'left', ended_at = ? WHERE id = ? AND status = 'waiting' "
                               "RETURNING *", (iso, ticket_id)).fetchone()
            if row is None:
                raise Conflict("Chỉ đánh dấu rời đi được với số đang chờ", "Only a waiting ticket can be marked left",
                               code="wrong_status")
            log_ticket(conn, ticket_id, iso, "left", row["site"], None, actor.name, {"note": note} if note else None)
        self._after([self._ticket_event(dict(row))], {row["site"]})
        return self.ticket_view(row)

    # ------------------------------------------------------------------ the day

    def close_day(self, site_code: str, actor: Actor = SYSTEM, *, before_day: str | None = None) -> int:
        """End the service day: waiting and called tickets end as cancelled ("not served – closed").

        With `before_day`, only tickets of earlier service days (the day rolled over). History stays.
        """
        site = self.served_here(self.site(site_code))
        now = self.clock()
        iso = to_iso(now)
        day = before_day or self.today(site, now)
        op = "<" if before_day else "<="
        with self.store.write() as conn:
            rows = conn.execute(
                f"UPDATE tickets SET status = 'cancelled', ended_at = ? WHERE site = ? AND service_day {op} ? "
                "AND status IN ('waiting', 'called') RETURNING id, status", (iso, site.code, day)).fetchall()
            for r in rows:
                log_ticket(conn, r["id"], iso, "cancelled", site.code, None, actor.name, {"reason": "closed"})
            freed = conn.execute(
                "UPDATE counter_state SET ticket_id = NULL, updated_at = ? WHERE site = ? AND ticket_id IN "
                "(SELECT id FROM tickets WHERE status = 'cancelled' AND ended_at = ?) RETURNING counter_id",
                (iso, site.code, iso)).fetchall()
            if not before_day:
                closed = conn.execute(
                    "UPDATE counter_state SET status = 'closed', staff = NULL, pause_reason = NULL, since = ?, "
                    "updated_at = ? WHERE site = ? AND status != 'closed' AND ticket_id IS NULL RETURNING counter_id",
                    (iso, iso, site.code)).fetchall()
                for r in closed:
                    conn.execute("INSERT INTO counter_events (id, counter_id, site, at, kind, staff, reason) "
                                 f"VALUES ({own_id('counter_events')},?,?,?,'close',?,'day closed')",
                                 (r[0], site.code, iso, actor.name))
        if rows or not before_day or freed:
            self._after([Event("day.closed", site.code, {"site": site.code, "service_day": day,
                                                         "cancelled": len(rows)})],
                        {site.code}, counters=list(site.counters))
        return len(rows)

    def housekeeping(self) -> None:
        """Run every few seconds by the server: roll the day over and close it after the last session."""
        now = self.clock()
        for site in self.config.sites.values():
            if self.config.node_of_site(site.code):
                continue  # its own server closes its day; the result arrives by sync
            day = self.today(site, now)
            with self.store.connection() as conn:
                stale = conn.execute("SELECT 1 FROM tickets WHERE site = ? AND service_day < ? AND status IN "
                                     "('waiting','called') LIMIT 1", (site.code, day)).fetchone()
                waiting_today = conn.execute(
                    "SELECT 1 FROM tickets WHERE site = ? AND service_day = ? AND status IN ('waiting','called') "
                    "LIMIT 1", (site.code, day)).fetchone()
            if stale:
                self.close_day(site.code, before_day=day)
            self.expire_bookings(site, now)
            state = opening_state(now, site, self.config.tz)
            if waiting_today and not state.open:
                reopens_today = state.next_open is not None and service_day(state.next_open, site,
                                                                             self.config.tz) == day
                if not reopens_today:
                    self.close_day(site.code)



STATUS_VI = {"waiting": "đang chờ", "called": "đã gọi", "serving": "đang phục vụ", "served": "đã phục vụ",
             "no_show": "vắng mặt", "transferred": "đã chuyển", "cancelled": "hủy khi hết giờ",
             "left": "đã rời đi"}


def _status_vi(status: str) -> str:
    return STATUS_VI.get(status, status)
