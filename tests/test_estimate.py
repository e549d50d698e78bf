"""The wait estimate replays the queue through the counters: shared counters, preferences, priority."""

from __future__ import annotations

import pytest

from center.estimate import CounterLoad, Waiting, estimate_wait, remaining_s


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


def test_long_waiters_of_another_service_go_first_through_aging():
    counters = [CounterLoad(("CC", "HT"), "open", 0.0)]
    queue = [Waiting(1, "HT", False, None, waited_s=1900), Waiting(2, "HT", False, None, waited_s=1900),
             Waiting(3, "CC", False, None, waited_s=0)]
    # Without aging the CC ticket is first (the counter's first service)...
    assert estimate_wait(queue=queue, ticket_id=3, counters=counters, handling_s={"HT": 600, "CC": 300},
                         strict=True, interleave_every=2) == 0
    # ...with a 30-minute aging limit both HT tickets pass 30 minutes during the first service.
    assert estimate_wait(queue=queue, ticket_id=3, counters=counters, handling_s={"HT": 600, "CC": 300},
                         strict=True, interleave_every=2, aging_s=1800) == 600 + 600


def test_newcomers_of_a_preferred_service_delay_a_later_preference():
    counters = [CounterLoad(("CT", "HT"), "open", 0.0)]
    queue = [w(1, "HT")]
    # With CT newcomers rare, the free counter takes the HT ticket at once.
    slow = estimate_wait(queue=queue, ticket_id=1, counters=counters, handling_s={"CT": 300, "HT": 600},
                         strict=True, interleave_every=2, arrivals_per_s={"CT": 1 / 1000})
    assert slow == 0
    busy = [CounterLoad(("CT", "HT"), "open", 150.0)]
    # A CT citizen every 100 s, 300 s each: the counter (free at 150, 450, ... s) keeps taking CT until the
    # HT ticket has waited the 30-minute aging limit, at 1950 s.
    assert estimate_wait(queue=queue, ticket_id=1, counters=busy, handling_s={"CT": 300, "HT": 600},
                         strict=True, interleave_every=2, arrivals_per_s={"CT": 1 / 100}, aging_s=1800) == 1950
    assert estimate_wait(queue=queue, ticket_id=1, counters=busy, handling_s={"CT": 300, "HT": 600},
                         strict=True, interleave_every=2, arrivals_per_s={"CT": 1 / 1000}) == 150


def test_every_open_counter_takes_part_so_a_shared_backlog_is_split():
    # Counter 0 serves only HT; counter 1 serves CC first and helps with HT. Two HT citizens have waited
    # past the aging limit, so they go first wherever they are. Counter 0 takes one of them: counter 1
    # serves one HT citizen (600 s), then our CC ticket.
    counters = [CounterLoad(("HT",), "open", 0.0), CounterLoad(("CC", "HT"), "open", 0.0)]
    queue = [Waiting(1, "HT", False, None, waited_s=2000), Waiting(2, "HT", False, None, waited_s=2000),
             Waiting(3, "CC", False, None)]
    assert estimate_wait(queue=queue, ticket_id=3, counters=counters, handling_s={"HT": 600, "CC": 300},
                         strict=True, interleave_every=2, aging_s=1800) == 600


def test_a_counter_with_nothing_to_do_wakes_for_a_newcomer_it_serves():
    # Counter 0 serves only CC and has nobody; counter 1 serves CC first, then HT, and is busy for 150 s.
    # A CC newcomer arrives every 100 s and takes 150 s. Counter 0 wakes for the newcomer at 100 s, so
    # at 150 s no CC citizen waits and counter 1 takes our HT ticket.
    counters = [CounterLoad(("CC",), "open", 0.0), CounterLoad(("CC", "HT"), "open", 150.0)]
    queue = [Waiting(1, "HT", False, None)]
    assert estimate_wait(queue=queue, ticket_id=1, counters=counters, handling_s={"CC": 150, "HT": 600},
                         strict=True, interleave_every=2, arrivals_per_s={"CC": 1 / 100}) == 150
    # Without counter 0, counter 1 keeps taking CC newcomers until our ticket has waited 30 minutes (it
    # finishes one at 1800 s and then takes the aged ticket).
    assert estimate_wait(queue=queue, ticket_id=1, counters=counters[1:], handling_s={"CC": 150, "HT": 600},
                         strict=True, interleave_every=2, arrivals_per_s={"CC": 1 / 100}, aging_s=1800) == 1800


def test_time_left_at_a_counter_is_the_whole_mean_at_the_start_and_never_runs_out():
    assert remaining_s(300, 0.6, 0) == 300
    # Past the mean a citizen is probably a long case: well over a third of the mean still to go,
    # and the longer it has lasted the more is left (lognormal handling times, CV 0.6).
    assert 150 < remaining_s(300, 0.6, 300) < 190
    assert remaining_s(300, 0.6, 900) > remaining_s(300, 0.6, 600) > remaining_s(300, 0.6, 450)
    # Regular handling times (small CV) leave just the difference.
    assert abs(remaining_s(300, 0.001, 120) - 180) < 1e-6
    assert remaining_s(300, 0.1, 100) == pytest.approx(200, abs=5)
