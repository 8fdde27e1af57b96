"""The docker env with real stages in real containers of the local engine (image
``vlmhb/base-cpu``): same metrics as the process env; labels, non-root, network none,
secrets nowhere in the container's config or logs; timestamped logs; cancel; OOM and
engine errors as infrastructure failures; cleanup."""

from __future__ import annotations

import asyncio
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
from pydantic import SecretStr

from vlmhb.containers.docker_env.manager import DockerEnvManager
from vlmhb.core.contracts import Event, ResourceSpec, StageName, StageTask, TaskState
from vlmhb.core.envs.process import ProcessEnvManager

from .docker_env_helpers import (
    containers_of,
    dead_pid,
    experiment_name,
    in_docker,
    plan,
    remove_containers,
    wait_for,
)

pytestmark = pytest.mark.docker
SECRET = "sk-b1-" + "7f3a9c2e5d1b"
TIMESTAMPED = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z ")


@pytest.fixture
def experiment(
    docker_client: docker.DockerClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """A unique experiment name; the test folder is the data root; its containers go."""
    monkeypatch.setenv("VLMHB_DATA_ROOT", str(tmp_path))
    name = experiment_name()
    yield name
    remove_containers(docker_client, name)


class Inspector:
    """Records the engine's view of the containers of one task while they run."""

    def __init__(self, client: docker.DockerClient, task_id: str) -> None:
        self.client = client
        self.task_id = task_id
        self.seen: dict[str, dict[str, Any]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.is_set():
            found = self.client.api.containers(
                all=True, filters={"label": f"vlmhb.task={self.task_id}"}
            )
            for container in found:
                if container["Id"] not in self.seen:
                    try:
                        self.seen[container["Id"]] = self.client.api.inspect_container(
                            container["Id"]
                        )
                    except docker.errors.NotFound:
                        continue
            time.sleep(0.02)

    def stop(self) -> list[dict[str, Any]]:
        self._stop.set()
        self._thread.join()
        return list(self.seen.values())


async def test_evaluation_in_a_container_matches_the_process_env_and_is_confined(
    docker_client: docker.DockerClient, base_cpu_image: str, tmp_path: Path, experiment: str
) -> None:
    tasks = plan(tmp_path, experiment)
    assert (
        await ProcessEnvManager(tmp_path / "envs").execute(
            tasks[StageName.INFERENCE], lambda e: None
        )
    ).status == TaskState.COMPLETED
    evaluation = tasks[StageName.EVALUATION]
    process = await ProcessEnvManager(tmp_path / "envs").execute(evaluation, lambda e: None)
    assert process.status == TaskState.COMPLETED, process.message
    expected = (evaluation.run_dir / "metrics_by_id.csv").read_text(encoding="utf-8")
    (evaluation.run_dir / "metrics_by_id.csv").unlink()

    # a secret in the model's params: it must reach the stage only through its task file
    run = evaluation.run
    assert run is not None
    model = run.model.model_copy(
        update={"params": {**run.model.params, "api_key": SecretStr(SECRET)}}
    )
    task = in_docker(evaluation, base_cpu_image).model_copy(
        update={"run": run.model_copy(update={"model": model}), "attempt": 2}
    )
    # a container of this stage left by a killed orchestrator: removed before the start
    left = docker_client.containers.run(
        "vlmhb/rootfs:bookworm",
        ["python3", "-c", "import time; time.sleep(300)"],
        detach=True,
        network_mode="none",
        user="1000:1000",
        labels={
            "vlmhb.experiment": experiment,
            "vlmhb.run": task.run_dir.name,
            "vlmhb.stage": "evaluation",
            "vlmhb.orchestrator": f"{socket.gethostname()}:{dead_pid()}:1",
        },
    )
    events: list[Event] = []
    inspector = Inspector(docker_client, task.id)
    result = await DockerEnvManager(tmp_path / "envs").execute(task, events.append)
    (info,) = inspector.stop()

    assert result.status == TaskState.COMPLETED, result.message
    assert (task.run_dir / "metrics_by_id.csv").read_text(encoding="utf-8") == expected
    config, host = info["Config"], info["HostConfig"]
    assert config["Labels"]["vlmhb.experiment"] == experiment
    assert config["Labels"]["vlmhb.run"] == task.run_dir.name
    assert config["Labels"]["vlmhb.stage"] == "evaluation"
    assert config["Labels"]["vlmhb.attempt"] == "2"
    assert config["User"] == "1000:1000" and host["NetworkMode"] == "none"
    assert host["Privileged"] is False and host["CapDrop"] == ["ALL"]
    assert "docker.sock" not in str(host["Mounts"])
    mounts = {m["Target"]: m for m in host["Mounts"]}
    assert not mounts[str(task.run_dir)].get("ReadOnly")
    assert mounts[str(tmp_path / "data" / "mini")]["ReadOnly"] is True
    private = Path(mounts["/run/vlmhb/task"]["Source"])
    assert not private.is_relative_to(tmp_path) and not private.exists()  # gone after the run
    seen_by_engine = str(config) + str(info["Args"]) + str(info["Path"])
    assert SECRET not in seen_by_engine
    assert SECRET not in (task.run_dir / ".tasks" / "evaluation.json").read_text(encoding="utf-8")
    log = (task.run_dir / "logs" / "evaluation.log").read_text(encoding="utf-8")
    assert SECRET not in log and SECRET not in str([e.message for e in events])
    assert all(TIMESTAMPED.match(line) for line in log.splitlines())
    assert any("stage evaluation started" in e.message for e in events)  # stdout → events
    assert not containers_of(docker_client, experiment)  # removed once read, and the orphan
    assert left.id not in containers_of(docker_client, experiment)


async def test_cancel_stops_the_container_and_returns_the_stages_own_result(
    docker_client: docker.DockerClient, base_cpu_image: str, tmp_path: Path, experiment: str
) -> None:
    task = in_docker(
        plan(tmp_path, experiment, latency_ms=1500)[StageName.INFERENCE], base_cpu_image
    )
    running = asyncio.ensure_future(
        DockerEnvManager(tmp_path / "envs").execute(task, lambda e: None)
    )
    answers = task.run_dir / "answers.csv"
    await wait_for(lambda: answers.is_file() and len(answers.read_text().splitlines()) >= 2)
    asked = time.monotonic()
    running.cancel()
    result = await running
    stopped_in = time.monotonic() - asked
    assert result.status == TaskState.CANCELLED, result.message
    assert result.summary["answered"] >= 1 and result.summary["left"] >= 1
    assert stopped_in < 5.0  # issue 9: a cancelled stage's container stops within 5 s
    assert not containers_of(docker_client, experiment)


async def test_a_second_cancel_kills_at_once(
    docker_client: docker.DockerClient, base_cpu_image: str, tmp_path: Path, experiment: str
) -> None:
    task = in_docker(
        plan(tmp_path, experiment, latency_ms=60_000)[StageName.INFERENCE], base_cpu_image
    )
    running = asyncio.ensure_future(
        DockerEnvManager(tmp_path / "envs").execute(task, lambda e: None)
    )
    await wait_for(lambda: containers_of(docker_client, experiment))
    await asyncio.sleep(3)  # the stage is up and waits on its first answer
    running.cancel()
    await asyncio.sleep(0.2)
    running.cancel()
    result = await running
    assert result.status == TaskState.CANCELLED
    assert "stopped" in result.message or result.summary.get("left")
    assert not containers_of(docker_client, experiment)


async def test_out_of_memory_is_an_infrastructure_failure(
    base_cpu_image: str, tmp_path: Path, experiment: str
) -> None:
    tasks = plan(tmp_path, experiment)
    task = in_docker(tasks[StageName.EVALUATION], base_cpu_image, ResourceSpec(memory="16m"))
    result = await DockerEnvManager(tmp_path / "envs").execute(task, lambda e: None)
    assert result.status == TaskState.FAILED and result.failure == "infrastructure"
    assert result.message == "container killed: out of memory (limit 16m)"


async def test_cleanup_removes_a_stage_container_that_still_runs(
    docker_client: docker.DockerClient, base_cpu_image: str, tmp_path: Path, experiment: str
) -> None:
    task = in_docker(
        plan(tmp_path, experiment, latency_ms=60_000)[StageName.INFERENCE], base_cpu_image
    )
    manager = DockerEnvManager(tmp_path / "envs")
    running = asyncio.ensure_future(manager.execute(task, lambda e: None))
    await wait_for(lambda: containers_of(docker_client, experiment))
    manager.cleanup()
    result = await asyncio.wait_for(running, 30)
    assert result.status == TaskState.CANCELLED and "stopped" in result.message
    assert not containers_of(docker_client, experiment)


def evaluation_in(tmp_path: Path, experiment: str, image: str) -> StageTask:
    return in_docker(plan(tmp_path, experiment)[StageName.EVALUATION], image)


async def test_a_missing_image_is_an_infrastructure_failure_that_says_what_to_do(
    docker_client: docker.DockerClient, tmp_path: Path, experiment: str
) -> None:
    task = evaluation_in(tmp_path, experiment, "vlmhb/no-such-image:0")
    result = await DockerEnvManager(tmp_path / "envs").execute(task, lambda e: None)
    assert result.failure == "infrastructure"
    assert result.message == "image vlmhb/no-such-image:0 not found: run `vlmhb images build`"


async def test_an_image_without_vlmhb_is_an_infrastructure_failure(
    docker_client: docker.DockerClient, tmp_path: Path, experiment: str
) -> None:
    task = evaluation_in(tmp_path, experiment, "vlmhb/rootfs:bookworm")  # python3 only
    result = await DockerEnvManager(tmp_path / "envs").execute(task, lambda e: None)
    assert result.failure == "infrastructure"
    assert "the stage command was not found in image vlmhb/rootfs:bookworm" in result.message
    assert not containers_of(docker_client, experiment)


async def test_an_image_outside_the_prefixes_is_the_stages_failure(
    docker_client: docker.DockerClient, tmp_path: Path, experiment: str
) -> None:
    task = evaluation_in(tmp_path, experiment, "busybox:latest")
    result = await DockerEnvManager(tmp_path / "envs").execute(task, lambda e: None)
    assert result.status == TaskState.FAILED and result.failure == "stage"
    assert "'busybox:latest' is not allowed" in result.message
    assert not containers_of(docker_client, experiment)


async def test_an_engine_that_does_not_answer_is_an_infrastructure_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VLMHB_DATA_ROOT", str(tmp_path))
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    task = evaluation_in(tmp_path, experiment_name(), "vlmhb/base-cpu:latest")
    result = await DockerEnvManager(tmp_path / "envs").execute(task, lambda e: None)
    assert result.status == TaskState.FAILED and result.failure == "infrastructure"
    assert "Docker engine" in result.message


async def test_a_key_from_a_host_variable_never_enters_a_container(
    docker_client: docker.DockerClient, tmp_path: Path, experiment: str
) -> None:
    inference = plan(tmp_path, experiment)[StageName.INFERENCE]
    run = inference.run
    assert run is not None
    model = run.model.model_copy(update={"api_key_env": "OPENAI_API_KEY"})
    task = in_docker(inference, "vlmhb/base-cpu:latest").model_copy(
        update={"run": run.model_copy(update={"model": model})}
    )
    result = await DockerEnvManager(tmp_path / "envs").execute(task, lambda e: None)
    assert result.status == TaskState.FAILED and result.failure == "stage"
    assert "api_key_env 'OPENAI_API_KEY' is not passed into a container" in result.message
    assert not containers_of(docker_client, experiment)
