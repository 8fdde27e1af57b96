"""Building run directories and stage tasks for the evaluation stage tests."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from vlmhb.core.contracts import (
    DatasetSpec,
    Event,
    GenerationParams,
    ModelSpec,
    PreparedSample,
    RunSpec,
    StageName,
    StageTask,
    TaskSpec,
)
from vlmhb.core.files import ANSWER_COLUMNS, ANSWERS_FILE, SAMPLES_FILE
from vlmhb.core.stages import StageContext


def write_samples(run_dir: Path, samples: list[PreparedSample]) -> None:
    with (run_dir / SAMPLES_FILE).open("w", encoding="utf-8") as handle:
        for sample in samples:
            handle.write(sample.model_dump_json() + "\n")


def write_answers(
    run_dir: Path, rows: list[dict[str, Any]], columns: list[str] = ANSWER_COLUMNS
) -> None:
    with (run_dir / ANSWERS_FILE).open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, delimiter=";")
        writer.writeheader()
        for row in rows:
            writer.writerow({c: row.get(c, "") for c in columns})


def make_task(
    run_dir: Path, metrics: list[str], kind: str = "vqa", aggregations: list[str] | None = None
) -> StageTask:
    task_spec = TaskSpec(
        name="t",
        dataset="d",
        kind=kind,
        metrics=metrics,
        **({"aggregations": aggregations} if aggregations else {}),
    )
    run = RunSpec(
        experiment="exp",
        model=ModelSpec(name="m", backend="scripted"),
        task=task_spec,
        dataset=DatasetSpec(name="d", format="vqa_csv", path=run_dir),
        generation=GenerationParams(),
    )
    return StageTask(
        id="eval-1", stage=StageName.EVALUATION, experiment="exp", run=run, run_dir=run_dir
    )


class Recorder:
    """A StageContext whose events are kept for assertions."""

    def __init__(self, task: StageTask) -> None:
        self.events: list[Event] = []
        self.ctx = StageContext(task, self.events.append)

    @property
    def logs(self) -> list[str]:
        return [e.message for e in self.events if e.type == "log"]
