"""Erlang C against the worked values of the field brief (domain.md)."""

from __future__ import annotations

import math

import pytest

from center.reports import erlang


def test_worked_example_seven_counters():
    s = erlang.evaluate(7, arrivals_per_hour=60, aht_s=360, target_s=900)
    assert s.load == pytest.approx(6.0)
    assert s.p_wait == pytest.approx(0.6138, abs=5e-5)
    assert s.service_level == pytest.approx(0.9496, abs=5e-5)
    assert s.mean_wait_s / 60 == pytest.approx(3.68, abs=5e-3)


def test_worked_example_eight_counters():
    s = erlang.evaluate(8, arrivals_per_hour=60, aht_s=360, target_s=900)
    assert s.p_wait == pytest.approx(0.3570, abs=5e-5)
    assert s.service_level == pytest.approx(0.9976, abs=5e-5)
    assert s.mean_wait_s / 60 == pytest.approx(1.07, abs=5e-3)


def test_single_counter_is_m_m_1():
    # One counter: P(wait) = utilisation, mean wait = ρ·AHT/(1 − ρ).
    assert erlang.p_wait(1, 0.5) == pytest.approx(0.5)
    assert erlang.mean_wait(1, 0.5, 600) == pytest.approx(600.0)


def test_overloaded_counters_never_reach_target():
    assert erlang.p_wait(6, 6.0) == 1.0
    assert erlang.service_level(5, 6.0, 360, 900) == 0.0
    assert math.isinf(erlang.mean_wait(6, 6.0, 360))


def test_counters_needed_is_the_smallest_reaching_the_target():
    assert erlang.counters_needed(60, 360, 900, 0.95).counters == 8  # 7 gives 0.9496
    assert erlang.counters_needed(60, 360, 900, 0.94).counters == 7
    assert erlang.counters_needed(0, 360, 900, 0.8).counters == 0


def test_pooled_needs_fewer_counters_than_dedicated():
    pooled = erlang.counters_needed(40, 360, 900, 0.8).counters
    dedicated = sum(erlang.counters_needed(10, 360, 900, 0.8).counters for _ in range(4))
    assert pooled < dedicated


def test_large_pools_are_numerically_stable():
    s = erlang.evaluate(320, arrivals_per_hour=3000, aht_s=360, target_s=60)
    assert 0 <= s.p_wait <= 1 and 0 <= s.service_level <= 1
