"""Events the engine produces after a commit, and the publisher seam the web layer plugs into.

Every event belongs to a site; Socket.IO delivers it to the room `site:<code>`. A ticket's own changes
also go to `ticket:<public id>` for the citizen following it by phone. Screens must never depend on
having seen every event: on connect and periodically they fetch the full state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

EVENT_NAMES = ("ticket.issued", "ticket.called", "ticket.updated", "ticket.finished", "queue.updated",
               "counter.updated", "day.closed", "printer.status", "notice.updated")


@dataclass(frozen=True)
class Event:
    name: str
    site: str
    payload: dict[str, Any]
    ticket_room: str | None = None

    def rooms(self) -> list[str]:
        rooms = [site_room(self.site)]
        if self.ticket_room:
            rooms.append(ticket_room(self.ticket_room))
        return rooms


Publisher = Callable[[list[Event]], None]


def site_room(site: str) -> str:
    return f"site:{site}"


def ticket_room(public_id: str) -> str:
    return f"ticket:{public_id}"
