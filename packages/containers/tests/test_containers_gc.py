"""``vlmhb envs gc`` against real containers: it removes those whose orchestrator is gone
(a dead pid, or a pid now held by another process) and leaves alone those of a live
orchestrator, of another host, and those the docker env did not start (no
``vlmhb.orchestrator`` label). Every container here belongs to one experiment name made for
the test, and gc is limited to it, so nothing of anyone else is touched."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator

import docker
import pytest

from vlmhb.containers.docker_env import labels as lbl
from vlmhb.containers.docker_env.orphans import remove_orphans

from .docker_env_helpers import containers_of, dead_pid, experiment_name, remove_containers

pytestmark = pytest.mark.docker
ROOTFS = "vlmhb/rootfs:bookworm"


@pytest.fixture
def experiment(docker_client: docker.DockerClient) -> Iterator[str]:
    name = experiment_name()
    yield name
    remove_containers(docker_client, name)


def start(client: docker.DockerClient, experiment: str, orchestrator: str | None) -> str:
    labels = {lbl.EXPERIMENT: experiment, lbl.STAGE: "inference"}
    if orchestrator is not None:
        labels[lbl.ORCHESTRATOR] = orchestrator
    container = client.containers.run(
        ROOTFS,
        ["python3", "-c", "import time; time.sleep(300)"],
        detach=True,
        network_mode="none",
        user="1000:1000",
        labels=labels,
    )
    return str(container.id)


def test_gc_removes_orphans_and_leaves_the_rest(
    docker_client: docker.DockerClient, experiment: str
) -> None:
    me = lbl.Orchestrator.current()
    host = socket.gethostname()
    dead = start(docker_client, experiment, f"{host}:{dead_pid()}:1")
    reused = start(docker_client, experiment, f"{host}:{me.pid}:{int(me.start) + 1}")
    alive = start(docker_client, experiment, me.label())
    foreign = start(docker_client, experiment, f"other-host.example:{os.getpid()}:1")
    unlabelled = start(docker_client, experiment, None)  # not started by the docker env

    listed = {v.id: v for v in remove_orphans(docker_client, {lbl.EXPERIMENT: experiment}, True)}
    assert {i for i, v in listed.items() if v.orphan} == {dead, reused}
    assert set(containers_of(docker_client, experiment)) >= {dead, reused}  # dry run

    remove_orphans(docker_client, {lbl.EXPERIMENT: experiment})
    assert set(containers_of(docker_client, experiment)) == {alive, foreign, unlabelled}


def test_the_gc_command_lists_then_removes(
    docker_client: docker.DockerClient, experiment: str
) -> None:
    orphan = start(docker_client, experiment, f"{socket.gethostname()}:{dead_pid()}:1")
    vlmhb = [sys.executable, "-m", "vlmhb.core.cli.main", "envs", "gc"]
    env = {**os.environ, "COLUMNS": "250"}
    dry = subprocess.run(
        [*vlmhb, "--dry-run", "--experiment", experiment], capture_output=True, text=True, env=env
    )
    assert dry.returncode == 0, dry.stderr
    assert "would remove: orphan" in dry.stdout and experiment in dry.stdout
    assert orphan in containers_of(docker_client, experiment)
    done = subprocess.run(
        [*vlmhb, "--experiment", experiment], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
    assert "removed: orphan" in done.stdout
    assert orphan not in containers_of(docker_client, experiment)
