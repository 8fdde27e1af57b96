"""The shapes a bootstrap takes and returns (one owner: the backend stores and serves
these, the runner produces them)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"
Connection = Literal["ssh", "local", "docker"]
EventStatus = Literal["ok", "changed", "failed", "skipped", "unreachable"]
JobStatus = Literal["queued", "running", "successful", "failed", "canceled"]


class HostTarget(BaseModel):
    """Where a host is and how Ansible reaches it. ``connection``: ``ssh`` (a real host),
    ``local`` (the controller itself) or ``docker`` (a container as a host, through the
    ``community.docker.docker`` connection plugin: tests). ``ssh_key_file``: the private
    key's path on the controller, resolved from the host's key reference (the key itself
    is never stored or sent anywhere)."""

    name: str = Field(pattern=NAME_PATTERN)
    address: str = Field(min_length=1, max_length=255)
    connection: Connection = "ssh"
    ssh_user: str | None = Field(None, pattern=r"^[a-z_][a-z0-9_-]{0,31}$")
    ssh_port: int = Field(22, ge=1, le=65535)
    ssh_key_file: Path | None = None


class BootstrapOptions(BaseModel):
    """What the playbook installs and how the agent is set up on the host.

    ``agent_name``: the agent's name (default: the host's name); ``agent_bind``/``agent_port``:
    where the agent listens on the host; ``agent_url``: how workers reach it (default
    ``http://<address>:<port>``). ``token_file``: the agent token on the controller, copied to
    the host (mode 0600) by a ``no_log`` task; the token never travels as a variable.
    ``redis_url``: where the agent's heartbeats go. ``cache_path``: the agent's cache folder
    (its disk free is a fact). ``check``: Ansible's check mode (report, change nothing).
    ``packages``: the system packages the host needs (default: the Docker engine).
    ``wheelhouse``: a folder of wheels the agent is installed from offline (default: built
    from this checkout and its pins, cached; not built in check mode, where the tasks that
    copy it are skipped). ``nvidia_toolkit``: install the NVIDIA container toolkit
    (``auto``: when ``nvidia-smi`` lists GPUs)."""

    agent_name: str | None = Field(None, pattern=NAME_PATTERN)
    agent_bind: str = "127.0.0.1"
    agent_port: int = Field(8101, ge=1, le=65535)
    agent_url: str | None = None
    token_file: Path | None = None
    redis_url: str | None = None
    cache_path: str = "/var/cache/vlmhb"
    check: bool = False
    packages: list[str] | None = None
    wheelhouse: Path | None = None
    nvidia_toolkit: Literal["auto"] | bool = "auto"


class GpuFact(BaseModel):
    """One GPU as ``nvidia-smi --query-gpu`` reports it."""

    index: int
    name: str
    memory_total_mb: int | None = None
    driver_version: str | None = None
    uuid: str | None = None


class HostFacts(BaseModel):
    """What the bootstrap gathered (from the ``runner_on_ok`` events of its fact tasks)."""

    distro: str | None = None
    distro_version: str | None = None
    kernel: str | None = None
    architecture: str | None = None
    cpus: int | None = None
    memory_mb: int | None = None
    cache_path: str | None = None
    disk_free_bytes: int | None = None
    docker_version: str | None = None
    service_manager: str | None = None
    python: str | None = None
    gpus: list[GpuFact] = Field(default_factory=list)


class JobEvent(BaseModel):
    """One Ansible event as it is stored and shown (secrets scrubbed): ``event`` is the
    runner's name (``playbook_on_task_start``, ``runner_on_ok``, ...), ``status`` the task
    outcome on a host when there is one, ``message`` one readable line."""

    seq: int
    event: str
    task: str | None = None
    host: str | None = None
    status: EventStatus | None = None
    changed: bool = False
    message: str = ""
    created_at: datetime


class BootstrapResult(BaseModel):
    """How a bootstrap ended: ``status`` (``successful``/``failed``/``canceled``), the
    playbook's ``rc``, the facts gathered (``None`` when the host was unreachable),
    ``changed``: tasks that changed something (0 on an idempotent re-run),
    ``failures``: ``"<task>: <message>"`` for each failed task, ``agent_url``: where the
    installed agent answers (``None`` in check mode or on failure)."""

    status: Literal["successful", "failed", "canceled"]
    rc: int
    facts: HostFacts | None = None
    changed: int = 0
    failures: list[str] = Field(default_factory=list)
    message: str = ""
    agent_url: str | None = None
