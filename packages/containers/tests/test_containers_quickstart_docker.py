"""The quickstart with every stage in a container, through the real ``vlmhb`` CLI and the
local Docker engine: the same ``metrics_by_id.csv`` per run as the process env; a
``vlmhb run`` SIGKILLed mid-inference (its stage container left running) resumes on the
next run, which removes that container, without asking again for any finished sample,
and no container is left behind."""

from __future__ import annotations

import csv
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import docker
import pytest
from docker.models.containers import Container

from vlmhb.core.testing import wait_for

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = REPO / "examples"
VLMHB = [sys.executable, "-m", "vlmhb.core.cli.main"]
STAGES = ("inference", "evaluation", "report")
T = TypeVar("T")

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def vlmhb(*args: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [*VLMHB, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200", "VLMHB_DATA_ROOT": str(cwd)},
        timeout=timeout,
    )
    assert proc.returncode == 0, (
        f"vlmhb {' '.join(args)} exited {proc.returncode}\n"
        f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    )
    return proc


def containers_of(client: docker.DockerClient, experiment: str) -> list[Container]:
    found: list[Container] = client.containers.list(
        all=True, filters={"label": f"vlmhb.experiment={experiment}"}
    )
    return found


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter=";"))


def runs_by_model(experiment_dir: Path) -> dict[str, Path]:
    return {
        run.name.split("__")[0]: run
        for run in experiment_dir.iterdir()
        if (run / "run.json").is_file()
    }


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The data root of these tests: copies of examples/quickstart (with a small freshly
    generated dataset, the same for both envs) and examples/quickstart-docker beside it, as
    in the repository (the docker config reads ``../quickstart/...``)."""
    root = tmp_path_factory.mktemp("qs-docker")
    shutil.copytree(EXAMPLES / "quickstart", root / "quickstart", ignore=_no_data)
    shutil.copytree(EXAMPLES / "quickstart-docker", root / "quickstart-docker", ignore=_no_data)
    data = root / "quickstart" / "data" / "quickstart"
    vlmhb("datasets", "synth", "--out", str(data), "--n", "1", "--seed", "7", cwd=root)
    return root


def _no_data(folder: str, names: list[str]) -> list[str]:
    return [name for name in names if name in ("data", "runs")]


@pytest.fixture
def experiment(docker_client: docker.DockerClient) -> Iterator[str]:
    """A name no other test uses (its containers are found by it); they go at the end."""
    name = f"b2-docker-{secrets.token_hex(4)}"
    yield name
    for container in containers_of(docker_client, name):
        container.remove(force=True)


@pytest.mark.timeout(1200)
@pytest.mark.skipif(
    shutil.which("tesseract") is None,
    reason="the process run needs the tesseract binary on the host (apt tesseract-ocr)",
)
def test_quickstart_in_docker_gives_the_process_env_metrics(
    docker_client: docker.DockerClient, base_cpu_image: str, workspace: Path, experiment: str
) -> None:
    config = workspace / "quickstart-docker" / "experiment.yaml"
    text = config.read_text(encoding="utf-8")
    assert "name: quickstart-docker\n" in text
    config.write_text(text.replace("name: quickstart-docker\n", f"name: {experiment}\n"))

    started = time.monotonic()
    vlmhb("run", "quickstart/experiment.yaml", cwd=workspace)
    process_s = time.monotonic() - started
    started = time.monotonic()
    vlmhb("run", "quickstart-docker/experiment.yaml", cwd=workspace)
    docker_s = time.monotonic() - started
    print(f"quickstart wall time: process {process_s:.1f} s, docker {docker_s:.1f} s")

    in_process = runs_by_model(workspace / "runs" / "quickstart")
    in_docker = runs_by_model(workspace / "runs" / experiment)
    assert sorted(in_docker) == sorted(in_process) == ["noisy-oracle", "oracle", "tesseract-rus"]
    for model, run in in_docker.items():
        expected = (in_process[model] / "metrics_by_id.csv").read_text(encoding="utf-8")
        assert (run / "metrics_by_id.csv").read_text(encoding="utf-8") == expected, model
        assert len(read_rows(run / "metrics_by_id.csv")) == 26
        for stage in STAGES:  # every stage ran in a container of the image
            task = json.loads((run / ".tasks" / f"{stage}.json").read_text(encoding="utf-8"))
            assert task["env"]["kind"] == "docker" and task["env"]["image"] == "vlmhb/base-cpu"
            assert (run / "logs" / f"{stage}.log").is_file()
    report_task = workspace / "runs" / experiment / ".tasks" / "experiment_report.json"
    assert json.loads(report_task.read_text(encoding="utf-8"))["env"]["kind"] == "docker"
    assert (workspace / "runs" / experiment / "report.html").is_file()
    assert containers_of(docker_client, experiment) == []


KILL_EXPERIMENT = """\
name: {name}
models:
  - name: slow
    backend: scripted
    params: {{answers_file: {answers}, answer_column: answer, latency_ms: 300,
             request_log: requests.log}}
    concurrency: {concurrency}
    env: {{kind: docker, image: {image}}}
datasets:
  - {{name: docs, format: vqa_csv, path: {data}}}
tasks:
  - {{name: fields, dataset: docs, kind: vqa, metrics: [cer, exact_match]}}
stages:
  evaluation: {{env: {{kind: docker, image: {image}}}}}
  report: {{env: {{kind: docker, image: {image}}}}}
"""
CONCURRENCY = 1


@pytest.mark.timeout(900)
def test_a_killed_docker_run_resumes_without_asking_again_and_leaves_no_container(
    docker_client: docker.DockerClient, base_cpu_image: str, workspace: Path, experiment: str
) -> None:
    data = workspace / "quickstart" / "data" / "quickstart"
    config = workspace / f"{experiment}.yaml"
    config.write_text(
        KILL_EXPERIMENT.format(
            name=experiment,
            answers=data / "annotation.csv",
            data=data,
            image=base_cpu_image,
            concurrency=CONCURRENCY,
        ),
        encoding="utf-8",
    )
    experiment_dir = workspace / "runs" / experiment
    with (workspace / f"{experiment}.out").open("w") as out:
        proc = subprocess.Popen(
            [*VLMHB, "run", str(config)],
            cwd=workspace,
            env={**os.environ, "VLMHB_DATA_ROOT": str(workspace)},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        answers = wait_for(
            lambda: next(iter(experiment_dir.glob("*/answers.csv")), None), proc, timeout_s=300
        )
        wait_for(lambda: len(read_rows(answers)) >= 4, proc, timeout_s=300)
        os.kill(proc.pid, signal.SIGKILL)  # the CLI only: its stage container runs on
        proc.wait()
    left = containers_of(docker_client, experiment)
    assert [c.labels["vlmhb.stage"] for c in left] == ["inference"], "the killed run's container"
    # freeze it mid-inference, so the re-run meets it running however slowly it starts
    left[0].pause()
    before = {row["id"] for row in read_rows(answers)}
    assert 4 <= len(before) < 26

    vlmhb("run", str(config), cwd=workspace)
    ids = [row["id"] for row in read_rows(answers)]
    assert len(ids) == 26 and len(set(ids)) == 26
    requests = Counter((experiment_dir / "requests.log").read_text(encoding="utf-8").split())
    assert set(requests) == set(ids)
    assert all(requests[i] == 1 for i in before), "a finished sample was requested again"
    # asked twice: only what the killed run's container had in flight when it was removed
    assert sum(requests.values()) <= len(ids) + CONCURRENCY
    sessions = json.loads(answers.with_name("inference_stats.json").read_text())["sessions"]
    assert [session["complete"] for session in sessions] == [False, True]
    assert len(read_rows(answers.parent / "metrics_by_id.csv")) == 26
    assert (experiment_dir / "report.html").is_file()
    assert containers_of(docker_client, experiment) == []
