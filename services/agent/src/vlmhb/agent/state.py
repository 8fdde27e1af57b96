"""What the agent's routes share: its settings, GPUs, stages, Docker client, image jobs."""

from __future__ import annotations

import shutil
import threading
from datetime import UTC, datetime
from importlib.metadata import version

import docker
from fastapi import Request

from vlmhb.agent.gpus import GpuPool
from vlmhb.agent.images import BuildJobs
from vlmhb.agent.settings import AgentSettings
from vlmhb.agent.stages import AgentEnvs, StageRunner
from vlmhb.agent.wire import Health, Heartbeat, Inventory


class AgentState:
    """One per agent process; ``docker()`` connects on first use (a host without an
    engine still runs ``process`` stages)."""

    def __init__(self, settings: AgentSettings) -> None:
        self.settings = settings
        self.started_at = datetime.now(UTC)
        self.version = version("vlmhb-agent")
        self.gpus = GpuPool(settings.gpus)
        self.envs = AgentEnvs(settings.cache_dir, settings.name)
        self.runner = StageRunner(
            self.envs, self.gpus, settings.events_kept, settings.finished_kept_s
        )
        self.builds = BuildJobs()
        self.port = settings.port  # the bound one once serving (an ephemeral port)
        self._docker: docker.DockerClient | None = None
        self._lock = threading.Lock()

    def docker(self) -> docker.DockerClient:
        with self._lock:
            if self._docker is None:
                client = docker.from_env()
                client.ping()
                self._docker = client
            return self._docker

    def health(self) -> Health:
        return Health(name=self.settings.name, version=self.version, started_at=self.started_at)

    def inventory(self) -> Inventory:
        self.settings.cache_dir.mkdir(parents=True, exist_ok=True)
        return Inventory(
            name=self.settings.name,
            gpus=self.gpus.inventory(),
            gpus_free=self.gpus.free(),
            disk_free_bytes=shutil.disk_usage(self.settings.cache_dir).free,
            running=self.runner.running(),
            heartbeat_at=datetime.now(UTC),
        )

    def heartbeat(self) -> Heartbeat:
        return Heartbeat(
            name=self.settings.name,
            url=self.settings.public_url(self.port),
            inventory=self.inventory(),
        )

    def close(self) -> None:
        with self._lock:
            if self._docker is not None:
                self._docker.close()
                self._docker = None


def agent_state(request: Request) -> AgentState:
    """The ``AgentState`` of the app serving ``request`` (set by ``make_app``)."""
    state: AgentState = request.app.state.agent
    return state
