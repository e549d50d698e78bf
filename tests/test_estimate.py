"""The wait estimate replays the queue through the counters: shared counters, preferences, priority."""

from __future__ import annotations

from datetime import datetime

import pytest

from center.queue.actors import Actor
from center.queue.estimate import (
    Arrivals,
    CounterLoad,
    Waiting,
    estimate_wait,
    remaining_quantile,
    remaining_s,
    session_start,
)
from tests.conftest import DEMO_CONFIG

STAFF = Actor("staff1", "staff")


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
    # CC newcomers come every 100 s (at 50, 150, 250 s...) and take 90 s. Counter 0 wakes for each of
    # them, so at 150 s no CC citizen is left for counter 1, which takes our HT ticket.
    counters = [CounterLoad(("CC",), "open", 0.0), CounterLoad(("CC", "HT"), "open", 150.0)]
    queue = [Waiting(1, "HT", False, None)]
    assert estimate_wait(queue=queue, ticket_id=1, counters=counters, handling_s={"CC": 90, "HT": 600},
                         strict=True, interleave_every=2, arrivals_per_s={"CC": 1 / 100}) == 150
    # Without counter 0, and CC taking 150 s, counter 1 never catches up with the CC newcomers: it takes
    # our ticket once it has waited the 30-minute aging limit (free at 150 + 11 × 150 = 1800 s).
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


def test_newcomers_stop_when_the_site_stops_issuing():
    # Counter 0 serves CT first, then HT, and is busy for 150 s; a CT newcomer every 100 s would keep it
    # on CT until our HT ticket has waited 30 minutes (newcomers come at half a gap, 50 s, then 150 s...).
    counters = [CounterLoad(("CT", "HT"), "open", 150.0)]
    queue = [Waiting(1, "HT", False, None)]
    kwargs = {"queue": queue, "ticket_id": 1, "counters": counters, "handling_s": {"CT": 150, "HT": 600},
              "strict": True, "interleave_every": 2, "aging_s": 1800}
    assert estimate_wait(**kwargs, arrivals_per_s=Arrivals({"CT": 1 / 100})) == 1800
    # Issuing stops in 60 s: one newcomer (at 50 s), served from 150 s, then our ticket at 300 s.
    assert estimate_wait(**kwargs, arrivals_per_s=Arrivals({"CT": 1 / 100}, until_s=60)) == 300
    assert estimate_wait(**kwargs, arrivals_per_s=Arrivals({"CT": 1 / 100}, until_s=0)) == 150


def test_session_start_is_the_start_of_the_current_opening_interval(tmp_path):
    from center.config.read import load_config

    text = DEMO_CONFIG.read_text(encoding="utf-8").replace(
        'hours = { default = ["00:00-24:00"] }', 'hours = { default = ["07:30-11:30", "13:30-17:00"] }')
    (tmp_path / "c.toml").write_text(text, encoding="utf-8")
    cfg = load_config(tmp_path / "c.toml")
    site, tz = cfg.sites["main"], cfg.tz
    monday = datetime(2026, 11, 23, tzinfo=tz)
    assert session_start(monday.replace(hour=14, minute=5), site, tz) == monday.replace(hour=13, minute=30)
    assert session_start(monday.replace(hour=8), site, tz) == monday.replace(hour=7, minute=30)
    assert session_start(monday.replace(hour=12), site, tz) is None  # lunch break


def test_a_citizen_at_the_counter_longer_than_usual_still_counts_in_the_wait(engine, clock):
    # Only counter main-1 (CT first) is open. Its citizen has been there 10 minutes, more than the
    # 4.5-minute default for CT: the next CT citizen still waits for a good part of a usual service,
    # not a token 10 % of it.
    first = engine.issue("main", "CT")
    engine.call_next("main-1", STAFF)
    clock.advance(minutes=10)
    nxt = engine.issue("main", "CT")
    assert first["estimated_wait_s"] == 0
    assert nxt["estimated_wait_s"] >= 0.4 * 4.5 * 60


def test_several_busy_counters_free_one_sooner_than_the_shortest_expected_time():
    # Three counters each busy with a citizen who has just been called (mean 600 s, CV 0.6): the first of
    # them to be free comes sooner than 600 s — the median of the replays is below the single replay
    # with expected times, and above nothing at all.
    busy = [CounterLoad(("CT",), "open", 600.0, busy_mean_s=600.0, busy_cv=0.6, busy_elapsed_s=0.0)
            for _ in range(3)]
    queue = [w(1, "CT")]
    kwargs = {"queue": queue, "ticket_id": 1, "counters": busy, "handling_s": {"CT": 600}, "strict": True,
              "interleave_every": 2}
    single = estimate_wait(**kwargs, draws=1)
    drawn = estimate_wait(**kwargs)
    assert single == 600
    assert 150 < drawn < 500
    # A certain remaining time (no law given) is used as it is.
    certain = [CounterLoad(("CT",), "open", 600.0) for _ in range(3)]
    assert estimate_wait(**{**kwargs, "counters": certain}) == 600


def test_remaining_quantiles_follow_the_remaining_time_law():
    lows = [remaining_quantile(300, 0.6, 120, q) for q in (0.1, 0.5, 0.9)]
    assert lows[0] < lows[1] < lows[2]
    assert lows[1] < remaining_s(300, 0.6, 120) < lows[2]  # right-skewed: median below the mean
    assert remaining_quantile(300, 0.001, 120, 0.9) == pytest.approx(180)
