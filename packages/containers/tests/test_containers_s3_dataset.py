"""Container stages over an ``s3://`` dataset, through the real ``vlmhb`` CLI, the local
S3 test server and the local Docker engine: the dataset is synced to this node's cache
(outside the data root) before each stage, the containers (inference, and evaluation and
report with no network) read the cache copy mounted read-only at the same path, and the
runs score what the same experiment scores in the process env."""

from __future__ import annotations

import csv
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from vlmhb.core.contracts import StageTask
from vlmhb.core.envs.policy import container_policy, stage_mounts
from vlmhb.core.settings import Settings
from vlmhb.data.testing import fixtures
from vlmhb.data.testing.fixtures import S3Server

pytestmark = [pytest.mark.docker, pytest.mark.slow]
s3_server = fixtures.s3_server
VLMHB = [sys.executable, "-m", "vlmhb.core.cli.main"]
QUALITY = ("cer", "anls", "exact_match", "error_rate")
DOCKER = "{kind: docker, image: vlmhb/base-cpu}"


def vlmhb(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [*VLMHB, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, f"{args}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def experiment_yaml(name: str, dataset: str, answers: Path, docker_env: bool) -> str:
    env = f"    env: {DOCKER}\n" if docker_env else ""
    stages = (
        f"stages:\n  evaluation: {{env: {DOCKER}}}\n  report: {{env: {DOCKER}}}\n"
        if docker_env
        else ""
    )
    return (
        f"name: {name}\nmodels:\n"
        "  - name: noisy-oracle\n    backend: scripted\n    concurrency: 8\n"
        f"    params: {{answers_file: {answers}, answer_column: answer, noise: 0.08}}\n{env}"
        f"datasets:\n  - {{name: ds, format: vqa_csv, path: {dataset}}}\n"
        "tasks:\n  - {name: fields_vqa, dataset: ds, kind: vqa, "
        f"metrics: [cer, anls, exact_match]}}\n{stages}"
    )


def quality(run_dir: Path) -> dict[str, dict[str, str]]:
    with (run_dir / "metrics_general.csv").open(encoding="utf-8", newline="") as handle:
        return {
            r["metric"]: r for r in csv.DictReader(handle, delimiter=";") if r["metric"] in QUALITY
        }


def only_run(experiment_dir: Path) -> Path:
    (run,) = [p for p in experiment_dir.iterdir() if (p / "run.json").is_file()]
    return run


@pytest.fixture
def experiment(docker_client: docker.DockerClient) -> Iterator[str]:
    """A name no other test uses; its containers are removed at the end."""
    name = f"s3-docker-{secrets.token_hex(4)}"
    yield name
    for container in docker_client.containers.list(
        all=True, filters={"label": f"vlmhb.experiment={name}"}
    ):
        container.remove(force=True)


@pytest.mark.timeout(1200)
def test_container_stages_read_the_synced_dataset_mounted_read_only(
    docker_client: docker.DockerClient,
    base_cpu_image: str,
    s3_server: S3Server,
    tmp_path: Path,
    experiment: str,
) -> None:
    work, cache = tmp_path / "work", tmp_path / "node-cache"
    outside = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env = {
        **outside,
        **s3_server.env(),
        "VLMHB_DATA_ROOT": str(work),
        "VLMHB_DATA_CACHE_DIR": str(cache),
        "COLUMNS": "200",
    }
    dataset = work / "data" / "ds"
    vlmhb(
        "datasets", "synth", "--out", str(dataset), "--n", "1", "--seed", "7", cwd=tmp_path, env=env
    )
    uri = f"s3://{s3_server.make_bucket()}/datasets/ds"
    vlmhb("data", "push", str(dataset), uri, cwd=tmp_path, env=env)
    answers = dataset / "annotation.csv"
    (work / "process.yaml").write_text(
        experiment_yaml(f"{experiment}-process", str(dataset), answers, docker_env=False)
    )
    (work / "docker.yaml").write_text(experiment_yaml(experiment, uri, answers, docker_env=True))

    vlmhb("run", "process.yaml", cwd=work, env=env)
    vlmhb("run", "docker.yaml", cwd=work, env=env)

    in_process = only_run(work / "runs" / f"{experiment}-process")
    in_docker = only_run(work / "runs" / experiment)
    assert quality(in_docker) == quality(in_process)
    assert float(quality(in_docker)["cer"]["macro"]) > 0
    policy = container_policy(Settings(data_root=work, data_cache_dir=cache))
    for stage in ("inference", "evaluation", "report"):
        text = (in_docker / ".tasks" / f"{stage}.json").read_text(encoding="utf-8")
        task = StageTask.model_validate_json(text)
        assert task.env.kind == "docker" and task.run is not None
        assert task.run.dataset.uri == uri and task.run.dataset.path is not None
        local_copy = task.run.dataset.path
        assert local_copy.resolve().is_relative_to(cache.resolve())
        mounts = stage_mounts(task, policy)  # what the container of this stage mounted
        assert any(local_copy.is_relative_to(m.source) and m.read_only for m in mounts)
        assert not any(m.source.is_relative_to(cache) and not m.read_only for m in mounts)
    assert not docker_client.containers.list(
        all=True, filters={"label": f"vlmhb.experiment={experiment}"}
    )
