"""Request/response models of the HTTP API (documented in the OpenAPI schema)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from vlmhb.backend.states import ExperimentStatus


class ApiModel(BaseModel):
    """A body the API answers with: every field is always sent (defaults too), so the
    schema lists them all as required (the UI's generated types rely on it)."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)


class ExperimentSummary(ApiModel):
    """One experiment in the list: status and progress, no config."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    status: ExperimentStatus
    message: str = ""
    models: list[str] = Field(default_factory=list)
    config_format: str
    progress: float = Field(description="finished stages / all stages (0..1)")
    stages_total: int
    stages_done: int
    attempts: int
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None


class ExperimentPage(ApiModel):
    items: list[ExperimentSummary]
    total: int
    offset: int
    limit: int


class StageOut(ApiModel):
    """One stage task: its state and progress, and its current try and where it runs."""

    model_config = ConfigDict(from_attributes=True)

    task_id: str
    stage: str
    run_name: str | None = None
    state: str
    message: str = ""
    done: int | None = None
    total: int | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    attempt: int | None = Field(
        default=None, description="the current try: 0 first, then each infrastructure retry"
    )
    max_attempts: int | None = Field(
        default=None, description="tries allowed (first + retries), known once one was retried"
    )
    host: str | None = Field(
        default=None, description="the host agent running the try; null: the orchestrator's host"
    )
    gpu_ids: list[str] | None = Field(default=None, description="its GPUs on that host")


class AttemptOut(ApiModel):
    """One try of a stage; ``state`` is ``RUNNING`` until it ends, ``message`` says why
    it ended (for a retried try: the infrastructure failure)."""

    model_config = ConfigDict(from_attributes=True)

    attempt: int
    host: str | None = None
    gpu_ids: list[str] | None = None
    state: str
    message: str = ""
    started_at: datetime
    finished_at: datetime | None = None


class StageAttempts(ApiModel):
    """Every try of a stage in its latest scheduling, first try first."""

    task_id: str
    stage: str
    run_name: str | None = None
    attempts: list[AttemptOut]


class LogLine(ApiModel):
    """One log event of a stage (``seq`` as on the WebSocket/SSE)."""

    seq: int
    ts: float
    message: str


class StageLog(ApiModel):
    """The last log events of a stage, and its log file (the stage's stderr) when it exists."""

    task_id: str
    lines: list[LogLine] = Field(description="oldest first; live ones follow on the WebSocket")
    file_url: str | None = Field(default=None, description="logs/<stage>.log, when written")
    file_tail: list[str] = Field(default_factory=list, description="the file's last lines")


class RunOut(ApiModel):
    id: int
    name: str
    model: str
    task: str
    prompt: str
    state: str
    done: int | None = None
    total: int | None = None
    stages: list[StageOut] = Field(default_factory=list)


class ArtifactOut(ApiModel):
    path: str = Field(description="relative to the runs root")
    run_name: str | None = None
    kind: str
    size: int
    url: str


class ExperimentDetail(ExperimentSummary):
    """An experiment with its runs, stages, artifacts and the last event ``seq``."""

    runs: list[RunOut] = Field(default_factory=list)
    experiment_stages: list[StageOut] = Field(default_factory=list)
    artifacts: list[ArtifactOut] = Field(default_factory=list)
    samples_done: int = 0
    samples_total: int = 0
    last_seq: int = 0


class Accepted(ApiModel):
    id: str
    status: Literal["accepted"] = "accepted"
    name: str
    links: dict[str, str] = Field(default_factory=dict)


class ActionResult(ApiModel):
    id: str
    status: str
    detail: str = ""


class DeleteResult(ApiModel):
    id: str
    deleted: bool
    artifacts_deleted: bool
    detail: str = ""


class ExampleConfig(ApiModel):
    """An experiment config that runs as it is on this server."""

    format: Literal["yaml"]
    text: str = Field(description="the config, to submit as application/yaml")
    dataset: str = Field(description="the dataset it uses, relative to the data root")


class SortField(StrEnum):
    created_at = "created_at"
    created_at_desc = "-created_at"
    updated_at = "updated_at"
    updated_at_desc = "-updated_at"
    name = "name"
    name_desc = "-name"
    status = "status"
    status_desc = "-status"


class SampleImages(BaseModel):
    """A sample's images: ``image_url`` the full page, ``crop_url`` the region the model
    was sent (tasks with ``image_region: answer_bbox``), ``answer_box`` the answer's box
    on the page in pixels ``[x1, y1, x2, y2]`` (the crop box, else the dataset's bbox).
    Fields of the rows that show a sample (not an answer of its own)."""

    image_url: str | None = None
    crop_url: str | None = None
    answer_box: list[float] | None = None


class SampleRow(ApiModel, SampleImages):
    """One sample of a run: input, ground truth, answer, metrics and timings."""

    id: str
    question: str = ""
    ground_truth: str = ""
    answer: str | None = None
    error: str = ""
    doc_class: str = ""
    question_type: str = ""
    metrics: dict[str, float | None] = Field(default_factory=dict)
    timings: dict[str, float | None] = Field(default_factory=dict)


class SamplePage(ApiModel):
    run: str
    items: list[SampleRow]
    total: int
    offset: int
    limit: int


class CompareRow(ApiModel, SampleImages):
    """One sample across runs; ``deltas[m][run] = value(run) - value(first run)``; the
    images are the first run's."""

    id: str
    question: str = ""
    ground_truth: str = ""
    doc_class: str = ""
    question_type: str = ""
    answers: dict[str, str | None] = Field(default_factory=dict)
    metrics: dict[str, dict[str, float | None]] = Field(default_factory=dict)
    deltas: dict[str, dict[str, float | None]] = Field(default_factory=dict)


class ComparePage(ApiModel):
    runs: list[str]
    metrics: list[str]
    items: list[CompareRow]
    total: int
    offset: int
    limit: int


class RegistryEntryOut(ApiModel):
    name: str
    source: str
    description: str = ""


class Health(ApiModel):
    status: str
    database: str
    bus: str
    mode: str
    version: str


class LeaderboardRow(ApiModel):
    """One run in the experiment's comparison: its macro value of each metric."""

    run: str
    model: str = ""
    task: str = ""
    prompt: str = ""
    values: dict[str, float | None] = Field(default_factory=dict)


class Analytics(ApiModel):
    """The leaderboard (runs best first by the first ranked quality metric) and Plotly
    figures (``figure.to_plotly_json()``), by name."""

    experiment_id: str
    quality_metrics: list[str]
    timing_metrics: list[str] = Field(default_factory=list)
    leaderboard: list[LeaderboardRow] = Field(default_factory=list)
    figures: dict[str, dict[str, Any]]


class ErrorOut(ApiModel):
    """An error answer: ``detail`` says what went wrong."""

    detail: str


class ValidationErrorOut(ApiModel):
    """A 422 answer: a message (an invalid config names file:line and field), or the list
    of invalid request parts (``loc``, ``msg``, ``type``) when a parameter is malformed."""

    detail: str | list[dict[str, Any]]


Responses = dict[int | str, dict[str, Any]]


def error(description: str, model: type[BaseModel] = ErrorOut) -> dict[str, Any]:
    """One documented error status: its description and ``{"detail": ...}`` body."""
    return {"model": model, "description": description}


# what any route behind the API router's auth dependency and Host/Origin checks may answer
SECURED_RESPONSES: Responses = {
    400: error(
        "malformed request (e.g. a multipart body that cannot be parsed), or a Host "
        "header that is not allowed"
    ),
    401: error("missing or wrong credentials (bearer token or session cookie)"),
    403: error("refused: a cross-origin request (Origin not allowed)"),
}
INVALID: Responses = {422: error("invalid parameters or body", ValidationErrorOut)}
NOT_FOUND: Responses = {404: error("not found")}
CONFLICT: Responses = {409: error("conflicts with the current state (exists, or busy)")}
