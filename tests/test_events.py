"""The publisher's batching: what a backlog of events becomes on the wire."""

from center.events import Event, coalesce


def q(site: str, n: int) -> Event:
    return Event("queue.updated", site, {"site": site, "n": n})


def counter(cid: str, status: str) -> Event:
    return Event("counter.updated", "main", {"id": cid, "status": status})


def test_calls_go_first_and_superseded_snapshots_are_dropped():
    batch = [Event("ticket.finished", "main", {"ticket": 1}), counter("main-1", "idle"), q("main", 1),
             Event("ticket.issued", "main", {"ticket": 3}), q("main", 2),
             Event("ticket.called", "main", {"ticket": 2}), counter("main-1", "serving"), q("main", 3)]
    out = coalesce(batch)
    assert [e.name for e in out] == ["ticket.called", "ticket.finished", "ticket.issued", "counter.updated",
                                     "queue.updated"]
    assert out[3].payload["status"] == "serving" and out[4].payload["n"] == 3


def test_snapshots_of_other_sites_and_counters_are_kept():
    batch = [q("main", 1), q("branch", 1), counter("main-1", "idle"), counter("main-2", "idle")]
    assert coalesce(batch) == batch


def test_every_call_and_ticket_event_is_kept_in_order():
    calls = [Event("ticket.called", "main", {"ticket": i}) for i in range(3)]
    updates = [Event("ticket.updated", "main", {"id": i}, ticket_room=f"p{i}", site_wide=False) for i in range(3)]
    assert coalesce([calls[0], updates[0], calls[1], updates[1], calls[2], updates[2]]) == calls + updates
