"""The JSON shapes of the agent's HTTP API (one owner: the server answers with these
models and the client parses them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from vlmhb.containers.images.listing import ImageRow
from vlmhb.core.contracts import Event, StageResult, StageTask

AGENT_LABEL = "vlmhb.agent"  # on every container this agent starts: the agent's name


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    name: str
    version: str
    started_at: datetime


class GpuInfo(BaseModel):
    """A declared GPU: ``id`` as declared; what NVML knows of it when a driver answers
    (name, memory, temperature and utilisation where the GPU reports them)."""

    id: str
    index: int | None = None
    uuid: str | None = None
    name: str | None = None
    memory_total_mb: int | None = None
    memory_used_mb: int | None = None
    temperature_c: int | None = None
    utilization_pct: int | None = None
    busy: bool = False


class Inventory(BaseModel):
    name: str
    gpus: list[GpuInfo]
    gpus_free: list[str]
    disk_free_bytes: int
    running: list[str]
    heartbeat_at: datetime


class StartStage(BaseModel):
    """``task`` with its secrets in clear (the request is the private hand-off; see
    ``vlmhb.core.secrets.revealed_json``); ``gpus``: how many declared GPUs it takes."""

    task: StageTask
    gpus: int = Field(0, ge=0)


class StageStarted(BaseModel):
    stage_id: str
    attempt: int
    gpu_ids: list[str]


class StageStatus(BaseModel):
    stage_id: str
    attempt: int
    state: Literal["running", "finished"]
    result: StageResult | None = None


class StageEvent(BaseModel):
    seq: int
    event: Event


class EventsPage(BaseModel):
    """Events after the asked ``seq`` (oldest first); ``finished``: the stage has ended
    and no event follows these."""

    events: list[StageEvent]
    finished: bool


class ContainerInfo(BaseModel):
    id: str
    name: str
    labels: dict[str, str]
    state: str
    exit_code: int | None = None
    oom_killed: bool = False
    restarts: int = 0


class StopContainers(BaseModel):
    """Stop and remove every vlmhb container with all of these ``vlmhb.*`` labels."""

    labels: dict[str, str] = Field(min_length=1)


class StoppedContainers(BaseModel):
    stopped: list[str]


class BuildImages(BaseModel):
    """Image folders of ``deploy/images`` to build (all when empty)."""

    names: list[str] = Field(default_factory=list)
    force: bool = False


class ImageJob(BaseModel):
    id: str
    state: Literal["running", "finished", "failed"]
    names: list[str]
    log: list[str] = Field(default_factory=list)
    outcomes: list[dict[str, Any]] = Field(default_factory=list)
    error: str | None = None


class PullImage(BaseModel):
    ref: str = Field(min_length=1)


class Images(BaseModel):
    images: list[ImageRow]


class Heartbeat(BaseModel):
    """What an agent writes to Redis (``vlmhb:agents:<name>``) every interval."""

    name: str
    url: str
    inventory: Inventory
