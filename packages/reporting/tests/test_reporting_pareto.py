"""Pareto front of (latency, quality): lower latency and better quality win."""

from __future__ import annotations

import math

import pytest

from vlmhb.reporting.pareto import pareto_front

NAN = math.nan


def test_higher_is_better_keeps_the_tradeoff_and_drops_the_dominated() -> None:
    latency = [100.0, 500.0, 900.0, 600.0]
    anls = [0.50, 0.80, 0.95, 0.70]  # index 3: slower and worse than index 1
    assert pareto_front(latency, anls, higher_is_better=True) == [0, 1, 2]


def test_lower_is_better_flips_the_quality_direction() -> None:
    latency = [100.0, 500.0, 900.0, 600.0]
    cer = [0.50, 0.20, 0.05, 0.30]
    assert pareto_front(latency, cer, higher_is_better=False) == [0, 1, 2]
    # The same numbers read as higher-is-better: only the fastest and the highest survive.
    assert pareto_front(latency, cer, higher_is_better=True) == [0]


def test_identical_points_are_both_on_the_front() -> None:
    assert pareto_front([200.0, 200.0, 300.0], [0.9, 0.9, 0.8]) == [0, 1]


def test_same_latency_worse_quality_is_dominated() -> None:
    assert pareto_front([200.0, 200.0], [0.7, 0.9]) == [1]
    assert pareto_front([200.0, 200.0], [0.7, 0.9], higher_is_better=False) == [0]


def test_same_quality_slower_is_dominated() -> None:
    assert pareto_front([300.0, 100.0], [0.9, 0.9]) == [1]


def test_missing_values_are_never_on_the_front() -> None:
    assert pareto_front([NAN, 500.0, 100.0], [0.99, NAN, 0.4]) == [2]
    assert pareto_front([], []) == []


def test_one_point_that_wins_both_ways_is_the_whole_front() -> None:
    assert pareto_front([50.0, 100.0, 400.0], [0.01, 0.2, 0.3], higher_is_better=False) == [0]


def test_lengths_must_match() -> None:
    with pytest.raises(ValueError, match="same length"):
        pareto_front([1.0], [1.0, 2.0])
