"""Events the engine produces after a commit, and the publisher seam the web layer plugs into.

Every event belongs to a site; Socket.IO delivers it to the site's rooms (signed-in screens first, then
the public: `site_rooms`). A ticket's own changes
(`ticket.updated`) go only to `ticket:<public id>`, for the citizen following it by phone: site screens
get `ticket.called`, `ticket.issued`, `ticket.finished`, `counter.updated` and `queue.updated`, which is
what they draw, and every extra site-wide event is one more packet to every connected screen. Screens
must never depend on having seen every event: on connect and periodically they fetch the full state.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

EVENT_NAMES = ("ticket.issued", "ticket.called", "ticket.updated", "ticket.finished", "queue.updated",
               "counter.updated", "day.closed", "printer.status", "notice.updated", "display.test",
               "rating.recorded")


@dataclass(frozen=True)
class Event:
    name: str
    site: str
    data: dict[str, Any] | Callable[[], dict[str, Any]]  # a function: the state, read when it is sent
    ticket_room: str | None = None
    site_wide: bool = True  # False: only the citizen following the ticket gets it (less fan-out)
    key: str | None = None  # for a state snapshot: which one of the site (a counter id)

    @cached_property
    def payload(self) -> dict[str, Any]:
        """The event's data. A snapshot (queue, counter) is read when first needed, normally when it is sent:
        a burst of operations then costs one read per screen update, not one per operation."""
        return self.data() if callable(self.data) else self.data

    def rooms(self) -> list[str]:
        """Where it goes, in sending order: signed-in screens first, then the public, then the ticket's follower."""
        rooms = site_rooms(self.site) if self.site_wide else []
        if self.ticket_room:
            rooms.append(ticket_room(self.ticket_room))
        return rooms


Publisher = Callable[[list[Event]], None]


def site_room(site: str) -> str:
    """Anonymous clients of a site: the public status page, phones following a ticket."""
    return f"site:{site}"


def screens_room(site: str) -> str:
    """Signed-in clients of a site: waiting-room displays, counters, kiosks, managers. A site-wide event
    reaches them before the public: with hundreds of phones connected, the fan-out takes milliseconds per
    hundred, and the hall display is what must show a call at once."""
    return f"site:{site}:screens"


def site_rooms(site: str) -> list[str]:
    """Every client of a site, screens first (emit to each in turn, or pass the list as `to=`)."""
    return [screens_room(site), site_room(site)]


def ticket_room(public_id: str) -> str:
    return f"ticket:{public_id}"


# Events that carry a whole state: a later one replaces an earlier one not yet sent (same site and key).
SNAPSHOTS = {"queue.updated", "counter.updated"}
SNAPSHOT_HOLD_S = 0.15


def _snapshot_key(e: Event) -> tuple[str, str, Any]:
    return e.name, e.site, e.key


class Batcher:
    """What the publisher sends, and when. Calls and other one-off events go out at once, calls first
    (the one thing a waiting room must see without delay). State snapshots (queue, counter) wait up to
    `hold_s` and only the latest of each site and key goes out: every call and finish makes one per
    screen, and with hundreds of screens connected that fan-out is most of the server's work. A screen
    sees a count change `hold_s` later, never a staler state; the call itself carries the new number."""

    def __init__(self, hold_s: float = SNAPSHOT_HOLD_S):
        self.hold_s = hold_s
        self.held: dict[tuple[str, str, Any], Event] = {}
        self.due: float | None = None

    def add(self, events: list[Event], now: float) -> list[Event]:
        """Take new events (in commit order); return what to send now, in order."""
        now_out: list[Event] = []
        for e in events:
            if e.name in SNAPSHOTS:
                k = _snapshot_key(e)
                self.held.pop(k, None)
                self.held[k] = e
                if self.due is None:
                    self.due = now + self.hold_s
            else:
                now_out.append(e)
        calls = [e for e in now_out if e.name == "ticket.called"]
        return calls + [e for e in now_out if e.name != "ticket.called"] + self.due_now(now)

    def due_now(self, now: float) -> list[Event]:
        """The held snapshots, once their time has come."""
        if self.due is None or now < self.due:
            return []
        out = list(self.held.values())
        self.held.clear()
        self.due = None
        return out

    def wait_s(self, now: float) -> float | None:
        """How long the publisher may sleep before held snapshots are due (None: until the next event)."""
        return None if self.due is None else max(0.0, self.due - now)


PUBLIC_CHUNK = 25


class PublicFanout:
    """The public's share of each event (status pages, phones), sent `chunk` clients at a time.

    Sending one event to a WebSocket costs the worker about 40 µs (framing, the kernel send, a greenlet
    switch), so a site-wide event reaches 200 phones in about 8 ms. Sent in one go, a call arriving
    meanwhile would wait behind all of it before it reached the hall display. Sent in chunks, with the
    publisher taking new events between chunks, a call waits for one chunk at most: it goes to the
    signed-in screens at once, and its public share goes ahead of every other public share not yet
    sent (after earlier calls, so the public sees calls in order). A newer snapshot of the same state
    replaces the unsent rest of the older one: those clients get the newer one instead."""

    def __init__(self, chunk: int = PUBLIC_CHUNK):
        self.chunk = chunk
        self.jobs: deque[tuple[Event, list[Any]]] = deque()

    def __bool__(self) -> bool:
        return bool(self.jobs)

    def add(self, event: Event, clients: list[Any]) -> None:
        if not clients:
            return
        if event.name in SNAPSHOTS:
            key = _snapshot_key(event)
            self.jobs = deque(j for j in self.jobs if not (j[0].name in SNAPSHOTS and _snapshot_key(j[0]) == key))
        job = (event, list(clients))
        if event.name == "ticket.called":
            calls = 0
            while calls < len(self.jobs) and self.jobs[calls][0].name == "ticket.called":
                calls += 1
            self.jobs.insert(calls, job)
        else:
            self.jobs.append(job)

    def next_chunk(self) -> tuple[Event, list[Any]] | None:
        """The next event and the clients to send it to now."""
        if not self.jobs:
            return None
        event, clients = self.jobs[0]
        chunk = clients[:self.chunk]
        del clients[:self.chunk]
        if not clients:
            self.jobs.popleft()
        return event, chunk
