"""The same samples across runs: answers side by side, metric values and their deltas
against the first run (``GET /samples/compare``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vlmhb.backend.run_files import SampleData
from vlmhb.backend.schemas import ComparePage, CompareRow, SampleImages


def compare_runs(
    loaded: list[tuple[str, SampleData]],
    offset: int,
    limit: int,
    only_different: bool,
    images: Callable[[dict[str, Any]], SampleImages],
) -> ComparePage:
    """One page of the comparison of ``loaded`` (``(run id, its samples)``, the first is
    the reference): the first run's samples in order, then the others' extra ones; the
    metrics every run has; ``only_different``: samples whose answers differ. ``images``
    gives the links of a row of the first run."""
    first_id, first = loaded[0]
    metrics = [m for m in first.metric_names if all(m in d.metric_names for _, d in loaded)]
    ids = list(first.order) + [
        i
        for _, d in loaded[1:]
        for i in d.order
        if i not in first.samples and i not in first.answers
    ]
    ids = list(dict.fromkeys(ids))
    if only_different:
        ids = [
            i
            for i in ids
            if len({(d.answers.get(i) or {}).get("model_answer") for _, d in loaded}) > 1
        ]
    items = []
    for sample_id in ids[offset : offset + limit]:
        rows = {run_id: data.row(sample_id) for run_id, data in loaded}
        base = rows[first_id]
        values = {m: {run_id: r["metrics"].get(m) for run_id, r in rows.items()} for m in metrics}
        deltas = {
            m: {
                run_id: (v - values[m][first_id])
                if v is not None and values[m][first_id] is not None
                else None
                for run_id, v in values[m].items()
            }
            for m in metrics
        }
        reference = next((r for r in rows.values() if r["question"] or r["ground_truth"]), base)
        items.append(
            CompareRow(
                **images(base).model_dump(),
                id=sample_id,
                question=reference["question"],
                ground_truth=reference["ground_truth"],
                doc_class=reference["doc_class"],
                question_type=reference["question_type"],
                answers={run_id: r["answer"] for run_id, r in rows.items()},
                metrics=values,
                deltas=deltas,
            )
        )
    return ComparePage(
        runs=[r for r, _ in loaded],
        metrics=metrics,
        items=items,
        total=len(ids),
        offset=offset,
        limit=limit,
    )
