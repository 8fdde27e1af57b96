"""The sync-before-run step around every stage (``vlmhb.core.envs.stage_data``) with the
real ``file://`` store: the stage gets the node's local copy of a URI dataset, pulls the
run-folder files its host lacks without overwriting local work, pushes after it completes
(never after it fails), and a storage failure is an infrastructure failure that starts
nothing. The env manager is a recorder: what it runs is not the point here."""

from __future__ import annotations

from pathlib import Path

import pytest

from vlmhb.core.contracts import (
    DatasetSpec,
    GenerationParams,
    ModelSpec,
    RunSpec,
    StageName,
    StageResult,
    StageTask,
    TaskSpec,
    TaskState,
)
from vlmhb.core.envs.base import Emit, PreparedEnv
from vlmhb.core.envs.stage_data import run_with_data
from vlmhb.core.storage import DATASET_MANIFEST, join_uri
from vlmhb.data.storage.store import FileDataStore


class Recorder:
    """An env manager that records the task it is given and writes one output."""

    def __init__(self, status: TaskState = TaskState.COMPLETED) -> None:
        self.status = status
        self.seen: list[StageTask] = []
        self.dataset_files: list[str] = []

    def prepare(self, env: object) -> PreparedEnv:
        return PreparedEnv(python="python")

    async def execute(self, task: StageTask, emit: Emit) -> StageResult:
        self.seen.append(task)
        if task.run is not None and task.run.dataset.path is not None:
            root = task.run.dataset.path
            self.dataset_files = sorted(
                p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()
            )
        task.run_dir.mkdir(parents=True, exist_ok=True)
        (task.run_dir / "answers.csv").write_text("id;model_answer\n1;a\n", encoding="utf-8")
        (task.run_dir / ".tasks").mkdir(exist_ok=True)
        (task.run_dir / ".tasks" / "inference.lock").write_text("", encoding="utf-8")
        return StageResult(task_id=task.id, stage=task.stage, status=self.status)

    def cleanup(self) -> None:
        return None


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("VLMHB_DATA_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def pushed_dataset(tmp_path: Path) -> str:
    source = tmp_path / "source"
    (source / "images").mkdir(parents=True)
    (source / "annotation.csv").write_text("data_index;question\n1;q\n", encoding="utf-8")
    (source / "images" / "1.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    uri = (tmp_path / "remote" / "dataset").as_uri()
    FileDataStore().push_folder(source, uri)
    return uri


def task_of(tmp_path: Path, dataset: DatasetSpec, results_uri: str | None = None) -> StageTask:
    run = RunSpec(
        experiment="exp",
        model=ModelSpec(name="m", backend="scripted"),
        task=TaskSpec(name="t", dataset=dataset.name),
        dataset=dataset,
        generation=GenerationParams(),
    )
    return StageTask(
        id="stage-1",
        stage=StageName.INFERENCE,
        experiment="exp",
        run=run,
        run_dir=tmp_path / "runs" / "exp" / run.dir_name,
        results_uri=results_uri,
    )


async def test_the_stage_gets_the_local_copy_of_a_uri_dataset(tmp_path: Path, cache: Path) -> None:
    uri = pushed_dataset(tmp_path)
    task = task_of(tmp_path, DatasetSpec(name="d", format="vqa_csv", uri=uri))
    manager = Recorder()
    result = await run_with_data(manager, task, lambda event: None)
    assert result.status is TaskState.COMPLETED
    given = manager.seen[0].run
    assert given is not None and given.dataset.uri == uri
    assert given.dataset.path is not None and given.dataset.path.is_relative_to(cache)
    assert {"annotation.csv", "images/1.jpg"} <= set(manager.dataset_files)
    assert task.run is not None and given.run_id == task.run.run_id  # same run, same folder


async def test_a_completed_stage_is_pushed_without_its_locks(tmp_path: Path) -> None:
    results = (tmp_path / "results").as_uri()
    task = task_of(
        tmp_path, DatasetSpec(name="d", format="vqa_csv", path=tmp_path), join_uri(results, "exp")
    )
    await run_with_data(Recorder(), task, lambda event: None)
    remote = tmp_path / "results" / "exp" / task.run_dir.name
    assert (remote / "answers.csv").read_bytes() == (task.run_dir / "answers.csv").read_bytes()
    assert (remote / DATASET_MANIFEST).is_file()
    assert not (remote / ".tasks" / "inference.lock").exists()


async def test_a_failed_stage_is_not_pushed(tmp_path: Path) -> None:
    results = (tmp_path / "results").as_uri()
    task = task_of(
        tmp_path, DatasetSpec(name="d", format="vqa_csv", path=tmp_path), join_uri(results, "exp")
    )
    result = await run_with_data(Recorder(TaskState.FAILED), task, lambda event: None)
    assert result.status is TaskState.FAILED
    assert not (tmp_path / "results" / "exp").exists()


async def test_files_the_host_lacks_are_pulled_and_local_work_is_kept(tmp_path: Path) -> None:
    """The predecessor ran on another host: its outputs come from results_uri; a file
    this host has already (its own newer work) is not replaced."""
    results = (tmp_path / "results").as_uri()
    task = task_of(
        tmp_path, DatasetSpec(name="d", format="vqa_csv", path=tmp_path), join_uri(results, "exp")
    )
    elsewhere = tmp_path / "other-host" / task.run_dir.name
    elsewhere.mkdir(parents=True)
    (elsewhere / "samples.jsonl").write_text('{"id": "1"}\n', encoding="utf-8")
    (elsewhere / "answers.csv").write_text("id;model_answer\n1;old\n", encoding="utf-8")
    FileDataStore().push_folder(elsewhere, join_uri(results, "exp", task.run_dir.name))
    task.run_dir.mkdir(parents=True)
    (task.run_dir / "answers.csv").write_text("id;model_answer\n1;mine\n", encoding="utf-8")

    seen_before: dict[str, str] = {}

    class Peek(Recorder):
        async def execute(self, task: StageTask, emit: Emit) -> StageResult:
            for name in ("samples.jsonl", "answers.csv"):
                seen_before[name] = (task.run_dir / name).read_text(encoding="utf-8")
            return await super().execute(task, emit)

    await run_with_data(Peek(), task, lambda event: None)
    assert seen_before["samples.jsonl"] == '{"id": "1"}\n'  # pulled
    assert "mine" in seen_before["answers.csv"]  # local work kept


async def test_a_storage_failure_starts_nothing_and_is_retried(tmp_path: Path) -> None:
    missing = (tmp_path / "nothing-here").as_uri()
    task = task_of(tmp_path, DatasetSpec(name="d", format="vqa_csv", uri=missing))
    manager = Recorder()
    result = await run_with_data(manager, task, lambda event: None)
    assert result.status is TaskState.FAILED and result.failure == "infrastructure"
    assert missing in result.message and not manager.seen
