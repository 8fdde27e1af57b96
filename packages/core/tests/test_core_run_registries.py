"""One registry per run: what ``vlmhb validate`` resolves through the experiment's
registry folders, every stage process resolves the same way."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vlmhb.core.config import load_experiment
from vlmhb.core.contracts import ExperimentSpec
from vlmhb.core.errors import ConfigError
from vlmhb.core.orchestration.graph import plan_experiment

VLMHB = [sys.executable, "-m", "vlmhb.core.cli.main"]

pytestmark = pytest.mark.slow

EXPERIMENT = """\
name: variants
registry_dirs: [registry]
models:
  - name: oracle
    backend: scripted
    params: {{answers_file: {answers}, answer_column: answer, latency_ms: 1}}
datasets:
  - {{name: mini, format: vqa_csv, path: {data}}}
tasks:
  - {{name: fields, dataset: mini, kind: vqa, metrics: [cer, cer_upper]}}
"""

VARIANT = """\
kind: metric
name: cer_upper
base: cer
options: {casefold: true}
"""


def vlmhb(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*VLMHB, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        timeout=300,
    )


def test_metric_variant_from_registry_folder_reaches_evaluation(
    tmp_path: Path, vqa_dataset: Path
) -> None:
    (tmp_path / "registry").mkdir()
    (tmp_path / "registry" / "metrics.yaml").write_text(VARIANT, encoding="utf-8")
    config = tmp_path / "exp.yaml"
    config.write_text(
        EXPERIMENT.format(answers=vqa_dataset / "annotation.csv", data=vqa_dataset),
        encoding="utf-8",
    )
    assert vlmhb("validate", str(config), cwd=tmp_path).returncode == 0
    proc = vlmhb("run", str(config), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    run = next(p for p in (tmp_path / "runs" / "variants").iterdir() if (p / "run.json").is_file())
    with (run / "metrics_by_id.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter=";"))
    assert len(rows) == 4 and {"cer", "cer_upper"} <= set(rows[0])
    assert all(float(r["cer_upper"]) == 0.0 for r in rows)


def test_stage_tasks_carry_the_experiments_registry_folders(
    tmp_path: Path, vqa_dataset: Path
) -> None:
    spec = ExperimentSpec.model_validate(
        {
            "name": "x",
            "output_dir": tmp_path / "runs",
            "registry_dirs": [tmp_path],
            "models": [{"name": "m", "backend": "scripted"}],
            "datasets": [{"name": "d", "format": "vqa_csv", "path": vqa_dataset}],
            "tasks": [{"name": "t", "dataset": "d"}],
        }
    )
    graph = plan_experiment(spec)
    assert [t.registry_dirs for t in graph] == [[tmp_path]] * 4


@pytest.mark.parametrize(
    ("variant", "metric", "expected"),
    [
        (
            VARIANT.replace("casefold", "lowercase"),
            "cer_upper",
            "unknown metric option 'lowercase'",
        ),
        (VARIANT, "kendall_tau", "metric 'kendall_tau' applies to ordering tasks, not 'vqa'"),
    ],
)
def test_validate_loads_metrics_as_evaluation_will(
    tmp_path: Path, vqa_dataset: Path, variant: str, metric: str, expected: str
) -> None:
    (tmp_path / "registry").mkdir()
    (tmp_path / "registry" / "metrics.yaml").write_text(variant, encoding="utf-8")
    config = tmp_path / "exp.yaml"
    config.write_text(
        EXPERIMENT.format(answers=vqa_dataset / "annotation.csv", data=vqa_dataset).replace(
            "cer_upper", metric
        ),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_experiment(config)
    assert str(caught.value).startswith(f"{config}:")
    assert "field 'tasks.0.metrics.1'" in str(caught.value) and expected in str(caught.value)
