"""Agents as real subprocesses (``python -m vlmhb.agent`` on an ephemeral loopback port,
a token file, fake GPU ids) and small real experiments planned the way ``vlmhb run`` does
(scripted backend, a synthetic dataset)."""

from __future__ import annotations

import os
import secrets
import selectors
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from vlmhb.agent.client import AgentClient
from vlmhb.core.config import load_experiment
from vlmhb.core.contracts import StageName, StageTask
from vlmhb.core.orchestration.graph import plan_experiment

READY_TIMEOUT_S = 60.0
CONFIG = """\
name: {name}
models:
  - {{name: {model}, backend: scripted, params: {{rule: echo, latency_ms: {latency}}},
     concurrency: 1}}
datasets:
  - {{name: synth, format: vqa_csv, path: {data}}}
tasks:
  - {{name: vqa, dataset: synth, kind: vqa, metrics: [cer]}}
"""


@dataclass
class AgentProcess:
    """A running ``vlmhb agent``: its process, URL and the ready line it printed."""

    name: str
    process: subprocess.Popen[str]
    url: str
    ready_line: str
    token: str
    clients: list[AgentClient] = field(default_factory=list)

    def client(self, **options: float) -> AgentClient:
        client = AgentClient(self.url, self.token, **options)  # type: ignore[arg-type]
        self.clients.append(client)
        return client

    def stop(self) -> None:
        """SIGTERM (the agent stops its stages), SIGKILL if it does not end."""
        for client in self.clients:
            client.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def agent_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "vlmhb.agent", *args]


def launch_agent(
    folder: Path,
    token_file: Path,
    name: str,
    gpus: str = "0,1",
    env: dict[str, str] | None = None,
    extra: tuple[str, ...] = (),
) -> AgentProcess:
    """Start an agent and wait for its ready line (its stdout)."""
    folder.mkdir(parents=True, exist_ok=True)
    args = ["--name", name, "--token-file", str(token_file), "--port", "0"]
    args += ["--cache-dir", str(folder / "cache"), *(["--gpus", gpus] if gpus else []), *extra]
    log = folder / "agent.log"
    with log.open("a", encoding="utf-8") as stderr:
        process = subprocess.Popen(
            agent_command(*args),
            cwd=folder,
            env={**os.environ, "VLMHB_DATA_ROOT": str(folder), **(env or {})},
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline and selector.select(deadline - time.monotonic()):
            line = process.stdout.readline()
            if not line:
                break
            if " ready at " in line:
                url = line.split(" ready at ", 1)[1].split()[0]
                return AgentProcess(name, process, url, line.strip(), token_file.read_text())
    process.kill()
    process.wait()
    raise AssertionError(f"agent {name} did not start: {log.read_text(encoding='utf-8')}")


@pytest.fixture(scope="session")
def token_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("agent-token") / "token"
    path.write_text(secrets.token_urlsafe(32))
    path.chmod(0o600)
    return path


@pytest.fixture(scope="session")
def agent_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The data root of the module agents: datasets and runs go below it."""
    return tmp_path_factory.mktemp("agent-root")


@pytest.fixture(scope="session")
def dataset(agent_root: Path) -> Path:
    """A synthetic VQA dataset (one document of each kind)."""
    from vlmhb.data.synth.generate import generate_dataset

    out = agent_root / "data" / "synth"
    generate_dataset(out, n=1, seed=1, formats=("vqa_csv",))
    return out


PlanStage = Callable[..., StageTask]


@pytest.fixture(scope="session")
def plan_inference(agent_root: Path, dataset: Path) -> PlanStage:
    """``plan(model, latency_ms)``: the inference task of a one-run experiment (each
    model name gives its own run, so its own stage id)."""

    def plan(model: str, latency_ms: int = 0) -> StageTask:
        name = f"agent-{model}"
        config = agent_root / f"{name}.yaml"
        config.write_text(
            CONFIG.format(name=name, model=model, data=dataset, latency=latency_ms),
            encoding="utf-8",
        )
        spec = load_experiment(config)
        spec.output_dir = agent_root / "runs"
        return next(t for t in plan_experiment(spec) if t.stage == StageName.INFERENCE)

    return plan


@pytest.fixture(scope="module")
def agent(agent_root: Path, token_file: Path) -> Iterator[AgentProcess]:
    """A module-wide agent with two fake GPUs; ``127.0.0.1:9/vlmhb/`` is an allowed image
    prefix (a registry that is not there)."""
    running = launch_agent(
        agent_root / "agent-a",
        token_file,
        f"a-{secrets.token_hex(3)}",
        env={
            "VLMHB_IMAGE_PREFIXES": '["vlmhb/", "127.0.0.1:9/vlmhb/"]',
            "VLMHB_DATA_ROOT": str(agent_root),
        },
    )
    yield running
    running.stop()


Launch = Callable[..., AgentProcess]


@pytest.fixture
def launch(token_file: Path) -> Iterator[Launch]:
    """``launch(folder, name, ...)``: start an agent (``launch_agent``), stopped after the
    test."""
    started: list[AgentProcess] = []

    def start(folder: Path, name: str, **options: object) -> AgentProcess:
        running = launch_agent(folder, token_file, name, **options)  # type: ignore[arg-type]
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()
