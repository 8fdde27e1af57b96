"""Entry-point registration and the aggregation helpers."""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vlmhb.core.contracts import Sample
from vlmhb.core.registry import Registry
from vlmhb.metrics.aggregate import bootstrap_ci, group_table
from vlmhb.metrics.base import Metric
from vlmhb.metrics.builtins import BUILTINS, CER, EXACT_MATCH
from vlmhb.metrics.runfiles import AnswerRow, write_csv_atomic
from vlmhb.metrics.scoring import score_table
from vlmhb.metrics.stage import EvaluationStage


def test_core_registry_finds_every_builtin() -> None:
    registry: Registry[Metric] = Registry("metric")
    metric = registry.get("cer_ci")
    assert isinstance(metric, Metric) and metric.name == "cer_ci"
    assert metric.normalization.casefold
    assert set(BUILTINS) <= set(registry.names())
    for name in BUILTINS:
        assert registry.get(name) is BUILTINS[name]


def test_entry_points_declared() -> None:
    names = {ep.name for ep in entry_points(group="vlmhb.metrics")}
    assert names >= set(BUILTINS)
    stage = Registry("stage").get("evaluation")
    assert stage is EvaluationStage


def test_bootstrap_ci_is_seeded_and_brackets_mean() -> None:
    values = np.random.default_rng(1).random(500)
    low, high = bootstrap_ci(values, resamples=1000, seed=3)
    assert (low, high) == bootstrap_ci(values, resamples=1000, seed=3)
    assert low < values.mean() < high
    # standard error of the mean ~ 0.0129: the 95% interval is about ±1.96 SE wide
    assert 0.03 < high - low < 0.07
    assert np.isnan(bootstrap_ci(np.array([0.5]))[0])
    constant = bootstrap_ci(np.full(50, 0.25))
    assert constant == (0.25, 0.25)


def test_bootstrap_chunking_does_not_change_result() -> None:
    # 40_000 values: chunks of 50 resamples; same draws as one big block would give
    values = np.random.default_rng(2).random(40_000)
    low, high = bootstrap_ci(values, resamples=120, seed=0)
    rng = np.random.default_rng(0)
    means = np.concatenate(
        [values[rng.integers(0, 40_000, size=(k, 40_000))].mean(axis=1) for k in (50, 50, 20)]
    )
    assert (low, high) == tuple(np.percentile(means, [2.5, 97.5]))


def test_group_table_macro_and_micro() -> None:
    samples = [
        Sample(id="0", answer="abcd", doc_class="a", question_type="x"),
        Sample(id="1", answer="ab", doc_class="a", question_type="x"),
        Sample(id="2", answer="abc", doc_class="b", question_type="y"),
    ]
    answers = {
        i: AnswerRow(id=i, model_answer=a) for i, a in [("0", "abcd"), ("1", ""), ("2", "abd")]
    }
    table, problems = score_table(samples, answers, [CER, EXACT_MATCH], "vqa")
    assert problems == []
    grouped = group_table(table, [CER, EXACT_MATCH], ["doc_class"]).set_index("doc_class")
    assert list(grouped.columns) == ["n", "cer", "exact_match", "cer_micro"]
    assert grouped.loc["a", "cer"] == pytest.approx(0.5)  # mean of 0 and 1
    assert grouped.loc["a", "cer_micro"] == pytest.approx(2 / 6)  # 2 edits / 6 ref chars
    assert grouped.loc["b", "cer"] == pytest.approx(1 / 3)


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "metrics_general.csv"
    target.write_text("old", encoding="utf-8")
    write_csv_atomic(pd.DataFrame({"metric": ["cer"], "macro": [0.5]}), target)
    assert target.read_text(encoding="utf-8") == "metric;macro\ncer;0.5\n"
    assert [p.name for p in tmp_path.iterdir()] == ["metrics_general.csv"]
