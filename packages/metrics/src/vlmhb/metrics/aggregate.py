"""Aggregating the by-id table to by_doc_question, by_doc_type and general levels."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from vlmhb.core.rundir import InferenceStats
from vlmhb.metrics.base import Metric
from vlmhb.metrics.runfiles import AnswerRow
from vlmhb.metrics.scoring import (
    DOCUMENT,
    HIDDEN_COLUMNS,
    PREDICTION,
    REFERENCE,
    SAMPLE_ID,
)
from vlmhb.metrics.timing import timing_rows

LEVELS = ("by_id", "by_doc_question", "by_doc_type", "general")
GROUP_KEYS = {"by_doc_question": ["doc_class", "question_type"], "by_doc_type": ["doc_class"]}
GENERAL_COLUMNS = ["metric", "macro", "micro", "ci95_low", "ci95_high", "n"]


def _rows(frame: pd.DataFrame, metric: Metric) -> pd.DataFrame:
    """The rows ``metric`` was (or, corpus-only, would be) scored on."""
    mask = frame[DOCUMENT] == metric.document_level
    if metric.per_sample:
        mask &= frame[metric.name].notna()
    return frame[mask]


def macro_micro(frame: pd.DataFrame, metric: Metric) -> tuple[float, float, int]:
    """(macro, micro, n rows) of ``metric`` over ``frame``. Macro is the mean of the
    per-row values (for a corpus-only metric: its corpus value); micro the corpus value,
    NaN where the metric has none."""
    rows = _rows(frame, metric)
    if rows.empty:
        return math.nan, math.nan, 0

    def corpus() -> float:
        value = metric.corpus(list(rows[PREDICTION]), list(rows[REFERENCE]))
        return math.nan if value is None else float(value)

    if not metric.per_sample:
        return corpus(), math.nan, len(rows)
    macro = float(rows[metric.name].mean())
    return macro, corpus() if metric.has_micro else math.nan, len(rows)


def group_table(frame: pd.DataFrame, metrics: Sequence[Metric], keys: list[str]) -> pd.DataFrame:
    """One row per group of ``keys``: keys, ``n`` (distinct samples), ``<metric>`` (macro)
    for every metric, then ``<metric>_micro`` for metrics with a micro form."""
    records = []
    for group_key, group in frame.groupby(keys, sort=True, dropna=False):
        values = group_key if isinstance(group_key, tuple) else (group_key,)
        record: dict[str, object] = dict(zip(keys, values, strict=True))
        record["n"] = group[SAMPLE_ID].nunique()
        micros: dict[str, float] = {}
        for metric in metrics:
            macro, micro, _ = macro_micro(group, metric)
            record[metric.name] = macro
            if metric.per_sample and metric.has_micro:
                micros[f"{metric.name}_micro"] = micro
        record.update(micros)
        records.append(record)
    columns = [
        *keys,
        "n",
        *(m.name for m in metrics),
        *(f"{m.name}_micro" for m in metrics if m.per_sample and m.has_micro),
    ]
    return pd.DataFrame.from_records(records, columns=columns)


def bootstrap_ci(
    values: np.ndarray, resamples: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean of ``values`` (seeded; resampled in chunks so
    memory stays bounded). NaN for fewer than 2 values."""
    values = np.asarray(values, dtype=float)
    n = len(values)
    if n < 2:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    chunk = max(1, 2_000_000 // n)
    means = np.empty(resamples)
    for start in range(0, resamples, chunk):
        stop = min(resamples, start + chunk)
        idx = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = values[idx].mean(axis=1)
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(means, [tail, 100.0 - tail])
    return float(low), float(high)


def general_table(
    frame: pd.DataFrame,
    metrics: Sequence[Metric],
    answers: Iterable[AnswerRow],
    resamples: int = 1000,
    seed: int = 0,
    stats: InferenceStats | None = None,
    slo: dict[str, float] | None = None,
) -> pd.DataFrame:
    """Long form: one row per metric (macro, micro, bootstrap CI of the macro, n rows),
    then timing rows (``vlmhb.metrics.timing``; value in ``macro``) from the answers and
    the run's ``stats``, with goodput rows when an ``slo`` is given."""
    records: list[dict[str, object]] = []
    for metric in metrics:
        macro, micro, n = macro_micro(frame, metric)
        low = high = math.nan
        if metric.per_sample:
            low, high = bootstrap_ci(_rows(frame, metric)[metric.name].to_numpy(), resamples, seed)
        records.append(
            {
                "metric": metric.name,
                "macro": macro,
                "micro": micro,
                "ci95_low": low,
                "ci95_high": high,
                "n": n,
            }
        )
    records.extend(timing_rows(answers, stats, slo))
    return pd.DataFrame.from_records(records, columns=GENERAL_COLUMNS)


def level_tables(
    frame: pd.DataFrame,
    metrics: Sequence[Metric],
    answers: Iterable[AnswerRow],
    levels: Sequence[str],
    seed: int = 0,
    stats: InferenceStats | None = None,
    slo: dict[str, float] | None = None,
) -> dict[str, pd.DataFrame]:
    """The table of each requested level, keyed by level name."""
    tables: dict[str, pd.DataFrame] = {}
    for level in levels:
        if level == "by_id":
            tables[level] = frame.drop(columns=HIDDEN_COLUMNS)
        elif level == "general":
            tables[level] = general_table(frame, metrics, answers, seed=seed, stats=stats, slo=slo)
        else:
            tables[level] = group_table(frame, metrics, GROUP_KEYS[level])
    return tables


# VLMHyperBench v0.1's column names (its metric_evaluator): ``<metric>_error`` for the
# error rates, BLEU ``bleu_score`` per sample and overall but ``bleu_error`` per group.
V01_COLUMNS = {"cer": "cer_error", "wer": "wer_error", "bleu": "bleu_score"}
V01_GROUP_COLUMNS = {**V01_COLUMNS, "bleu": "bleu_error"}
# v0.1 wrote BLEU as sacrebleu's 0-100 score; ours is 0-1.
V01_SCALE = {"bleu": 100.0}


def v01_tables(
    tables: dict[str, pd.DataFrame], metrics: Sequence[Metric]
) -> dict[str, pd.DataFrame]:
    """``tables`` (of ``level_tables``) as VLMHyperBench v0.1 wrote them: wide, one column
    per metric, CER/WER/BLEU under v0.1's names (``V01_COLUMNS``; other metrics keep
    theirs) and BLEU on v0.1's 0-100 scale. Per sample the sample's value; per group and
    overall the corpus (micro) value where the metric has one, as v0.1 computed them,
    else the macro. ``general`` is one row without the timing rows."""
    out: dict[str, pd.DataFrame] = {}
    for level, table in tables.items():
        if level == "by_id":
            frame = table.copy()
            for metric in metrics:
                if metric.name in frame:
                    frame[metric.name] = frame[metric.name] * V01_SCALE.get(metric.name, 1.0)
            out[level] = frame.rename(columns=V01_COLUMNS)
        elif level == "general":
            values = table.set_index("metric")
            row = {
                V01_COLUMNS.get(m.name, m.name): _v01_value(
                    values.at[m.name, "micro"], values.at[m.name, "macro"], m.name
                )
                for m in metrics
            }
            out[level] = pd.DataFrame([row])
        else:
            keys = GROUP_KEYS[level]
            frame = table[keys].copy()
            for metric in metrics:
                micro = table.get(f"{metric.name}_micro", table[metric.name])
                frame[V01_GROUP_COLUMNS.get(metric.name, metric.name)] = [
                    _v01_value(a, b, metric.name)
                    for a, b in zip(micro, table[metric.name], strict=True)
                ]
            out[level] = frame
    return out


def _v01_value(micro: object, macro: object, name: str) -> float:
    """The micro value (the macro where there is none) on v0.1's scale for ``name``."""
    value = float(micro)  # type: ignore[arg-type]
    if math.isnan(value):
        value = float(macro)  # type: ignore[arg-type]
    return value * V01_SCALE.get(name, 1.0)
