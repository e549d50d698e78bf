"""The read models: a ticket as the API, events and the phone page show it; a counter; each service's waiting,
longest and estimated wait; the whole state a screen starts from. A mixin of the engine: it reads, never
writes (the events the engine publishes after a commit are built from these, when sent)."""

from __future__ import annotations

import functools
import json
import sqlite3
from datetime import datetime
from typing import Any

from ..config.model import Counter, Site
from ..errors import NotFound
from .availability import availability
from .clock import from_iso, opening_state, to_iso
from .estimate import range_json, with_range
from .events import Event
from .waits import Waits


class Views(Waits):
    def ticket_view(self, row: sqlite3.Row | dict[str, Any], *, private: bool = False) -> dict[str, Any]:
        """A ticket as the API and events show it. `private` adds the phone-page link id."""
        r = dict(row)
        service = self.config.services.get(r["service"])
        counter = self.config.counter(r["counter_id"]) if r.get("counter_id") else None
        target = self.config.counter(r["target_counter"]) if r.get("target_counter") else None
        group = self.config.priority_group(r["priority"]) if r.get("priority") else None
        view: dict[str, Any] = {
            "id": r["id"],
            "number": r["number"],
            "site": r["site"],
            "service": r["service"],
            "service_name": service.name if service else r["service"],
            "service_name_en": service.name_en if service else r["service"],
            "priority": r.get("priority"),
            "priority_name": group.name if group else None,
            "status": r["status"],
            "service_day": r["service_day"],
            "issued_at": r["issued_at"],
            "called_at": r.get("called_at"),
            "last_called_at": r.get("last_called_at"),
            "call_count": r.get("call_count", 0),
            "started_at": r.get("started_at"),
            "ended_at": r.get("ended_at"),
            "wait_s": r.get("wait_s"),
            "service_s": r.get("service_s"),
            "counter": _counter_brief(counter),
            "target_counter": _counter_brief(target),
            "transferred_from": r.get("transferred_from"),
            "transferred_to": r.get("transferred_to"),
        }
        if private:
            view["public_id"] = r["public_id"]
            view["source"] = r.get("source")
            view["staff"] = r.get("staff")
            view["note"] = r.get("note")
            view["booking"] = r.get("booking")
        return view

    def get_ticket(self, ticket_id: int, *, private: bool = False) -> dict[str, Any]:
        with self.store.read() as conn:
            row = conn.execute("SELECT * FROM tickets WHERE id = ?", (ticket_id,)).fetchone()
            if row is None:
                raise NotFound(f"Không có số thứ tự mã {ticket_id}", f"No ticket with id {ticket_id}",
                               code="unknown_ticket")
            view = self.ticket_view(row, private=private)
            view.update(with_range(self._position(conn, row)))
            if private:
                view["procedures"] = [dict(p) for p in conn.execute(
                    "SELECT procedure AS code, service, counter_id, staff, started_at, ended_at, seconds "
                    "FROM ticket_procedures WHERE ticket_id = ? ORDER BY id", (ticket_id,))]
                view["events"] = [
                    {**dict(e), "data": json.loads(e["data"]) if e["data"] else None} for e in conn.execute(
                        "SELECT kind, at, counter_id, staff, data FROM ticket_events WHERE ticket_id = ? "
                        "ORDER BY id", (ticket_id,))]
        return view

    def get_ticket_by_public_id(self, public_id: str) -> dict[str, Any]:
        with self.store.read() as conn:
            row = conn.execute("SELECT * FROM tickets WHERE public_id = ?", (public_id,)).fetchone()
            if row is None:
                raise NotFound("Không tìm thấy số thứ tự", "Ticket not found", code="unknown_ticket")
            view = self.ticket_view(row)
            view.update(with_range(self._position(conn, row)))
        return view

    def counter_view(self, conn: sqlite3.Connection, counter: Counter, *, private: bool = False) -> dict[str, Any]:
        state = conn.execute("SELECT * FROM counter_state WHERE counter_id = ?", (counter.id,)).fetchone()
        ticket = None
        if state and state["ticket_id"]:
            t = conn.execute("SELECT * FROM tickets WHERE id = ?", (state["ticket_id"],)).fetchone()
            ticket = self.ticket_view(t) if t else None
        view: dict[str, Any] = {
            "id": counter.id,
            "number": counter.number,
            "name": counter.name,
            "site": counter.site,
            "services": list(self.counter_services(counter, conn)),
            "status": state["status"] if state else "closed",
            "since": state["since"] if state else None,
            "ticket": ticket,
        }
        if private:
            view["staff"] = state["staff"] if state else None
            view["pause_reason"] = state["pause_reason"] if state else None
        return view

    def services_state(self, conn: sqlite3.Connection, site: Site, now: datetime) -> list[dict[str, Any]]:
        """Waiting, priority waiting, longest wait and estimated wait for each service of a site."""
        day = self.today(site, now)
        rows = {r["service"]: r for r in conn.execute(
            "SELECT service, count(*) AS waiting, sum(priority IS NOT NULL) AS priority_waiting, "
            "min(queue_at) AS oldest FROM tickets WHERE site = ? AND service_day = ? AND status = 'waiting' "
            "GROUP BY service", (site.code, day))}
        estimates = self._service_estimates(conn, site, day)
        counters = availability(conn, self.config, site, now,
                                {c.id: self.counter_services(c, conn) for c in site.counters})
        services = []
        for code in site.services:
            sv = self.config.services[code]
            r = rows.get(code)
            waiting = r["waiting"] if r else 0
            services.append({
                "code": code,
                "name": sv.name,
                "name_en": sv.name_en,
                "waiting": waiting,
                "priority_waiting": (r["priority_waiting"] or 0) if r else 0,
                "longest_wait_s": round((now - from_iso(r["oldest"])).total_seconds()) if r else 0,
                "estimated_wait_s": estimates.get(code),
                "estimated_wait_range_s": range_json(estimates.get(code)),
                "target_wait_min": sv.target_wait_min,
                **counters[code],
            })
        return services

    def queue_state(self, site_code: str, *, private: bool = False) -> dict[str, Any]:
        """Everything a screen needs to be right: waiting per service and what each counter does."""
        site = self.site(site_code)
        now = self.clock()
        day = self.today(site, now)
        with self.store.read() as conn:
            services = self.services_state(conn, site, now)
            counters = [self.counter_view(conn, c, private=private) for c in site.counters]
            recent = [self.ticket_view(r) for r in conn.execute(
                "SELECT * FROM tickets WHERE site = ? AND service_day = ? AND called_at IS NOT NULL "
                "ORDER BY last_called_at DESC LIMIT 10", (site.code, day))]
        opening = opening_state(now, site, self.config.tz)
        return {
            "site": site.code,
            "service_day": day,
            "at": to_iso(now),
            "opening": {"open": opening.open, "issuing": opening.issuing, "reason": opening.reason,
                        "closes_at": opening.closes_at.isoformat() if opening.closes_at else None,
                        "next_open": opening.next_open.isoformat() if opening.next_open else None},
            "services": services,
            "counters": counters,
            "recent_calls": recent,
        }

    def _counter_view_now(self, counter: Counter) -> dict[str, Any]:
        with self.store.read() as conn:
            return self.counter_view(conn, counter, private=True)

    def _counter_state(self, counter: Counter) -> dict[str, Any]:
        with self.store.read() as conn:
            return self.counter_view(conn, counter)

    def _queue_update(self, site_code: str) -> dict[str, Any]:
        now = self.clock()
        with self.store.read() as conn:
            services = self.services_state(conn, self.config.sites[site_code], now)
        return {"site": site_code, "at": to_iso(now), "services": services}

    # ------------------------------------------------------------------ after a commit

    def _ticket_event(self, ticket: dict[str, Any]) -> Event:
        """A ticket's new state, for its site and for the citizen following it by phone."""
        return Event("ticket.updated", ticket["site"], self.ticket_view(ticket), ticket_room=ticket["public_id"],
                     site_wide=False)

    def _ticket_changed(self, counter: Counter, ticket: dict[str, Any]) -> dict[str, Any]:
        self._after([self._ticket_event(ticket)], {counter.site}, counters=[counter])
        return self.ticket_view(ticket)

    def _counter_changed(self, counter: Counter) -> dict[str, Any]:
        self._after([], set(), counters=[counter])
        return self._counter_view_now(counter)

    def records_arrived(self, sites: set[str]) -> None:
        """Records of these sites came in from the place that serves them (center/sync/): their screens get
        the queue and counters as they now are."""
        counters = [c for code in sites if code in self.config.sites for c in self.config.sites[code].counters]
        self._after([], set(sites), counters=counters)

    def _after(self, events: list[Event], sites: set[str], counters: list[Counter] | None = None) -> None:
        """After a commit: add the queue and counter state (read when sent: `Event.payload`), then hand
        everything to the publisher."""
        if any(e.name != "ticket.issued" for e in events) or counters:
            for code in sites | {c.site for c in counters or []}:
                self._newcomers.pop(code, None)  # the queue changed otherwise than by new tickets
        try:
            out = list(events)
            for c in counters or []:
                out.append(Event("counter.updated", c.site, functools.partial(self._counter_state, c), key=c.id))
            for code in sorted(sites | {c.site for c in counters or []}):
                out.append(Event("queue.updated", code, functools.partial(self._queue_update, code)))
            self.publish(out)
        except Exception:  # noqa: BLE001 - the commit stands; screens resync on their own
            import logging

            logging.getLogger(__name__).exception("publishing events failed")


def _counter_brief(counter: Counter | None) -> dict[str, Any] | None:
    if counter is None:
        return None
    return {"id": counter.id, "number": counter.number, "name": counter.name}
