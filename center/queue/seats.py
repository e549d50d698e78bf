"""The counter's side of the engine: a staff member takes a counter, releases it (alone, or forced by a
manager, with what becomes of the citizen at it), pauses it with a reason and resumes. Each is one short
write transaction, like every operation of the engine, which inherits these."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from ..config.model import Counter
from ..errors import Conflict, Invalid, clean_text
from .actors import PAUSE_REASONS, Actor
from .clock import to_iso
from .journal import log_counter, log_ticket
from .views import Views

RELEASE_OUTCOMES = ("requeue", "no_show")  # what a forced release does with the citizen at the counter


class Seats(Views):
    def _counter_row(self, conn: sqlite3.Connection, counter: Counter) -> sqlite3.Row:
        return conn.execute("SELECT * FROM counter_state WHERE counter_id = ?", (counter.id,)).fetchone()

    def _claim_counter(self, conn: sqlite3.Connection, counter: Counter, actor: Actor, iso: str) -> sqlite3.Row:
        """Make sure `actor` holds the counter, opening it if it was closed; refuse another's counter."""
        state = self._counter_row(conn, counter)
        if actor.role == "kiosk" or actor.role == "display":
            raise Conflict("Thiết bị này không được gọi số", "This device may not operate counters",
                           code="forbidden", status=403)
        if state["status"] != "closed" and state["staff"] and state["staff"] != actor.name:
            raise Conflict(f"Quầy {counter.number} đang do {state['staff']} phụ trách",
                           f"Counter {counter.number} is held by {state['staff']}", code="counter_taken",
                           holder=state["staff"])
        if state["status"] == "closed" or not state["staff"]:
            # A counter that just opened owes a priority call: the first waiting priority citizen goes first.
            conn.execute("UPDATE counter_state SET status = 'open', staff = ?, since = ?, pause_reason = NULL, "
                         "normal_since_priority = ?, updated_at = ? WHERE counter_id = ?",
                         (actor.name, iso, self.config.rules.interleave_every, iso, counter.id))
            log_counter(conn, counter, iso, "open", actor.name, None)
            state = self._counter_row(conn, counter)
        return state

    def take_counter(self, counter_id: str, actor: Actor) -> dict[str, Any]:
        """A staff member sits down at a counter (sign-in on the counter page)."""
        counter = self.counter(counter_id)
        self.served_here(self.config.sites[counter.site])
        iso = to_iso(self.clock())
        with self.store.write() as conn:
            self._claim_counter(conn, counter, actor, iso)
        return self._counter_changed(counter)

    def release_counter(self, counter_id: str, actor: Actor, *, force: bool = False,
                        citizen: str = "requeue") -> dict[str, Any]:
        """Close a counter (sign-out); refused while a citizen is at it, unless a manager forces it.

        A forced release never strands the citizen: their ticket goes back to its place in the queue
        (`citizen="requeue"`: same queue time, as if never called, so the next call counts the whole wait)
        or ends as no-show (`citizen="no_show"`, callable again later). Who forced it is in the counter's
        `release` event and the ticket's event, both in the audit log.
        """
        if citizen not in RELEASE_OUTCOMES:
            raise Invalid("Cách xử lý công dân không hợp lệ", f"citizen must be one of {', '.join(RELEASE_OUTCOMES)}",
                          code="bad_field", field="citizen")
        counter = self.counter(counter_id)
        iso = to_iso(self.clock())
        ticket = None
        with self.store.write() as conn:
            state = self._counter_row(conn, counter)
            if state["status"] == "closed":
                return self._counter_view_now(counter)
            if state["staff"] and state["staff"] != actor.name and not force:
                raise Conflict(f"Quầy {counter.number} đang do {state['staff']} phụ trách",
                               f"Counter {counter.number} is held by {state['staff']}", code="counter_taken")
            if state["ticket_id"] and not force:
                raise Conflict("Quầy đang phục vụ một số — hãy hoàn thành hoặc chuyển trước khi đóng quầy",
                               "Finish or transfer the current ticket before closing the counter",
                               code="counter_busy")
            if state["ticket_id"]:
                ticket = self._release_ticket(conn, counter, state, actor, iso, citizen)
            conn.execute("UPDATE counter_state SET status = 'closed', staff = NULL, ticket_id = NULL, "
                         "pause_reason = NULL, since = ?, updated_at = ? WHERE counter_id = ?",
                         (iso, iso, counter.id))
            forced = force and (state["ticket_id"] or (state["staff"] and state["staff"] != actor.name))
            if forced:
                detail = {"held_by": state["staff"], "ticket": ticket["number"] if ticket else None,
                          "citizen": citizen if ticket else None}
                log_counter(conn, counter, iso, "release", actor.name, json.dumps(detail, ensure_ascii=False))
            else:
                log_counter(conn, counter, iso, "close", actor.name, None)
        if ticket is None:
            return self._counter_changed(counter)
        self._after([self._ticket_event(ticket)], {counter.site}, counters=[counter])
        return self._counter_view_now(counter)

    def _release_ticket(self, conn: sqlite3.Connection, counter: Counter, state: sqlite3.Row, actor: Actor,
                        iso: str, citizen: str) -> dict[str, Any]:
        """The forced release's citizen: back at their place in the queue, or ended as no-show."""
        row = conn.execute("SELECT * FROM tickets WHERE id = ?", (state["ticket_id"],)).fetchone()
        data = {"forced_release": True, "held_by": state["staff"], "counter_number": counter.number}
        if citizen == "no_show":
            ticket = conn.execute("UPDATE tickets SET status = 'no_show', ended_at = ? WHERE id = ? RETURNING *",
                                  (iso, row["id"])).fetchone()
            log_ticket(conn, row["id"], iso, "no_show", counter.site, counter.id, actor.name,
                       {**data, "call_count": row["call_count"]})
        else:
            # queue_at is kept: the citizen's place. The call and service times are cleared, so the next
            # call measures the whole wait and the next service starts afresh (old procedure marks fall
            # before the new start and are not counted again).
            ticket = conn.execute(
                "UPDATE tickets SET status = 'waiting', counter_id = NULL, staff = NULL, called_at = NULL, "
                "last_called_at = NULL, wait_s = NULL, started_at = NULL, ended_at = NULL WHERE id = ? RETURNING *",
                (row["id"],)).fetchone()
            log_ticket(conn, row["id"], iso, "requeued", counter.site, counter.id, actor.name, data)
        return dict(ticket)

    def pause(self, counter_id: str, actor: Actor, reason: str, note: str | None = None) -> dict[str, Any]:
        counter = self.counter(counter_id)
        if reason not in PAUSE_REASONS:
            raise Invalid("Lý do tạm dừng không hợp lệ", f"reason must be one of {', '.join(PAUSE_REASONS)}",
                          code="bad_reason")
        note = clean_text(note, "note") if note is not None else None
        iso = to_iso(self.clock())
        text = reason if not note else f"{reason}: {note}"
        with self.store.write() as conn:
            state = self._claim_counter(conn, counter, actor, iso)
            if state["ticket_id"]:
                self._ensure_free(conn, counter, state)
            if state["status"] == "paused":
                raise Conflict("Quầy đã tạm dừng", "The counter is already paused", code="already_paused")
            conn.execute("UPDATE counter_state SET status = 'paused', pause_reason = ?, since = ?, updated_at = ? "
                         "WHERE counter_id = ?", (text, iso, iso, counter.id))
            log_counter(conn, counter, iso, "pause", actor.name, text)
        return self._counter_changed(counter)

    def resume(self, counter_id: str, actor: Actor) -> dict[str, Any]:
        counter = self.counter(counter_id)
        iso = to_iso(self.clock())
        with self.store.write() as conn:
            state = self._claim_counter(conn, counter, actor, iso)
            if state["status"] != "paused":
                raise Conflict("Quầy không ở trạng thái tạm dừng", "The counter is not paused", code="not_paused")
            conn.execute("UPDATE counter_state SET status = 'open', pause_reason = NULL, since = ?, updated_at = ? "
                         "WHERE counter_id = ?", (iso, iso, counter.id))
            log_counter(conn, counter, iso, "resume", actor.name, None)
        return self._counter_changed(counter)
