"""The publisher's batching: what a burst of events becomes on the wire, and when."""

from center.queue.events import Batcher, Event, PublicFanout


def q(site: str, n: int) -> Event:
    return Event("queue.updated", site, {"site": site, "n": n})


def counter(cid: str, status: str) -> Event:
    return Event("counter.updated", "main", {"id": cid, "status": status}, key=cid)


def test_calls_go_first_and_snapshots_wait_for_their_time():
    b = Batcher(hold_s=0.15)
    batch = [Event("ticket.finished", "main", {"ticket": 1}), counter("main-1", "idle"), q("main", 1),
             Event("ticket.issued", "main", {"ticket": 3}), Event("ticket.called", "main", {"ticket": 2})]
    out = b.add(batch, now=10.0)
    assert [e.name for e in out] == ["ticket.called", "ticket.finished", "ticket.issued"]
    assert abs(b.wait_s(10.0) - 0.15) < 1e-9
    assert b.add([], now=10.1) == []
    assert [e.name for e in b.add([], now=10.15)] == ["counter.updated", "queue.updated"]
    assert b.wait_s(10.2) is None


def test_only_the_latest_snapshot_of_each_site_and_counter_goes_out():
    b = Batcher(hold_s=0.1)
    b.add([q("main", 1), counter("main-1", "idle"), q("branch", 1), counter("main-2", "idle")], now=0.0)
    b.add([counter("main-1", "serving"), q("main", 2)], now=0.05)
    out = b.add([], now=0.1)
    assert [(e.name, e.site, e.payload.get("n"), e.payload.get("status")) for e in out] == [
        ("queue.updated", "branch", 1, None), ("counter.updated", "main", None, "idle"),
        ("counter.updated", "main", None, "serving"), ("queue.updated", "main", 2, None)]
    assert [e.payload.get("id") for e in out if e.name == "counter.updated"] == ["main-2", "main-1"]


def test_every_call_and_ticket_event_is_kept_in_order():
    b = Batcher()
    calls = [Event("ticket.called", "main", {"ticket": i}) for i in range(3)]
    updates = [Event("ticket.updated", "main", {"id": i}, ticket_room=f"p{i}", site_wide=False) for i in range(3)]
    assert b.add([calls[0], updates[0], calls[1], updates[1], calls[2], updates[2]], now=0.0) == calls + updates


def test_a_held_snapshot_goes_out_with_the_next_event_once_due():
    b = Batcher(hold_s=0.1)
    b.add([q("main", 1)], now=0.0)
    out = b.add([Event("ticket.issued", "main", {"ticket": 9})], now=0.5)
    assert [e.name for e in out] == ["ticket.issued", "queue.updated"]


def test_a_snapshot_given_as_a_function_is_read_once_when_first_needed():
    reads = []

    def state() -> dict:
        reads.append(1)
        return {"site": "main", "n": len(reads)}

    e = Event("queue.updated", "main", state)
    assert reads == []
    assert e.payload == {"site": "main", "n": 1} and e.payload["n"] == 1
    assert reads == [1]


def _drain(f: PublicFanout) -> list[tuple[str, object, list]]:
    out = []
    while (chunk := f.next_chunk()) is not None:
        event, clients = chunk
        out.append((event.name, event.payload.get("ticket", event.payload.get("n")), clients))
    return out


def test_the_public_gets_an_event_a_chunk_of_clients_at_a_time():
    f = PublicFanout(chunk=2)
    f.add(Event("ticket.issued", "main", {"ticket": 1}), ["a", "b", "c", "d", "e"])
    assert _drain(f) == [("ticket.issued", 1, ["a", "b"]), ("ticket.issued", 1, ["c", "d"]),
                         ("ticket.issued", 1, ["e"])]
    assert not f


def test_a_call_overtakes_the_public_fanout_in_progress_but_not_earlier_calls():
    f = PublicFanout(chunk=2)
    f.add(Event("ticket.issued", "main", {"ticket": 1}), ["a", "b", "c", "d"])
    assert f.next_chunk()[1] == ["a", "b"]
    f.add(Event("ticket.called", "main", {"ticket": 2}), ["a", "b", "c"])
    f.add(Event("ticket.called", "main", {"ticket": 3}), ["a"])
    assert _drain(f) == [("ticket.called", 2, ["a", "b"]), ("ticket.called", 2, ["c"]),
                         ("ticket.called", 3, ["a"]), ("ticket.issued", 1, ["c", "d"])]


def test_a_newer_snapshot_replaces_the_unsent_rest_of_the_older_one():
    f = PublicFanout(chunk=2)
    f.add(q("main", 1), ["a", "b", "c", "d"])
    f.add(q("branch", 1), ["x"])
    assert f.next_chunk()[1] == ["a", "b"]
    f.add(q("main", 2), ["a", "b", "c", "d"])
    assert _drain(f) == [("queue.updated", 1, ["x"]), ("queue.updated", 2, ["a", "b"]),
                         ("queue.updated", 2, ["c", "d"])]


def test_an_event_for_an_empty_public_room_makes_no_work():
    f = PublicFanout()
    f.add(Event("ticket.issued", "main", {"ticket": 1}), [])
    assert not f and f.next_chunk() is None
