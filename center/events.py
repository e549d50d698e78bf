"""Events the engine produces after a commit, and the publisher seam the web layer plugs into.

Every event belongs to a site; Socket.IO delivers it to the site's rooms (signed-in screens first, then
the public: `site_rooms`). A ticket's own changes
(`ticket.updated`) go only to `ticket:<public id>`, for the citizen following it by phone: site screens
get `ticket.called`, `ticket.issued`, `ticket.finished`, `counter.updated` and `queue.updated`, which is
what they draw, and every extra site-wide event is one more packet to every connected screen. Screens
must never depend on having seen every event: on connect and periodically they fetch the full state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

EVENT_NAMES = ("ticket.issued", "ticket.called", "ticket.updated", "ticket.finished", "queue.updated",
               "counter.updated", "day.closed", "printer.status", "notice.updated", "display.test",
               "rating.recorded")


@dataclass(frozen=True)
class Event:
    name: str
    site: str
    payload: dict[str, Any]
    ticket_room: str | None = None
    site_wide: bool = True  # False: only the citizen following the ticket gets it (less fan-out)

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
SNAPSHOTS = {"queue.updated": None, "counter.updated": "id"}


def coalesce(batch: list[Event]) -> list[Event]:
    """What to send for a backlog of events, in order: calls first (the one thing a waiting room must see
    at once), then the rest in commit order, with every state snapshot (queue, counter) superseded by a
    later one of the same site and key left out. Under a burst a screen gets fewer, never staler, packets."""
    last: dict[tuple[str, str, Any], int] = {}
    for i, e in enumerate(batch):
        if e.name in SNAPSHOTS:
            key = SNAPSHOTS[e.name]
            last[(e.name, e.site, e.payload.get(key) if key else None)] = i
    kept = [e for i, e in enumerate(batch)
            if e.name not in SNAPSHOTS
            or last[(e.name, e.site, e.payload.get(SNAPSHOTS[e.name]) if SNAPSHOTS[e.name] else None)] == i]
    return [e for e in kept if e.name == "ticket.called"] + [e for e in kept if e.name != "ticket.called"]
