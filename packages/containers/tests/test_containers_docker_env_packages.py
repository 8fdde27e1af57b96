"""``env.packages`` in the docker env, with a real (tiny) package from the package index:
the first stage installs it in a venv of the cache (one prepare container), the stage runs
with that venv's python (vlmhb still importable through the overlay), and the next stage
with the same env installs nothing (no prepare container is started)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from vlmhb.containers.docker_env.manager import DockerEnvManager
from vlmhb.core.contracts import Event, StageName, TaskState
from vlmhb.core.envs.process import ProcessEnvManager

from .docker_env_helpers import experiment_name, in_docker, plan, remove_containers

pytestmark = pytest.mark.docker
PACKAGE = "six==1.16.0"


@pytest.fixture
def experiment(
    docker_client: docker.DockerClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    monkeypatch.setenv("VLMHB_DATA_ROOT", str(tmp_path))
    name = experiment_name()
    yield name
    remove_containers(docker_client, name)


def prepare_starts(client: docker.DockerClient, experiment: str, since: float) -> int:
    """How many prepare containers of ``experiment`` the engine started since ``since``."""
    events = client.events(
        since=int(since) - 1,
        until=int(time.time()) + 1,
        filters={
            "type": "container",
            "event": "start",
            "label": [f"vlmhb.experiment={experiment}", "vlmhb.role=prepare"],
        },
        decode=True,
    )
    return sum(1 for _ in events)


async def test_packages_are_installed_once_and_reused(
    docker_client: docker.DockerClient, base_cpu_image: str, tmp_path: Path, experiment: str
) -> None:
    tasks = plan(tmp_path, experiment)
    inference = await ProcessEnvManager(tmp_path / "envs").execute(
        tasks[StageName.INFERENCE], lambda e: None
    )
    assert inference.status == TaskState.COMPLETED, inference.message
    manager = DockerEnvManager(tmp_path / "envs")
    started = time.time()
    events: list[Event] = []
    for stage in (StageName.EVALUATION, StageName.REPORT):
        task = in_docker(tasks[stage], base_cpu_image, packages=[PACKAGE])
        result = await manager.execute(task, events.append)
        assert result.status == TaskState.COMPLETED, result.message

    assert prepare_starts(docker_client, experiment, started) == 1
    (venv,) = (tmp_path / "envs" / "docker").glob("*/*/lib/python*/site-packages")
    assert (venv / "six.py").is_file()
    starts = [e.message for e in events if "started: pid=" in e.message]
    assert len(starts) == 2
    assert all("python=/opt/vlmhb/envs/" in line for line in starts)
