"""What a stage container is made of: the engine's create options, from the task.

One function for every container the docker env creates (stages and the prepare
containers that install packages), so every one of them gets the same hardening: a
non-root user, no capabilities, ``no-new-privileges``, never privileged, an init process
(signals forwarded, zombies reaped), no auto-remove (the exit code and ``OOMKilled`` are
read first), and a network that is ``none`` or ``host`` — a bridge network is refused."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from docker.types import Mount

from vlmhb.containers.docker_env.gpus import device_requests, visible_devices
from vlmhb.containers.docker_env.user import IMAGE_UID, ContainerUser
from vlmhb.core.contracts import ResourceSpec
from vlmhb.core.envs.policy import ContainerPolicyError, StageMount

NETWORKS = frozenset({"none", "host"})
PRIVATE_MOUNT = "/run/vlmhb/task"  # the private folder holding the task file with secrets
HOME_ELSEWHERE = "/tmp"  # HOME of a host user the image does not know


@dataclass(frozen=True)
class ContainerSpec:
    """A container to create: image, command, what it sees and may use."""

    image: str
    command: list[str]
    user: ContainerUser
    network: str
    labels: Mapping[str, str]
    mounts: Sequence[StageMount] = ()
    extra_mounts: Sequence[Mount] = ()
    resources: ResourceSpec = field(default_factory=ResourceSpec)
    gpu_ids: Sequence[int | str] = ()
    environment: Mapping[str, str] = field(default_factory=dict)
    working_dir: Path | None = None

    def create_options(self) -> dict[str, Any]:
        """Keyword arguments of ``client.containers.create``."""
        if self.network not in NETWORKS:
            raise ContainerPolicyError(
                f"network {self.network!r} is refused: a stage container gets 'none' or "
                "'host', never a bridge network"
            )
        environment = {
            "PYTHONUNBUFFERED": "1",
            "CUDA_VISIBLE_DEVICES": visible_devices(self.gpu_ids),
            **self.environment,
        }
        if self.user.uid != IMAGE_UID:
            environment.setdefault("HOME", HOME_ELSEWHERE)
        options: dict[str, Any] = {
            "image": self.image,
            "command": self.command,
            "user": self.user.spec,
            "network_mode": self.network,
            "labels": dict(self.labels),
            "mounts": [
                Mount(str(m.source), str(m.source), type="bind", read_only=m.read_only)
                for m in self.mounts
            ]
            + list(self.extra_mounts),
            "environment": environment,
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges"],
            "privileged": False,
            "init": True,
            "auto_remove": False,
            "device_requests": device_requests(self.gpu_ids),
        }
        if self.working_dir is not None:
            options["working_dir"] = str(self.working_dir)
        if self.resources.memory is not None:
            options["mem_limit"] = self.resources.memory
            options["memswap_limit"] = self.resources.memory  # no swap: over the limit is OOM
        if self.resources.cpus is not None:
            options["nano_cpus"] = int(self.resources.cpus * 1e9)
        return options
