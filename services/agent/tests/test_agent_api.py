"""The agent as a real subprocess: auth on every route but /health, loopback by default,
refusal of weak tokens, inventory, ``process`` stages end to end through the client (events,
results, GPUs taken and refused, stop), image pulls refused before any pull."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psutil
import pytest

from vlmhb.agent.client import AgentClient, AgentRefused, AgentUnavailable, parse_agents
from vlmhb.agent.settings import AgentSettings
from vlmhb.agent.wire import StageStatus
from vlmhb.core.contracts import EventType, StageTask, TaskState
from vlmhb.core.metrics import scraped

T = TypeVar("T")
ROUTES = [
    ("GET", "/inventory"),
    ("POST", "/stages"),
    ("GET", "/stages/x"),
    ("GET", "/stages/x/events"),
    ("POST", "/stages/x/stop"),
    ("GET", "/containers"),
    ("POST", "/containers/stop"),
    ("GET", "/containers/x/logs"),
    ("DELETE", "/containers/x"),
    ("GET", "/images"),
    ("POST", "/images/build"),
    ("GET", "/images/jobs/x"),
    ("POST", "/images/pull"),
    ("DELETE", "/images/vlmhb/base-cpu:latest"),
    ("GET", "/metrics"),
]


def wait_for(probe: Callable[[], T | None], timeout_s: float = 30.0) -> T:
    deadline = time.monotonic() + timeout_s
    while (value := probe()) is None or value is False:
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    return value


def finished(client: AgentClient, stage_id: str, timeout_s: float = 30.0) -> StageStatus:
    def probe() -> StageStatus | None:
        status = client.stage(stage_id)
        return status if status.state == "finished" else None

    return wait_for(probe, timeout_s)


def test_health_needs_no_token(agent: Any) -> None:
    answer = httpx.get(f"{agent.url}/health").json()
    assert answer["status"] == "ok" and answer["name"] == agent.name and answer["version"]


@pytest.mark.parametrize(("method", "path"), ROUTES)
@pytest.mark.parametrize(
    "header",
    [None, "Bearer wrong-token-of-enough-length", "Basic {token}", "Bearer {token}x", "{token}"],
)
def test_every_other_route_refuses_a_missing_or_wrong_token(
    agent: Any, method: str, path: str, header: str | None
) -> None:
    headers = {} if header is None else {"Authorization": header.format(token=agent.token)}
    answer = httpx.request(method, agent.url + path, headers=headers, json={})
    assert answer.status_code == 401, answer.text
    assert agent.token not in answer.text


def test_the_agent_binds_loopback_by_default(agent: Any) -> None:
    assert AgentSettings.model_fields["host"].default == "127.0.0.1"
    assert "http://127.0.0.1:" in agent.ready_line and "gpus: 0,1" in agent.ready_line
    listening = [
        c.laddr.ip
        for c in psutil.Process(agent.process.pid).net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN
    ]
    assert listening == ["127.0.0.1"]


@pytest.mark.parametrize(
    ("content", "message"),
    [("short\n", "at least 16"), ("   \n", "blank"), ("with space inside it ok\n", "whitespace")],
)
def test_a_weak_token_refuses_to_start(tmp_path: Path, content: str, message: str) -> None:
    token = tmp_path / "token"
    token.write_text(content)
    done = subprocess.run(
        [sys.executable, "-m", "vlmhb.agent", "--name", "w", "--token-file", str(token)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "refusing to start" in done.stderr and message in done.stderr
    assert content.strip() not in done.stderr or not content.strip()


def test_no_token_file_refuses_to_start(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "vlmhb.agent", "--name", "w", "--token-file", str(tmp_path / "no")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "cannot read the token file" in done.stderr


def test_inventory_shows_the_declared_gpus_and_disk(agent: Any) -> None:
    inventory = agent.client().inventory()
    assert inventory.name == agent.name
    assert [g.id for g in inventory.gpus] == ["0", "1"]
    assert [g.index for g in inventory.gpus] == [0, 1]
    assert inventory.gpus_free == ["0", "1"] and not any(g.busy for g in inventory.gpus)
    assert inventory.disk_free_bytes > 0 and inventory.running == []


def test_metrics_show_the_gpus_disk_and_stages(agent: Any) -> None:
    answer = httpx.get(f"{agent.url}/metrics", headers={"Authorization": f"Bearer {agent.token}"})
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    found = scraped(answer.text)
    name = f'agent="{agent.name}"'
    assert found[f'vlmhb_agent_gpus{{{name},state="declared"}}'] == 2
    assert found[f"vlmhb_agent_stages_running{{{name}}}"] == 0
    assert found[f"vlmhb_agent_disk_free_bytes{{{name}}}"] > 0
    # the tests' GPUs are declared ids without a driver: no NVML readings to export
    assert not [key for key in found if "temperature" in key]


def test_a_process_stage_runs_end_to_end(agent: Any, plan_inference: Any) -> None:
    task: StageTask = plan_inference("e2e", latency_ms=50)
    client = agent.client()
    started = client.start_stage(task, gpus=0)
    assert (started.stage_id, started.attempt, started.gpu_ids) == (task.id, 0, [])
    events, after = [], 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        page = client.events(task.id, after=after, wait_s=2.0)
        events += page.events
        after = page.events[-1].seq if page.events else after
        if page.finished:
            break
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert any(e.event.type == EventType.PROGRESS for e in events)
    status = client.stage(task.id)
    assert status.state == "finished" and status.result is not None
    assert status.result.status == TaskState.COMPLETED, status.result.message
    answers = (task.run_dir / "answers.csv").read_text(encoding="utf-8").splitlines()
    samples = (task.run_dir / "samples.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(answers) == len(samples) + 1 and len(samples) >= 1
    assert client.events(task.id, after=after, wait_s=0).finished  # the result stays


def test_gpus_are_taken_and_a_stage_finding_too_few_free_is_refused(
    agent: Any, plan_inference: Any
) -> None:
    client = agent.client()
    first, second = plan_inference("gpu1", 60_000), plan_inference("gpu2", 60_000)
    assert client.start_stage(first, gpus=1).gpu_ids == ["0"]
    with pytest.raises(AgentRefused) as again:
        client.start_stage(first, gpus=1)
    assert again.value.status_code == 409 and again.value.detail["attempt"] == 0
    with pytest.raises(AgentRefused) as too_many:
        client.start_stage(second, gpus=2)
    assert too_many.value.status_code == 409 and "1 of 2 free" in str(too_many.value.detail)
    assert client.start_stage(second, gpus=1).gpu_ids == ["1"]
    inventory = client.inventory()
    assert inventory.gpus_free == [] and all(g.busy for g in inventory.gpus)
    assert sorted(inventory.running) == sorted([first.id, second.id])
    with pytest.raises(AgentRefused, match="0 of 2 free"):
        client.start_stage(plan_inference("gpu3", 0), gpus=1)
    for task in (first, second):
        client.stop_stage(task.id)
    for task in (first, second):
        finished(client, task.id)
    assert client.inventory().gpus_free == ["0", "1"]


def test_stop_cancels_a_running_stage_quickly(agent: Any, plan_inference: Any) -> None:
    client = agent.client()
    task = plan_inference("stop", latency_ms=60_000)
    client.start_stage(task, gpus=0)
    client.events(task.id, wait_s=10)  # the stage process has started
    stopped = time.monotonic()
    client.stop_stage(task.id)
    status = finished(client, task.id, timeout_s=15)
    assert time.monotonic() - stopped < 12  # SIGTERM, SIGKILL after the stop grace
    assert status.result is not None and status.result.status == TaskState.CANCELLED
    client.stop_stage(task.id)  # stopping a finished stage, or an unknown one, is no error
    client.stop_stage("no-such-stage")
    with pytest.raises(AgentRefused) as unknown:
        client.stage("no-such-stage")
    assert unknown.value.status_code == 404


def test_a_stage_of_a_disabled_env_kind_is_refused(agent: Any, plan_inference: Any) -> None:
    task = plan_inference("apptainer", 0)
    task.env.kind = "apptainer"
    with pytest.raises(AgentRefused) as refused:
        agent.client().start_stage(task, gpus=0)
    assert refused.value.status_code == 403 and "not enabled" in str(refused.value.detail)


def test_a_stage_reading_or_writing_outside_the_data_roots_is_refused(
    agent: Any, plan_inference: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    elsewhere = tmp_path_factory.mktemp("not-a-data-root")
    task = plan_inference("escape", 0)
    outside_run = task.model_copy(update={"run_dir": elsewhere / "runs" / "x" / task.run_dir.name})
    assert task.run is not None
    dataset = task.run.dataset.model_copy(update={"path": elsewhere})
    run = task.run.model_copy(update={"dataset": dataset})
    outside_data = task.model_copy(update={"run": run})
    dotted = task.model_copy(update={"run_dir": task.run_dir / ".." / ".." / "x"})
    for bad, says in ((outside_run, "outside"), (outside_data, "outside"), (dotted, "'..'")):
        with pytest.raises(AgentRefused) as refused:
            agent.client().start_stage(bad, gpus=0)
        assert refused.value.status_code == 403 and says in str(refused.value.detail)
    assert not any(elsewhere.iterdir()), "nothing was written outside"


def test_pulling_a_ref_outside_the_allow_list_is_refused_before_any_pull(agent: Any) -> None:
    for ref in ("evil.com/vlmhb/x:latest", "docker.io/library/alpine", "vlmhb/base-cpu:latest"):
        answer = httpx.post(
            f"{agent.url}/images/pull",
            json={"ref": ref},
            headers={"Authorization": f"Bearer {agent.token}"},
        )
        assert answer.status_code == 403, answer.text
        assert "not allowed" in answer.text or "names no registry" in answer.text


@pytest.mark.docker
def test_pulling_an_allowed_ref_without_a_registry_fails_clearly(
    agent: Any, docker_client: Any
) -> None:
    answer = httpx.post(
        f"{agent.url}/images/pull",
        json={"ref": "127.0.0.1:9/vlmhb/base-cpu:latest"},
        headers={"Authorization": f"Bearer {agent.token}"},
        timeout=60,
    )
    assert answer.status_code == 502, answer.text
    assert "pulling 127.0.0.1:9/vlmhb/base-cpu:latest failed" in answer.json()["detail"]


def test_the_client_tells_an_unreachable_agent_from_a_refusal(agent: Any) -> None:
    gone = AgentClient("http://127.0.0.1:9", agent.token, timeout_s=1, retries=1)
    with gone, pytest.raises(AgentUnavailable, match="cannot connect"):
        gone.health()
    wrong = AgentClient(agent.url, "wrong-token-of-enough-length")
    with wrong, pytest.raises(AgentRefused) as refused:
        wrong.inventory()
    assert refused.value.status_code == 401


def test_parse_agents_reads_the_static_list() -> None:
    agents = parse_agents("a=http://127.0.0.1:8101, b=http://127.0.0.1:8102/")
    assert [(a.name, a.url) for a in agents] == [
        ("a", "http://127.0.0.1:8101"),
        ("b", "http://127.0.0.1:8102"),
    ]
    for bad in ("a", "a=ftp://x", "a=http://x,a=http://y"):
        with pytest.raises(ValueError):
            parse_agents(bad)
