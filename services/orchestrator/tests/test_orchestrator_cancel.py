"""An API cancel (``POST /cancel/{id}``) stops the experiment through the core
``Orchestrator.cancel``: the stage process is gone, the experiment and its inference stage
are CANCELLED, the stages that had not started are CANCELLED too (none is left pending),
finished answers stay. The service runs over ASGI with a real Redis; the
stages are real subprocesses."""

from __future__ import annotations

import asyncio
import csv
import json
import subprocess
import sys
from pathlib import Path

import httpx
import psutil
import pytest

from vlmhb.core.contracts import Event, EventType, TaskState
from vlmhb.core.testing import wait_for_async
from vlmhb.orchestrator.app import create_orchestrator_app

TOKEN = "orchestrator-test-token-0123456789"
VLMHB = [sys.executable, "-m", "vlmhb.core.cli.main"]
pytestmark = pytest.mark.slow
TERMINAL = {TaskState.COMPLETED, TaskState.FAILED, TaskState.CANCELLED, TaskState.SKIPPED}

EXPERIMENT = """\
name: cancelme
models:
  - name: slow
    backend: scripted
    params: {{rule: echo, latency_ms: 200}}
    concurrency: 2
datasets:
  - {{name: docs, format: vqa_csv, path: {data}}}
tasks:
  - {{name: fields, dataset: docs, kind: vqa, metrics: [cer]}}
"""


def answers(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter=";"))


def stage_processes() -> list[psutil.Process]:
    """This test's stage subprocesses (``vlmhb stage run``)."""
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            argv = child.cmdline()
        except psutil.NoSuchProcess:
            continue
        if "stage" in argv and "run" in argv and child.status() != psutil.STATUS_ZOMBIE:
            found.append(child)
    return found


async def test_api_cancel_stops_the_stage_process_and_keeps_finished_answers(
    tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data" / "docs"
    subprocess.run(
        [*VLMHB, "datasets", "synth", "--out", str(data), "--n", "1", "--seed", "7"],
        check=True,
        capture_output=True,
    )
    config = tmp_path / "exp.yaml"
    config.write_text(EXPERIMENT.format(data=data), encoding="utf-8")
    monkeypatch.chdir(tmp_path)  # the data root of submitted configs
    runs = tmp_path / "runs"
    app = create_orchestrator_app(redis_url, runs, TOKEN)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://orch", headers=auth
        ) as client,
    ):
        seen: list[Event] = []
        bus = app.state.runner.bus
        publish = bus.publish

        def record(event: Event) -> None:
            seen.append(event)
            publish(event)

        monkeypatch.setattr(bus, "publish", record)
        started = await client.post(
            "/run", json={"experiment_id": "exp1", "config_path": str(config)}
        )
        assert started.status_code == 202, started.text
        answers_path = (await wait_for_async(lambda: list(runs.glob("cancelme/*/answers.csv"))))[0]
        await wait_for_async(lambda: len(answers(answers_path)) >= 4)
        stages = stage_processes()
        assert len(stages) == 1
        cancel = await client.post("/cancel/exp1")
        assert cancel.status_code == 202 and cancel.json()["state"] == "CANCELLING"

        async def ended() -> dict[str, object]:
            while (status := (await client.get("/status/exp1")).json())["active"]:
                await asyncio.sleep(0.05)
            return status

        status = await asyncio.wait_for(ended(), 60)
    assert status["state"] == "CANCELLED"
    assert not stages[0].is_running() or stages[0].status() == psutil.STATUS_ZOMBIE
    assert stage_processes() == []
    manifest = json.loads((answers_path.parent / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["timings"]["inference"]["status"] == "CANCELLED"
    assert 4 <= len(answers(answers_path)) < 26
    last = {e.task_id: e.state for e in seen if e.type == EventType.STATE and e.task_id}
    assert len(last) == 4 and all(state in TERMINAL for state in last.values()), last
