"""The agent with the Docker engine: a stage in a container through the agent, listed by
label while it runs, its logs streamed, removed by a stop by label; a restarted agent
removes the containers its killed predecessor left."""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import docker
import docker.errors
import httpx
import pytest

from vlmhb.agent.wire import AGENT_LABEL
from vlmhb.core.contracts import EnvSpec, StageTask

pytestmark = pytest.mark.docker
T = TypeVar("T")


def wait_for(probe: Callable[[], T | None], timeout_s: float = 60.0) -> T:
    deadline = time.monotonic() + timeout_s
    while not (value := probe()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)
    return value


@pytest.fixture
def agent_name(docker_client: docker.DockerClient) -> Iterator[str]:
    """A fresh agent name; whatever containers carry it are removed after the test."""
    name = f"d-{secrets.token_hex(3)}"
    yield name
    for found in docker_client.containers.list(
        all=True, filters={"label": f"{AGENT_LABEL}={name}"}
    ):
        with contextlib.suppress(docker.errors.NotFound):
            found.remove(force=True)


def in_docker(task: StageTask, image: str) -> StageTask:
    return task.model_copy(update={"env": EnvSpec(kind="docker", image=image)})


def test_a_docker_stage_is_listed_logged_and_stopped_by_label(
    launch: Any, agent_root: Path, plan_inference: Any, base_cpu_image: str, agent_name: str
) -> None:
    agent = launch(agent_root / agent_name, agent_name, env={"VLMHB_DATA_ROOT": str(agent_root)})
    client = agent.client()
    # answers slow enough that the stage is still running when it is stopped, under any load
    task = in_docker(plan_inference(f"docker-{agent_name}", latency_ms=30000), base_cpu_image)
    client.start_stage(task, gpus=0)
    # listed from its creation on; under load it may still be "created" at first
    running = wait_for(
        lambda: [c for c in client.containers({AGENT_LABEL: agent_name}) if c.state == "running"]
    )
    assert len(running) == 1 and len(client.containers({AGENT_LABEL: agent_name})) == 1
    container = running[0]
    assert container.labels["vlmhb.task"] == task.id
    assert client.containers({"vlmhb.task": task.id}) == running

    with httpx.stream(
        "GET",
        f"{agent.url}/containers/{container.id}/logs",
        params={"follow": "true"},
        headers={"Authorization": f"Bearer {agent.token}"},
        timeout=60,
    ) as logs:
        assert logs.status_code == 200
        first = next(line for line in logs.iter_lines() if line.strip())
    assert first[:2] == "20" and "T" in first.split()[0]  # an RFC 3339 timestamp first

    stopped = time.monotonic()
    count = client.stop_containers({"vlmhb.task": task.id})
    assert count == 1, f"the stage's container was gone before the stop: {client.stage(task.id)}"
    # stopped with the agent's 5 s cap, not docker's default 10 s grace (margin for CI load)
    assert time.monotonic() - stopped < 9
    assert client.containers({AGENT_LABEL: agent_name}) == []
    status = wait_for(lambda: (s := client.stage(task.id)).state == "finished" and s, 30)
    assert status.result is not None and status.result.status != "COMPLETED"


def test_the_agent_touches_no_container_but_its_own(
    agent: Any, docker_client: docker.DockerClient, base_cpu_image: str
) -> None:
    others = [
        docker_client.containers.create(base_cpu_image, ["true"], network_mode="none"),
        docker_client.containers.create(  # a vlmhb container of another agent
            base_cpu_image,
            ["true"],
            network_mode="none",
            labels={"vlmhb.orchestrator": "elsewhere:1:1", AGENT_LABEL: "another"},
        ),
    ]
    auth = {"Authorization": f"Bearer {agent.token}"}
    try:
        for other in others:
            for method, path in (
                ("GET", f"/containers/{other.id}/logs"),
                ("DELETE", f"/containers/{other.id}"),
            ):
                answer = httpx.request(method, agent.url + path, headers=auth)
                assert answer.status_code == 404, answer.text
        assert agent.client().containers() == []
        assert agent.client().stop_containers({AGENT_LABEL: "another"}) == 0
        answer = httpx.post(
            f"{agent.url}/containers/stop", json={"labels": {"a": "b"}}, headers=auth
        )
        assert answer.status_code == 400
        for other in others:
            other.reload()
            assert other.status == "created"
    finally:
        for other in others:
            other.remove(force=True)


def test_a_restarted_agent_removes_the_containers_its_killed_predecessor_left(
    launch: Any,
    agent_root: Path,
    plan_inference: Any,
    base_cpu_image: str,
    agent_name: str,
    docker_client: docker.DockerClient,
) -> None:
    folder, env = agent_root / agent_name, {"VLMHB_DATA_ROOT": str(agent_root)}
    first = launch(folder, agent_name, env=env)
    task = in_docker(plan_inference(f"restart-{agent_name}", latency_ms=60_000), base_cpu_image)
    first.client().start_stage(task, gpus=0)
    label = {"label": f"{AGENT_LABEL}={agent_name}"}
    wait_for(lambda: docker_client.containers.list(filters=label))
    first.process.kill()  # SIGKILL: no shutdown, its container stays
    first.process.wait()
    assert docker_client.containers.list(filters=label)
    launch(folder, agent_name, env=env)  # ready: leftovers are gone
    assert docker_client.containers.list(all=True, filters=label) == []
