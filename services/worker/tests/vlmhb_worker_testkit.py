"""Helpers and fixtures of the job queue tests: lease stores on SQLite files and on the real
PostgreSQL (a schema of its own, dropped after), and a "plane" of real processes — agents
(the agent tests' ``launch_agent``), workers (``vlmhb worker``) — over a real broker."""

from __future__ import annotations

import importlib.util
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest

from vlmhb.core.config import load_experiment
from vlmhb.core.contracts import ExperimentSpec
from vlmhb.worker.settings import WorkerSettings

HERE = Path(__file__).parent
PG_DSN = os.environ.get("VLMHB_TEST_PG_WORKER_DSN", "postgresql://127.0.0.1:5432/test")
REDIS_URL = os.environ.get("VLMHB_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
AMQP_URL = os.environ.get("VLMHB_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")
READY_S = 60.0


def _load_agent_testkit() -> Any:
    """The agent tests' helpers (``launch_agent``, ``CONFIG``), not copied."""
    path = HERE.parents[1] / "agent" / "tests" / "conftest.py"
    spec = importlib.util.spec_from_file_location("vlmhb_agent_tests_conftest", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


agent_testkit = _load_agent_testkit()


@pytest.fixture(scope="session")
def pg_schema_url() -> Iterator[str]:
    """A SQLAlchemy URL into database ``test`` whose tables land in a fresh schema."""
    schema = f"vlmhb_worker_{secrets.token_hex(4)}"
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    base = PG_DSN.replace("postgresql://", "postgresql+psycopg://")
    try:
        yield f"{base}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'queue.db'}"
    url: str = request.getfixturevalue("pg_schema_url")
    return url


@pytest.fixture(scope="session")
def token_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("token") / "token"
    path.write_text(secrets.token_urlsafe(32))
    path.chmod(0o600)
    return path


@pytest.fixture(scope="session")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shared data root: the dataset and every run folder lie below it."""
    return tmp_path_factory.mktemp("plane")


@pytest.fixture(scope="session")
def dataset(root: Path) -> Path:
    from vlmhb.data.synth.generate import generate_dataset

    out = root / "data" / "synth"
    generate_dataset(out, n=1, seed=1, formats=("vqa_csv",))
    return out


@dataclass
class WorkerProcess:
    process: subprocess.Popen[bytes]
    log: Path

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class Plane:
    """Agents and workers of one test sharing a broker, a queue prefix and a store."""

    folder: Path
    token_file: Path
    broker_url: str
    store_url: str
    options: dict[str, str] = field(default_factory=dict)
    agents: dict[str, Any] = field(default_factory=dict)
    workers: list[WorkerProcess] = field(default_factory=list)
    prefix: str = field(default_factory=lambda: f"t{secrets.token_hex(4)}.")

    def agent(self, name: str, gpus: str = "") -> Any:
        running = agent_testkit.launch_agent(
            self.folder / name,
            self.token_file,
            name,
            gpus=gpus,
            env={"VLMHB_DATA_ROOT": str(self.folder.parent), "VLMHB_STOP_GRACE_S": "3"},
        )
        self.agents[name] = running
        return running

    def env(self) -> dict[str, str]:
        return {
            "VLMHB_BROKER_URL": self.broker_url,
            "VLMHB_QUEUE_DB_URL": self.store_url,
            "VLMHB_QUEUE_PREFIX": self.prefix,
            "VLMHB_AGENTS": ",".join(f"{n}={a.url}" for n, a in self.agents.items()),
            "VLMHB_AGENT_TOKEN_FILE": str(self.token_file),
            "VLMHB_DATA_DIR": str(self.folder / "queue"),
            "VLMHB_LEASE_TTL_S": "4",
            "VLMHB_HEARTBEAT_S": "0.5",
            "VLMHB_AGENT_GRACE_S": "3",
            "VLMHB_PLACE_RETRY_S": "0.5",
            **self.options,
        }

    def settings(self) -> WorkerSettings:
        return WorkerSettings(
            **{k.removeprefix("VLMHB_").lower(): v for k, v in self.env().items()}
        )

    def worker(self, queues: str = "cpu,gpu") -> WorkerProcess:
        log = self.folder / f"worker-{len(self.workers)}.log"
        command = [sys.executable, "-m", "vlmhb.core.cli.main", "worker", "-Q", queues]
        with log.open("ab") as out:
            process = subprocess.Popen(
                command, cwd=self.folder, env={**os.environ, **self.env()}, stdout=out, stderr=out
            )
        started = WorkerProcess(process, log)
        self.workers.append(started)
        deadline = time.monotonic() + READY_S
        while " ready." not in log.read_text(errors="replace"):
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"worker not ready: {log.read_text()}"
            time.sleep(0.1)
        return started

    def close(self) -> None:
        for worker in self.workers:
            worker.stop()
        for running in self.agents.values():
            running.stop()


MakePlane = Callable[..., Plane]


@pytest.fixture
def make_plane(
    tmp_path: Path, token_file: Path, root: Path, pg_schema_url: str
) -> Iterator[MakePlane]:
    """``make_plane(broker_url=REDIS_URL, **options)``: a plane in this test's folder under
    the shared root (its store: the session's PostgreSQL schema)."""
    planes: list[Plane] = []

    def make(broker_url: str = REDIS_URL, **options: str) -> Plane:
        folder = root / tmp_path.name
        folder.mkdir(exist_ok=True)
        plane = Plane(folder, token_file, broker_url, pg_schema_url, options)
        planes.append(plane)
        return plane

    yield make
    for plane in planes:
        plane.close()


EXPERIMENT = """\
name: {name}
output_dir: {out}
models:
  - {{name: {model}, backend: scripted, concurrency: 1,
     params: {{rule: echo, latency_ms: {latency}, request_log: {log}}}{extra}}}
datasets:
  - {{name: synth, format: vqa_csv, path: {data}}}
tasks:
  - {{name: vqa, dataset: synth, kind: vqa, metrics: [cer]}}
"""


def experiment(
    folder: Path, dataset: Path, name: str, latency_ms: int = 0, extra: str = ""
) -> ExperimentSpec:
    """A one-run experiment (scripted backend, one request at a time) writing its runs in
    ``folder/runs``; each request's sample id goes to ``folder/runs/requests.log``."""
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / f"{name}.yaml"
    config.write_text(
        EXPERIMENT.format(
            name=name,
            out=folder / "runs",
            model=f"m-{name}",
            latency=latency_ms,
            log="requests.log",
            data=dataset,
            extra=extra,
        ),
        encoding="utf-8",
    )
    return load_experiment(config)
