"""A stage task's secrets never enter the broker: the message carries the masked task,
the lease row holds the one with secrets only while the attempt is unfinished."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from vlmhb.core.config import load_experiment
from vlmhb.core.contracts import StageName, StageResult, TaskState
from vlmhb.core.orchestration.graph import plan_experiment
from vlmhb.worker.executor import CeleryExecutor
from vlmhb.worker.settings import WorkerSettings
from vlmhb.worker.store import LeaseStore

SECRET = "sk-test-not-in-the-broker-0123456789"
EXPERIMENT = """\
name: keyed
output_dir: {out}
models:
  - name: remote
    backend: openai
    base_url: "http://127.0.0.1:9/v1"
    params: {{api_key: {secret}}}
datasets:
  - {{name: synth, format: vqa_csv, path: {data}}}
tasks:
  - {{name: vqa, dataset: synth, kind: vqa, metrics: [cer]}}
"""


def test_the_broker_message_is_masked_and_the_lease_row_forgets_the_secret(
    tmp_path: Path, dataset: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "keyed.yaml"
    config.write_text(
        EXPERIMENT.format(out=tmp_path / "runs", secret=SECRET, data=dataset), encoding="utf-8"
    )
    task = next(
        t for t in plan_experiment(load_experiment(config)) if t.stage == StageName.INFERENCE
    )
    monkeypatch.chdir(tmp_path)
    settings = WorkerSettings(data_dir=tmp_path / "queue", queue_prefix="secrets.")
    executor = CeleryExecutor(settings)  # filesystem:// broker: the messages are files

    async def send_and_wait() -> None:
        executor.submit(task, lambda event: None)
        inbox, _ = settings.broker_folders()
        for _ in range(200):
            if any(inbox.iterdir()):
                return
            await asyncio.sleep(0.05)
        raise AssertionError("no message was queued")

    try:
        asyncio.run(send_and_wait())
        inbox, _ = settings.broker_folders()
        messages = [path.read_bytes() for path in inbox.iterdir()]
        assert messages and all(SECRET.encode() not in body for body in messages)
        store = LeaseStore(settings.database_url())
        (attempt,) = store.history(task.id)
        assert SECRET in (store.private_task(attempt.lease) or ""), "the worker's copy"
        result = StageResult(task_id=task.id, stage=task.stage, status=TaskState.COMPLETED)
        assert store.claim(attempt.lease, "w1") and store.commit(attempt.lease, "w1", result)
        assert store.private_task(attempt.lease) is None, "forgotten once the attempt ended"
        store.close()
    finally:
        executor.cleanup()
    assert not (tmp_path / "control").exists(), "the broker's files stay in its data folder"
