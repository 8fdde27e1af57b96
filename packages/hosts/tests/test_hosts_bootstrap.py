"""The bootstrap playbook run for real by ``run_bootstrap``: against this machine in check
mode (nothing changes here) and against a container standing in for a GPU host (the
``community.docker.docker`` connection, network none), installing and starting the agent
from the offline wheelhouse, then a re-run that changes nothing."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

import pytest
from docker.models.containers import Container
from vlmhb_hosts_testkit import TOKEN, start_host

from vlmhb.hosts.bootstrap import run_bootstrap
from vlmhb.hosts.models import BootstrapOptions, BootstrapResult, HostTarget, JobEvent

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
PASSWORD = "redis-pass-9f8e7d6c"
REDIS = f"redis://:{PASSWORD}@127.0.0.1:6399/0"  # never reached: the agent only keeps it
PRESENT = ["ca-certificates", "python3"]  # in the image: network none cannot install apt packages


def bootstrap(
    target: HostTarget, options: BootstrapOptions, work_dir: Path, cancel_now: bool = False
) -> tuple[BootstrapResult, list[JobEvent]]:
    events: list[JobEvent] = []
    stop = threading.Event()
    if cancel_now:
        stop.set()

    def seen(event: JobEvent) -> None:
        events.append(event)

    result = run_bootstrap(target, options, work_dir, seen, stop.is_set, ("hunter2-extra-secret",))
    return result, events


def no_secret_in(folder: Path, events: list[JobEvent], result: BootstrapResult) -> None:
    shown = [e.model_dump_json() for e in events] + [result.model_dump_json()]
    for secret in (TOKEN, PASSWORD, "hunter2-extra-secret"):
        assert not any(secret in text for text in shown), secret
        found = subprocess.run(["grep", "-rl", secret, str(folder)], capture_output=True, text=True)
        assert found.stdout == "", f"{secret} left in {found.stdout}"
    names = {p.name for p in folder.rglob("*")}
    assert not names & {"command", "env", "extravars", "inventory", "request.json"}


@pytest.fixture(scope="module")
def installed(gpu_host: Container, token_file: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The first bootstrap of the container host and its re-run."""
    target = HostTarget(name="gpu-box", address=str(gpu_host.name), connection="docker")
    options = BootstrapOptions(
        token_file=token_file, packages=PRESENT, nvidia_toolkit=False, redis_url=REDIS
    )
    work = tmp_path_factory.mktemp("jobs")
    first = bootstrap(target, options, work / "first")
    again = bootstrap(target, options, work / "again")
    return first, again, work


def test_localhost_check_mode_gathers_facts_and_changes_nothing(
    token_file: Path, tmp_path: Path
) -> None:
    target = HostTarget(name="controller", address="127.0.0.1", connection="local")
    cache = tmp_path / "cache-not-made"
    options = BootstrapOptions(
        check=True, token_file=token_file, cache_path=str(cache), redis_url=REDIS
    )
    result, events = bootstrap(target, options, tmp_path / "job")
    assert result.status == "successful", result.message
    facts = result.facts
    assert facts is not None
    assert facts.distro and facts.kernel and facts.architecture and facts.python
    assert facts.cpus and facts.cpus >= 1 and facts.memory_mb and facts.memory_mb > 100
    assert facts.disk_free_bytes and facts.disk_free_bytes > 0
    assert facts.docker_version  # the Docker engine the tests run on
    assert result.agent_url is None  # a dry run installs no agent
    assert not cache.exists() and not Path("/etc/vlmhb/agent.env").exists()
    tasks = [e.task for e in events if e.event == "playbook_on_task_start"]
    assert tasks[:2] == ["Gathering Facts", "Free disk on the cache path"]
    assert "The agent's token (copied from the controller, never a variable)" in tasks
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert events[-1].message.startswith("RECAP ")
    no_secret_in(tmp_path / "job", events, result)


def test_a_container_host_gets_a_running_agent_and_its_gpu_facts(
    installed,
    gpu_host: Container,  # type: ignore[no-untyped-def]
) -> None:
    (result, events), _, work = installed
    assert result.status == "successful", result.failures
    assert result.changed > 0
    assert result.agent_url == "http://127.0.0.1:8101"
    facts = result.facts
    assert facts is not None and facts.distro == "Debian" and facts.python
    assert [(g.index, g.name, g.memory_total_mb, g.driver_version) for g in facts.gpus] == [
        (0, "NVIDIA H100 80GB HBM3", 81559, "550.54.15"),
        (1, "NVIDIA H100 80GB HBM3", 81559, "550.54.15"),
    ]
    assert facts.docker_version is None  # no engine in this host (network none: not installed)
    health = gpu_host.exec_run(
        [
            "/opt/vlmhb/agent/bin/python",
            "-c",
            "import httpx; print(httpx.get('http://127.0.0.1:8101/health').json()['name'])",
        ]
    )
    assert health.output.decode().strip() == "gpu-box"
    env = gpu_host.exec_run(["cat", "/etc/vlmhb/agent.env"]).output.decode()
    assert "VLMHB_AGENT_GPUS=0,1" in env and "VLMHB_AGENT_NAME=gpu-box" in env
    mode = gpu_host.exec_run(["stat", "-c", "%a %U", "/etc/vlmhb/agent.token"]).output.decode()
    assert mode.strip() == "600 root"
    assert gpu_host.exec_run(["cat", "/etc/vlmhb/agent.token"]).output.decode().strip() == TOKEN
    changed = [e.task for e in events if e.status == "changed"]
    assert "Install the agent (offline, from the wheelhouse)" in changed
    no_secret_in(work / "first", events, result)


def test_a_rerun_changes_nothing_and_keeps_the_agent(installed, gpu_host: Container) -> None:  # type: ignore[no-untyped-def]
    _, (again, events), work = installed
    assert again.status == "successful", again.failures
    assert again.changed == 0, [e.message for e in events if e.status == "changed"]
    pid = gpu_host.exec_run(["cat", "/run/vlmhb-agent.pid"]).output.decode().strip()
    assert gpu_host.exec_run(["sh", "-c", f"kill -0 {pid}"]).exit_code == 0
    no_secret_in(work / "again", events, again)


def test_a_failing_task_is_reported_with_its_message(
    docker_client,
    base_cpu_image: str,
    token_file: Path,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    host = start_host(docker_client, base_cpu_image, gpus=False)
    try:
        target = HostTarget(name="bad", address=str(host.name), connection="docker")
        options = BootstrapOptions(
            token_file=token_file, packages=["no-such-package-vlmhb"], nvidia_toolkit=False
        )
        result, events = bootstrap(target, options, tmp_path / "job")
    finally:
        host.remove(force=True)
    assert result.status == "failed" and result.rc != 0
    assert len(result.failures) == 1
    assert result.failures[0].startswith("Install system packages: ")
    assert "no-such-package-vlmhb" in result.failures[0]
    assert result.message == result.failures[0]
    assert any(e.status == "failed" and e.task == "Install system packages" for e in events)


def test_an_unreachable_host_fails_with_the_reason(token_file: Path, tmp_path: Path) -> None:
    target = HostTarget(name="gone", address="vlmhb-no-such-container", connection="docker")
    result, _ = bootstrap(
        target, BootstrapOptions(check=True, token_file=token_file), tmp_path / "job"
    )
    assert result.status == "failed" and result.facts is None
    assert result.message.startswith("Gathering Facts: ")


def test_a_cancelled_bootstrap_stops(token_file: Path, tmp_path: Path) -> None:
    target = HostTarget(name="controller", address="127.0.0.1", connection="local")
    options = BootstrapOptions(check=True, token_file=token_file)
    result, events = bootstrap(target, options, tmp_path / "job", cancel_now=True)
    assert result.status == "canceled"
    assert not any(e.event == "playbook_on_stats" for e in events)  # it never ended
