"""Each task kind declares its default metrics and aggregation levels once
(``TaskKindInfo``); a task that lists none gets its kind's, through load, plan and
evaluation."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from vlmhb.core.config import load_experiment
from vlmhb.core.contracts import PreparedSample, StageName
from vlmhb.core.orchestration.graph import plan_experiment
from vlmhb.core.registries import get_registries
from vlmhb.metrics.stage import EvaluationStage

from .metrics_stage_helpers import Recorder, write_answers, write_samples

EXPERIMENT = """\
name: kinds
models: [{name: m, backend: scripted}]
datasets: [{name: d, format: vqa_csv, path: data}]
tasks:
  - {name: classes, dataset: d, kind: classification}
  - {name: pages, dataset: d, kind: ordering}
  - {name: fields, dataset: d, kind: vqa}
"""

SAMPLES = {
    "classification": [
        ("a", "passport", "passport"),
        ("b", "snils", "invoice"),
        ("c", "invoice", "invoice"),
    ],
    "ordering": [("a", "[1, 2, 3]", "[1, 2, 3]"), ("b", "[1, 2, 3]", "[3, 2, 1]")],
}


def test_tasks_without_metrics_get_their_kinds_defaults(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "annotation.csv").write_text(
        "data_index;image_path;question;answer\n", encoding="utf-8"
    )
    (tmp_path / "exp.yaml").write_text(EXPERIMENT, encoding="utf-8")
    spec = load_experiment(tmp_path / "exp.yaml")
    kinds = get_registries().tasks
    for task in spec.tasks:
        info = kinds.get(task.kind)
        assert task.metrics == info.default_metrics
        assert task.aggregations == info.default_aggregations
    assert spec.tasks[2].metrics == ["cer", "wer", "anls"]
    assert spec.tasks[0].metrics == ["accuracy", "macro_f1"]
    evaluations = {
        t.run.task.kind: t
        for t in plan_experiment(spec)
        if t.stage == StageName.EVALUATION and t.run is not None
    }
    for kind, rows in SAMPLES.items():
        task = evaluations[kind]
        task.run_dir = tmp_path / kind
        task.run_dir.mkdir()
        write_samples(
            task.run_dir, [PreparedSample(id=i, answer=ref, doc_class="doc") for i, ref, _ in rows]
        )
        write_answers(task.run_dir, [{"id": i, "model_answer": answer} for i, _, answer in rows])
        result = EvaluationStage().run(task, Recorder(task).ctx)
        assert result.status == "COMPLETED", result.message
        with (task.run_dir / "metrics_by_id.csv").open(encoding="utf-8") as handle:
            header = next(csv.reader(handle, delimiter=";"))
        assert set(kinds.get(kind).default_metrics) <= set(header)
    assert result.summary["kendall_tau"] == pytest.approx(0.0)


def test_listed_metrics_are_kept(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "exp.yaml").write_text(
        EXPERIMENT.replace(
            "kind: classification}",
            "kind: classification, metrics: [accuracy], aggregations: [general]}",
        ),
        encoding="utf-8",
    )
    spec = load_experiment(tmp_path / "exp.yaml", check=False)
    assert spec.tasks[0].metrics == ["accuracy"] and spec.tasks[0].aggregations == ["general"]
