"""The wait estimate replays the queue through the counters: shared counters, preferences, priority."""

from __future__ import annotations

from center.estimate import CounterLoad, Waiting, estimate_wait


def w(i, service="HT", priority=False, target=None):
    return Waiting(i, service, priority, target)


def test_free_counter_means_no_wait():
    counters = [CounterLoad(("CT",), "open", 0.0)]
    assert estimate_wait(queue=[w(1, "CT")], ticket_id=1, counters=counters, handling_s={"CT": 240},
                         strict=True, interleave_every=2) == 0


def test_a_counter_that_lists_a_service_second_helps_when_its_first_is_empty():
    counters = [CounterLoad(("HT", "CT"), "open", 0.0), CounterLoad(("CC", "HT"), "open", 0.0)]
    queue = [w(i) for i in range(1, 5)] + [w(9)]
    # Both counters work on HT (nobody waits for CC): tickets 1–4 take two rounds of 600 s.
    assert estimate_wait(queue=queue, ticket_id=9, counters=counters, handling_s={"HT": 600},
                         strict=True, interleave_every=2) == 1200


def test_first_preference_of_a_shared_counter_goes_first():
    counters = [CounterLoad(("CC", "HT"), "open", 0.0)]
    queue = [w(1, "HT"), w(2, "CC"), w(3, "CC")]
    # The counter takes both CC tickets (its first service) before the earlier HT ticket.
    assert estimate_wait(queue=queue, ticket_id=1, counters=counters, handling_s={"HT": 600, "CC": 300},
                         strict=True, interleave_every=2) == 600


def test_busy_counters_and_strict_priority():
    counters = [CounterLoad(("CT",), "open", 100.0)]
    queue = [w(1, "CT"), w(2, "CT"), w(3, "CT", priority=True)]
    assert estimate_wait(queue=queue, ticket_id=3, counters=counters, handling_s={"CT": 240},
                         strict=True, interleave_every=2) == 100
    assert estimate_wait(queue=queue, ticket_id=2, counters=counters, handling_s={"CT": 240},
                         strict=True, interleave_every=2) == 100 + 240 + 240


def test_closed_center_assumes_its_counters_and_paused_ones_do_not_count():
    closed = [CounterLoad(("CT",), "closed", 0.0), CounterLoad(("CT",), "paused", 0.0)]
    assert estimate_wait(queue=[w(1, "CT"), w(2, "CT")], ticket_id=2, counters=closed, handling_s={"CT": 300},
                         strict=True, interleave_every=2) == 300
    assert estimate_wait(queue=[w(1, "DD")], ticket_id=1, counters=closed, handling_s={},
                         strict=True, interleave_every=2) is None
