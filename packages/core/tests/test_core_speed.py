"""vlmhb.core.speed: percentiles against numpy and statistics on generated cases, SLO texts
and mappings (the one parser of LoadSpec, bench-serve and the evaluation stage), goodput,
and the metadata of every speed row."""

from __future__ import annotations

import math
import random
import statistics
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from vlmhb.core.contracts import LoadSpec
from vlmhb.core.speed import (
    SPEED_ROWS,
    STAT_COLUMNS,
    STATS,
    SloError,
    describe,
    goodput,
    meets_slo,
    parse_slo,
    percentile,
    rate,
)


def generated_cases(count: int = 600) -> list[list[float]]:
    rng = random.Random(7)
    cases: list[list[float]] = [[0.0], [5.0, 5.0], [1.0, 2.0], [-3.5, 0.0, 1e9]]
    for _ in range(count):
        size = rng.choice([1, 2, 3, 7, 10, 99, 100, 101, 1000])
        shape = rng.choice(["uniform", "lognormal", "ties", "ints"])
        if shape == "uniform":
            values = [rng.uniform(-1e3, 1e3) for _ in range(size)]
        elif shape == "lognormal":
            values = [rng.lognormvariate(3.0, 1.5) for _ in range(size)]
        elif shape == "ties":
            values = [float(rng.choice([1, 2, 2, 3])) for _ in range(size)]
        else:
            values = [float(rng.randint(0, 50)) for _ in range(size)]
        cases.append(values)
    return cases


def test_percentile_matches_numpy_linear_on_generated_cases() -> None:
    rng = random.Random(3)
    for values in generated_cases():
        for q in (0, 1, 10, 25, 50, 75, 90, 95, 99, 99.9, 100, rng.uniform(0, 100)):
            expected = float(np.percentile(values, q))
            assert percentile(values, q) == pytest.approx(expected, rel=1e-12, abs=1e-9)


def test_describe_matches_numpy_and_statistics() -> None:
    for values in generated_cases(200):
        stats = describe(values)
        assert list(stats) == list(STATS)
        assert stats["mean"] == pytest.approx(statistics.fmean(values), rel=1e-12, abs=1e-9)
        if len(values) > 1:  # statistics' "inclusive" method is numpy's linear one
            quantiles = statistics.quantiles(values, n=100, method="inclusive")
            assert stats["p50"] == pytest.approx(statistics.median(values), rel=1e-12, abs=1e-9)
            assert stats["p90"] == pytest.approx(quantiles[89], rel=1e-9, abs=1e-9)
            assert stats["p99"] == pytest.approx(quantiles[98], rel=1e-9, abs=1e-9)
        for stat in ("p90", "p99"):
            assert stats[stat] == pytest.approx(float(np.percentile(values, float(stat[1:]))))
    assert all(math.isnan(v) for v in describe([]).values())
    assert math.isnan(percentile([], 50))


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("ttft:500,tpot:50", {"ttft": 500.0, "tpot": 50.0}),
        (" TTFT : 500 , tpot:50.5 ,", {"ttft": 500.0, "tpot": 50.5}),
        ("latency:2000", {"e2el": 2000.0}),
        ("e2el:1e3,itl:30", {"e2el": 1000.0, "itl": 30.0}),
        ({"latency": 2000, "itl": "30"}, {"e2el": 2000.0, "itl": 30.0}),
        ({"TTFT": 1}, {"ttft": 1.0}),
        (None, {}),
        ("", {}),
        ({}, {}),
    ],
)
def test_parse_slo_texts_and_mappings(given: Any, expected: dict[str, float]) -> None:
    assert parse_slo(given) == expected
    assert LoadSpec.model_validate({"slo": given}).slo == expected  # the same parser


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("speed:5", "unknown SLO 'speed'"),
        ("ttft", "needs a number"),
        ("ttft:", "needs a number"),
        ("ttft:abc", "needs a number"),
        ("ttft:-1", "must be > 0"),
        ("ttft:0", "must be > 0"),
        ("ttft:inf", "must be > 0"),
        ("ttft:nan", "must be > 0"),
        ({"ttft": None}, "needs a number"),
    ],
)
def test_bad_slo_is_refused_everywhere(given: Any, message: str) -> None:
    with pytest.raises(SloError, match=message):
        parse_slo(given)
    with pytest.raises(ValidationError, match=message):
        LoadSpec.model_validate({"slo": given})


def test_meets_slo_rules() -> None:
    slo = {"ttft": 100.0, "tpot": 10.0}
    assert meets_slo({"ttft_ms": 90, "tpot_ms": 10, "latency_ms": 500}, slo, failed=False)
    assert not meets_slo({"ttft_ms": 101, "tpot_ms": 5}, slo, failed=False)
    assert not meets_slo({"ttft_ms": 50, "tpot_ms": 11}, slo, failed=False)
    assert meets_slo({"ttft_ms": 50, "latency_ms": 60}, slo, failed=False)  # one token
    assert not meets_slo({"latency_ms": 150}, slo, failed=False)  # not streamed: latency
    assert not meets_slo({"ttft_ms": 1, "tpot_ms": 1}, slo, failed=True)
    assert not meets_slo({"itl_ms_max": 31}, {"itl": 30.0}, failed=False)
    assert not meets_slo({"latency_ms": 31}, parse_slo("latency:30"), failed=False)


def test_rates_and_goodput() -> None:
    assert rate(8, 2.0) == 4.0
    assert math.isnan(rate(8, 0.0)) and math.isnan(rate(None, 1.0)) and math.isnan(rate(1, None))
    assert goodput(4, 9, 9, 2.0) == pytest.approx((4 / 9, 2.0))  # rate = met / s
    fraction, rps = goodput(0, 0, None, None)
    assert math.isnan(fraction) and math.isnan(rps)


def test_every_speed_row_is_described() -> None:
    for column in STAT_COLUMNS:
        for stat in STATS:
            info = SPEED_ROWS[f"{column}_{stat}"]
            assert (info.kind, info.higher_is_better, info.unit) == ("speed", False, "ms")
    assert SPEED_ROWS["throughput_rps"].higher_is_better is True
    assert SPEED_ROWS["goodput_fraction"].range == (0.0, 1.0)
    assert SPEED_ROWS["peak_rss_mib"].kind == "cost"
    assert SPEED_ROWS["error_rate"].kind == "reliability"
    assert SPEED_ROWS["completion_tokens_mean"].higher_is_better is None
