"""The JSON shapes of the hosts and catalog routes."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from vlmhb.agent.wire import GpuInfo
from vlmhb.containers.images.listing import ImageRow
from vlmhb.hosts.models import NAME_PATTERN, HostFacts, JobEvent


class HostIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field(pattern=NAME_PATTERN)
    address: str = Field(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9_.:\[\]-]+$")
    connection: Literal["ssh", "local", "docker"] = "ssh"
    ssh_user: str | None = Field(None, pattern=r"^[a-z_][a-z0-9_-]{0,31}$")
    ssh_port: int = Field(22, ge=1, le=65535)
    ssh_key: str | None = Field(None, max_length=128, description="a key name, never a key")
    agent_port: int = Field(8101, ge=1, le=65535)


NOT_NULL = ("address", "ssh_port", "agent_port")


class HostPatch(BaseModel):
    """The fields to change (``ssh_user`` and ``ssh_key`` may be null: none)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    address: str | None = Field(
        None, min_length=1, max_length=255, pattern=r"^[A-Za-z0-9_.:\[\]-]+$"
    )
    ssh_user: str | None = Field(None, pattern=r"^[a-z_][a-z0-9_-]{0,31}$")
    ssh_port: int | None = Field(None, ge=1, le=65535)
    ssh_key: str | None = Field(None, max_length=128)
    agent_port: int | None = Field(None, ge=1, le=65535)

    @model_validator(mode="before")
    @classmethod
    def _no_null_where_required(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key in NOT_NULL:
                if key in data and data[key] is None:
                    raise ValueError(f"field '{key}': may be left out, not null")
        return data


class HostJobOut(BaseModel):
    id: str
    host: str
    kind: str
    check: bool
    status: str
    rc: int | None
    changed: int | None
    failures: list[str]
    message: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class HostCheckOut(BaseModel):
    checked_at: datetime
    status: str
    latency_ms: float | None
    disk_free_bytes: int | None
    gpus: list[GpuInfo]
    running: int
    message: str


class ContainerCheckOut(BaseModel):
    checked_at: datetime
    container_id: str
    name: str
    task_id: str | None
    state: str
    restarts: int
    exit_code: int | None
    oom_killed: bool


class HostOut(BaseModel):
    name: str
    address: str
    connection: str
    ssh_user: str | None
    ssh_port: int
    ssh_key: str | None
    agent_port: int
    agent_name: str | None
    agent_url: str | None
    status: str
    status_message: str
    healthy: bool
    facts: HostFacts | None
    facts_at: datetime | None
    last_seen_at: datetime | None
    last_check: HostCheckOut | None
    last_job: HostJobOut | None


class BootstrapIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    check: bool = False


class JobEvents(BaseModel):
    events: list[JobEvent]
    finished: bool


class HostEventOut(BaseModel):
    id: int
    host: str
    kind: str
    message: str
    created_at: datetime


class CatalogModelIn(BaseModel):
    """A catalog model: ``spec`` is the model entry (``backend`` aside: ``params``,
    ``load``, ``concurrency``, ``resources``, ``env: {kind, image}``, ``model_path``,
    ``model``, ``base_url``); ``weights`` says where its weights are."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:@/-]*$")
    backend: str = Field(min_length=1, max_length=100)
    weights: dict[Literal["path", "hf_id", "s3_uri"], str] = Field(default_factory=dict)
    gpu_memory_gb: float | None = Field(None, ge=0)
    version: str = Field("", max_length=100)
    notes: str = Field("", max_length=4000)
    spec: dict[str, Any] = Field(default_factory=dict)


class CatalogModelOut(BaseModel):
    name: str
    source: Literal["catalog", "registry"]
    backend: str
    weights: dict[str, str]
    gpu_memory_gb: float | None
    version: str
    notes: str
    spec: dict[str, Any]
    editable: bool


class HostImages(BaseModel):
    """A host's stage images as its agent lists them, or the error reaching it."""

    host: str
    images: list[ImageRow]
    error: str | None = None


class BuildImagesIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    names: list[str] = Field(default_factory=list)
    force: bool = False


class PullImageIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    ref: str = Field(min_length=1, max_length=300)
