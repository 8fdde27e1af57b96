"""The health monitor against real agents (subprocesses on 127.0.0.1 sending heartbeats to
the shared Redis) and real containers: an agent seen in Redis becomes a host; its checks
(disk, GPUs, latency) are kept; a stage container that exits non-zero or is OOM-killed shows
in the host's container history with an event; a killed agent is marked unavailable at the
first check after it died, and a worker places the next stage on the agent that answers."""

from __future__ import annotations

import asyncio
import importlib.util
import secrets
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest
from vlmhb_backend_testkit import api_client

from vlmhb.agent.wire import AGENT_LABEL
from vlmhb.containers.docker_env import labels as lbl
from vlmhb.core.testing import wait_for_async

AGENT_TESTS = Path(__file__).parents[2] / "agent" / "tests" / "conftest.py"
INTERVAL_S = 0.5
pytestmark = pytest.mark.docker


def agent_testkit() -> Any:
    """The agent tests' ``launch_agent`` (not copied)."""
    spec = importlib.util.spec_from_file_location("vlmhb_agent_tests_conftest", AGENT_TESTS)
    assert spec is not None and spec.loader is not None
    module = sys.modules.get(spec.name) or importlib.util.module_from_spec(spec)
    if spec.name not in sys.modules:
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    return module


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "agent-token"
    path.write_text(secrets.token_urlsafe(32))
    path.chmod(0o600)
    return path


@pytest.fixture
def agents(tmp_path: Path, token_file: Path, redis_url: str) -> Iterator[list[Any]]:
    """Two agents with fake GPUs, heartbeating to Redis every 0.5 s."""
    kit = agent_testkit()
    suffix = secrets.token_hex(3)
    env = {"VLMHB_AGENT_REDIS_URL": redis_url, "VLMHB_AGENT_HEARTBEAT_S": "0.5"}
    started = [
        kit.launch_agent(tmp_path / name, token_file, f"{name}-{suffix}", gpus="0,1", env=env)
        for name in ("gpu-a", "gpu-b")
    ]
    yield started
    for agent in started:
        agent.stop()


@pytest.fixture
def stage_containers(docker_client: docker.DockerClient) -> Iterator[list[Any]]:
    made: list[Any] = []
    yield made
    for container in made:
        container.remove(force=True)


def run_stage_container(
    client: docker.DockerClient, image: str, agent: str, command: list[str], **options: Any
) -> Any:
    """A container labelled as a stage this agent started (as the docker env labels it)."""
    labels = {
        lbl.ORCHESTRATOR: lbl.Orchestrator.current().label(),
        AGENT_LABEL: agent,
        lbl.TASK: f"task-{secrets.token_hex(4)}",
        lbl.ROLE: lbl.ROLE_STAGE,
    }
    return client.containers.run(
        image, command, labels=labels, network_mode="none", detach=True, **options
    )


async def host_of(client: httpx.AsyncClient, name: str) -> dict[str, Any] | None:
    found = await client.get(f"/api/v1/hosts/{name}")
    return found.json() if found.status_code == 200 else None


async def test_agents_are_watched_their_containers_recorded_and_a_dead_one_gets_no_work(
    make_settings: Any,
    tmp_path: Path,
    token_file: Path,
    redis_url: str,
    agents: list[Any],
    docker_client: docker.DockerClient,
    base_cpu_image: str,
    stage_containers: list[Any],
) -> None:
    gpu_a, gpu_b = agents
    settings = make_settings(
        redis_url=redis_url,
        agent_token_file=token_file,
        health_interval_s=INTERVAL_S,
    )
    async with api_client(settings) as client:

        async def answering(name: str) -> dict[str, Any] | None:
            host = await host_of(client, name)
            ok = host and host["status"] == "available" and host["last_check"]
            return host if ok else None

        host = await wait_for_async(lambda: answering(gpu_a.name), 60)
        assert host["connection"] == "agent" and host["agent_url"] == gpu_a.url
        check = host["last_check"]
        assert check["status"] == "ok" and check["latency_ms"] > 0
        assert check["disk_free_bytes"] > 0 and [g["id"] for g in check["gpus"]] == ["0", "1"]
        await wait_for_async(lambda: answering(gpu_b.name), 60)

        failed = run_stage_container(
            docker_client, base_cpu_image, gpu_a.name, ["sh", "-c", "exit 3"]
        )
        stage_containers.append(failed)
        hungry = run_stage_container(
            docker_client,
            base_cpu_image,
            gpu_a.name,
            ["python", "-c", "x = bytearray(512 * 2**20)"],
            mem_limit="16m",
            memswap_limit="16m",
        )
        stage_containers.append(hungry)

        async def recorded() -> list[dict[str, Any]] | None:
            rows = (await client.get(f"/api/v1/hosts/{gpu_a.name}/containers")).json()
            ended = [r for r in rows if r["state"] == "exited"]
            return rows if len(ended) >= 2 else None

        rows = await wait_for_async(recorded, 60)
        by_id = {r["container_id"]: r for r in rows if r["state"] == "exited"}
        assert by_id[failed.id]["exit_code"] == 3 and not by_id[failed.id]["oom_killed"]
        assert by_id[hungry.id]["oom_killed"] is True
        assert by_id[failed.id]["task_id"].startswith("task-")
        await asyncio.sleep(INTERVAL_S * 3)  # more checks: an unchanged container adds no row
        again = (await client.get(f"/api/v1/hosts/{gpu_a.name}/containers")).json()
        assert (
            len([r for r in again if r["container_id"] == failed.id and r["state"] == "exited"])
            == 1
        )
        kinds = [e["kind"] for e in (await client.get("/api/v1/host-events")).json()]
        assert "container_failed" in kinds and "container_oom_killed" in kinds

        killed_at = datetime.now(UTC)
        gpu_a.process.kill()
        gpu_a.process.wait()

        async def unavailable() -> dict[str, Any] | None:
            host = await host_of(client, gpu_a.name)
            return host if host and host["status"] == "unavailable" else None

        host = await wait_for_async(unavailable, 60)
        assert not host["healthy"] and host["status_message"]
        history = (await client.get(f"/api/v1/hosts/{gpu_a.name}/health")).json()
        after_kill = [c for c in history if datetime.fromisoformat(c["checked_at"]) > killed_at]
        assert after_kill and after_kill[-1]["status"] == "unavailable"  # the first check after
        assert all(c["status"] == "unavailable" for c in after_kill)
        events = (await client.get("/api/v1/host-events")).json()
        assert any(e["kind"] == "host_unavailable" and e["host"] == gpu_a.name for e in events)
        assert (await host_of(client, gpu_b.name))["status"] == "available"

    # a worker surveys the agents Redis lists (the dead one's heartbeat may not have expired)
    from vlmhb.worker.agents import AgentDirectory
    from vlmhb.worker.placement import place
    from vlmhb.worker.settings import WorkerSettings

    directory = AgentDirectory(WorkerSettings(redis_url=redis_url, agent_token_file=token_file))
    try:
        seen = [s for s in directory.survey() if s.agent.name in (gpu_a.name, gpu_b.name)]
        placement = place(1, seen, avoid=set())
    finally:
        directory.close()
    assert placement.agent is not None and placement.agent.name == gpu_b.name
