"""Settings that change what inference measures are part of the run id (bug 2 of issue 8):
a changed concurrency, request rate, warm-up, stream, timeout, retries or GPU count
measures afresh in a new run folder; configs that leave them at their defaults keep the
ids they had; ``run.json`` and ``manifest.json`` record what ran."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from vlmhb.core.contracts import (
    DatasetSpec,
    GenerationParams,
    LoadSpec,
    ModelSpec,
    ResourceSpec,
    RunSpec,
    TaskSpec,
)

from .core_cli_helpers import run_vlmhb


def _run(**model: Any) -> RunSpec:
    generation = model.pop("generation", GenerationParams())
    return RunSpec(
        experiment="e",
        model=ModelSpec(name="m", backend="scripted", params={"rule": "echo"}, **model),
        task=TaskSpec(name="t", dataset="d"),
        dataset=DatasetSpec(name="d", format="vqa_csv", path=Path("data/d")),
        generation=generation,
        dataset_fingerprint="abc",
    )


def test_default_settings_keep_the_ids_they_had() -> None:
    # ids computed before concurrency & co. joined the id: default configs keep them
    assert _run().run_id == "5f0c3ebd0097"
    assert _run(load=LoadSpec(warmup=2)).run_id == "1cd604b7471c"
    explicit = _run(
        concurrency=4,
        resources=ResourceSpec(gpus=0),
        generation=GenerationParams(stream=True, timeout_s=120, retries=3),
    )
    assert explicit.run_id == "5f0c3ebd0097"


@pytest.mark.parametrize(
    "change",
    [
        {"concurrency": 8},
        {"load": LoadSpec(request_rate=5)},
        {"load": LoadSpec(warmup=3)},
        {"load": LoadSpec(slo={"ttft": 200})},
        {"resources": ResourceSpec(gpus=1)},
        {"generation": GenerationParams(stream=False)},
        {"generation": GenerationParams(timeout_s=5)},
        {"generation": GenerationParams(retries=0)},
        {"generation": GenerationParams(max_tokens=16)},
    ],
    ids=[
        "concurrency",
        "request_rate",
        "warmup",
        "slo",
        "gpus",
        "stream",
        "timeout_s",
        "retries",
        "max_tokens",
    ],
)
def test_a_setting_that_changes_the_measurement_changes_the_run_id(change: dict[str, Any]) -> None:
    assert _run(**change).run_id != _run().run_id


def test_settings_that_do_not_change_the_measurement_keep_the_run_id() -> None:
    assert _run(startup_timeout_s=600).run_id == _run().run_id


EXPERIMENT = """\
name: conc
models:
  - name: slow
    backend: scripted
    params: {{answers_file: {answers}, answer_column: answer, latency_ms: 40,
             request_log: {log}}}
    concurrency: {concurrency}
datasets:
  - {{name: docs, format: vqa_csv, path: {data}}}
tasks:
  - {{name: fields, dataset: docs, kind: vqa, metrics: [cer]}}
"""


def _vlmhb(*args: str, cwd: Path) -> None:
    proc = run_vlmhb(*args, cwd=cwd)
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"


def _queue_ms(run_dir: Path) -> list[float]:
    with (run_dir / "answers.csv").open(encoding="utf-8", newline="") as handle:
        return [float(row["queue_ms"]) for row in csv.DictReader(handle, delimiter=";")]


@pytest.mark.slow
def test_changing_only_concurrency_measures_again_and_records_what_ran(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _vlmhb("datasets", "synth", "--out", str(data), "--n", "1", "--seed", "7", cwd=tmp_path)
    log = tmp_path / "requests.log"
    config = tmp_path / "experiment.yaml"

    def run_at(concurrency: int) -> Path:
        config.write_text(
            EXPERIMENT.format(
                answers=data / "annotation.csv", log=log, data=data, concurrency=concurrency
            ),
            encoding="utf-8",
        )
        _vlmhb("run", str(config), cwd=tmp_path)
        runs = [p.parent for p in (tmp_path / "runs" / "conc").glob("*/run.json")]
        for run_dir in runs:
            spec = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
            if spec["model"]["concurrency"] == concurrency:
                return run_dir
        raise AssertionError(f"no run folder records concurrency {concurrency}: {runs}")

    first = run_at(1)
    samples = len(log.read_text(encoding="utf-8").split())
    assert samples == 26
    assert max(_queue_ms(first)) > 400  # one at a time: the last waited for 25 others

    second = run_at(26)
    assert second != first, "a changed concurrency re-used the finished run folder"
    assert len(log.read_text(encoding="utf-8").split()) == 2 * samples, "inference not re-run"
    assert max(_queue_ms(second)) < 200  # all at once: nobody waited for a slot
    for run_dir, concurrency in ((first, 1), (second, 26)):
        spec = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
        manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
        assert spec["model"]["concurrency"] == concurrency
        assert manifest["spec"]["model"]["concurrency"] == concurrency
        assert manifest["inference"]["concurrency"] == concurrency

    # back to concurrency 1: the finished run of that setting is found again, nothing re-asked
    assert run_at(1) == first
    assert len(log.read_text(encoding="utf-8").split()) == 2 * samples
