"""Data contracts shared by every VLMHyperBench package.

Everything that crosses a package or process boundary is one of these Pydantic models:
experiment configuration (``ExperimentSpec`` and its parts), the planned work
(``RunSpec``, ``StageTask``, ``StageResult``), dataset samples (``Sample``,
``PreparedSample``, ``RowProblem``) and events (``Event``).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from vlmhb.core.fieldtypes import OPERATOR, OutputPath, PathRole
from vlmhb.core.pathfield import PathField
from vlmhb.core.secrets import seal
from vlmhb.core.speed import parse_slo
from vlmhb.core.storage import uri_scheme


def stable_hash(*parts: Any, length: int = 12) -> str:
    """Content hash of JSON-serialisable parts; the same input always gives the same id."""
    payload = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:length]


class StrictModel(BaseModel):
    """Base for config models: unknown fields are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------- config


NetworkMode = Literal["none", "host"]


class EnvSpec(StrictModel):
    """Where a stage runs. ``kind`` is a name in the env registry (entry points
    ``vlmhb.envs``): built-in ``process`` is this interpreter, or a cached venv with extra
    ``packages`` installed by ``installer``; ``docker`` and ``apptainer`` run the stage in
    a container of ``image``.

    ``network`` is the network a container stage gets (the ``process`` env ignores it):
    ``auto`` resolves per stage (``vlmhb.core.envs.network.stage_network``): evaluation and
    report ``none``; inference ``none`` unless the model reaches a server (it has a
    ``base_url``), then ``host``. ``none`` and ``host`` are taken as they are; a bridge
    network is never used."""

    kind: str = "process"
    packages: list[str] = Field(default_factory=list)
    installer: Literal["uv", "pip"] = "uv"
    image: str | None = None
    network: Literal["auto", "none", "host"] = "auto"


# Docker's size syntax: a number and an optional unit (b, k, m, g; no unit: bytes).
_MEMORY = re.compile(r"^(\d+(?:\.\d+)?)([bkmg]?)$")
_MEMORY_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
MIN_MEMORY_BYTES = 6 * 1024**2  # the smallest limit Docker accepts


def memory_bytes(memory: str) -> int:
    """Bytes of a docker-style size (``"512m"``, ``"4g"``, ``"1.5g"``); ``ValueError``
    for anything else."""
    match = _MEMORY.match(memory.strip().lower())
    if match is None:
        raise ValueError(
            f"{memory!r} is not a size: write a number with an optional unit b, k, m or g "
            "(e.g. 512m, 4g)"
        )
    return int(float(match.group(1)) * _MEMORY_UNITS[match.group(2)])


class ResourceSpec(StrictModel):
    """What a stage may use. ``gpus`` is taken from the scheduler's pool; ``memory``
    (docker-style size, e.g. ``512m``, ``4g``) and ``cpus`` (e.g. ``1.5``) are limits a
    container env applies (none: no limit; the ``process`` env ignores them)."""

    gpus: int = Field(0, ge=0)
    memory: str | None = Field(None, description="memory limit, e.g. 512m or 4g; none: no limit")
    cpus: float | None = Field(None, gt=0, description="CPU limit, e.g. 1.5; none: no limit")

    @field_validator("memory")
    @classmethod
    def _memory(cls, value: str | None) -> str | None:
        if value is None:
            return None
        size = memory_bytes(value)
        if size < MIN_MEMORY_BYTES:
            raise ValueError(f"{value!r} is below the smallest memory limit, 6m")
        return value.strip().lower()


class LoadSpec(StrictModel):
    """How the inference stage sends a run's requests, and the latency targets it is judged
    by (speed settings, not answers: ``ModelSpec.concurrency`` is the concurrency limit).

    ``slo`` is ``{ttft: 500, tpot: 50}`` or the text ``"ttft:500,tpot:50"`` (ms; keys
    ttft, tpot, itl, e2el = latency)."""

    request_rate: float | None = Field(
        None, gt=0, description="requests started per second; none: all at once"
    )
    arrivals: Literal["poisson", "constant"] = Field(
        "poisson", description="gaps between request starts at request_rate"
    )
    seed: int = Field(0, description="seed of the Poisson arrivals")
    warmup: int = Field(0, ge=0, description="requests sent first and not recorded")
    adaptive_concurrency: bool = Field(
        True, description="halve the concurrency on 429/5xx answers, grow it back (AIMD)"
    )
    slo: dict[str, float] = Field(
        default_factory=dict, description="latency targets in ms for goodput"
    )

    @field_validator("request_rate", mode="before")
    @classmethod
    def _unlimited(cls, value: Any) -> Any:
        return None if value in ("inf", "", math.inf) else value

    @field_validator("slo", mode="before")
    @classmethod
    def _slo(cls, value: Any) -> dict[str, float]:
        return parse_slo(value)


# ModelSpec fields that change what inference measures (speed, errors, the software and
# hardware under test) but not the prompts: part of the run id, recorded in the manifest.
MEASURED_MODEL_FIELDS = {"concurrency", "resources", "env", "load"}
# GenerationParams fields in every run id; the others (stream, timeout_s, retries) join
# only where they differ from their defaults.
ANSWER_GENERATION_FIELDS = {"max_tokens", "temperature"}


class ModelSpec(StrictModel):
    """One model under test. ``backend`` is a name in the model registry.

    ``params`` are the backend's (declared by its ``Params`` model); string values under
    secret-naming keys, at any depth, are held as ``SecretStr`` (see ``vlmhb.core.secrets``).
    ``api_key_env`` names the environment variable holding the API key; for submitted
    configs only the variables the server allows, for the base URLs it allows. ``load``
    says how the inference stage sends requests (rate, warm-up, SLO): not params."""

    name: str
    backend: str
    model_path: Annotated[str | None, PathRole.MODEL] = None
    model: str | None = None
    base_url: str | None = None
    api_key_env: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    env: Annotated[EnvSpec, OPERATOR] = Field(default_factory=EnvSpec)
    resources: ResourceSpec = Field(default_factory=ResourceSpec)
    concurrency: int = Field(4, ge=1)
    startup_timeout_s: float = Field(120.0, gt=0)
    load: LoadSpec = Field(default_factory=LoadSpec)

    def answer_fingerprint(self) -> dict[str, Any]:
        """The parts that change the model's answers or what inference measures (ids are
        hashed from these). The ``MEASURED_MODEL_FIELDS`` join only where they differ from
        their defaults, so runs that leave them alone keep the ids they had."""
        parts = self.model_dump(
            include={"name", "backend", "model_path", "model", "base_url", "params"}
        )
        parts.update(self.model_dump(include=MEASURED_MODEL_FIELDS, exclude_defaults=True))
        return parts

    @field_validator("params")
    @classmethod
    def _seal_secrets(cls, value: dict[str, Any]) -> dict[str, Any]:
        sealed: dict[str, Any] = seal(value)
        return sealed


class DatasetSpec(StrictModel):
    """A dataset: a local folder (``path``) or a storage URI (``uri``, e.g.
    ``s3://bucket/prefix``; written as ``path: s3://...`` too). ``format`` is a name in the
    dataset registry. A URI dataset is synced to the node's disk before each stage that
    reads it, which then finds the local copy in ``path`` (``vlmhb.core.envs.stage_data``);
    ``uri``, not that path, identifies it."""

    name: str
    format: str
    path: Annotated[Path | None, PathRole.INPUT] = None
    uri: Annotated[str | None, PathRole.URI] = None
    split: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _uri_in_path(cls, data: Any) -> Any:
        """``path: s3://bucket/prefix`` means ``uri``."""
        path = data.get("path") if isinstance(data, dict) else None
        if isinstance(path, str) and uri_scheme(path) and not data.get("uri"):
            data = {key: value for key, value in data.items() if key != "path"} | {"uri": path}
        return data

    @model_validator(mode="after")
    def _located(self) -> DatasetSpec:
        if self.path is None and self.uri is None:
            raise ValueError("a dataset needs 'path' (a folder) or a storage URI")
        if self.uri is not None and uri_scheme(self.uri) is None:
            raise ValueError(f"uri {self.uri!r} is not a storage URI (e.g. s3://bucket/prefix)")
        return self

    def identity(self) -> dict[str, Any]:
        """What names this dataset in a run id: its fields, the URI's local copy left out
        (a local dataset dumps exactly as before URIs existed)."""
        return self.model_dump(mode="json", exclude={"path"} if self.uri else {"uri"})


class Filters(StrictModel):
    doc_class: list[str] = Field(default_factory=list)
    question_type: list[str] = Field(default_factory=list)


TaskKind = Literal["vqa", "extraction", "classification", "ordering"]


class TaskSpec(StrictModel):
    """What to ask and how to score it. ``kind`` is a name in the task registry; unset
    ``metrics``/``aggregations`` come from the kind (``vlmhb.core.tasks``) at load/plan."""

    name: str
    dataset: str
    kind: str = "vqa"
    prompts: Annotated[list[str], PathRole.INPUT] = Field(default_factory=list)
    metrics: list[str] | None = Field(
        None, description="metric names; none: the kind's default_metrics (filled at load)"
    )
    aggregations: list[str] | None = Field(
        None, description="aggregation levels; none: the kind's default_aggregations"
    )
    filters: Filters = Field(default_factory=Filters)
    image_region: Literal["full", "answer_bbox"] = "full"
    system_prompt: str | None = None
    only_evaluate: bool = False
    options: dict[str, Any] = Field(default_factory=dict)
    metric_columns: Literal["vlmhb", "v0.1"] = Field(
        "vlmhb",
        description="v0.1: also write metrics_v0.1_<level>.csv with VLMHyperBench v0.1's "
        "column names (cer_error, wer_error, bleu_score)",
    )


class GenerationParams(StrictModel):
    max_tokens: int = Field(128, ge=1)
    temperature: float = Field(0.0, ge=0)
    stream: bool = True
    timeout_s: float = Field(120.0, gt=0)
    retries: int = Field(3, ge=0)


class RunSelector(StrictModel):
    """One (model, task) pair; when an experiment lists some, only those are planned."""

    model: str
    task: str


class StageSettings(StrictModel):
    """Where a stage that is not inference runs (``env``) and what it may use
    (``resources``)."""

    env: Annotated[EnvSpec, OPERATOR] = Field(default_factory=EnvSpec)
    resources: ResourceSpec = Field(default_factory=ResourceSpec)


class StageEnvs(StrictModel):
    """Settings of the evaluation and report stages of every run (the experiment report
    takes ``report``'s). Inference takes its model's ``env`` and ``resources``. Not part of
    any id: a stage gives the same results whatever env it runs in."""

    evaluation: StageSettings = Field(default_factory=StageSettings)
    report: StageSettings = Field(default_factory=StageSettings)


class ExperimentSpec(StrictModel):
    """A whole experiment: the grid models × tasks × prompt collections (or only the
    pairs listed in ``runs``); ``stages`` says where evaluation and reports run."""

    name: str
    models: list[ModelSpec]
    datasets: list[DatasetSpec]
    tasks: list[TaskSpec]
    generation: GenerationParams = Field(default_factory=GenerationParams)
    output_dir: OutputPath = Path("runs")
    registry_dirs: Annotated[list[Path], OPERATOR] = Field(default_factory=list)
    runs: list[RunSelector] = Field(default_factory=list)
    stages: StageEnvs = Field(default_factory=StageEnvs)
    results_uri: Annotated[str | None, PathRole.URI] = Field(
        None,
        description="storage URI (s3://bucket/prefix) each finished run folder is uploaded "
        "to, as <results_uri>/<experiment>/<run folder>/; the dashboard reads runs from there",
    )

    @field_validator("name")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        if not value or any(ch in value for ch in "/\\\0") or value.startswith("."):
            raise ValueError("must be a plain name (no path separators, not starting with '.')")
        return value


# --------------------------------------------------------------------------- planned work


class PromptRef(StrictModel):
    """A prompt collection file and the hash of its content."""

    path: Path
    sha256: str

    @property
    def label(self) -> str:
        return self.path.stem


class RunSpec(StrictModel):
    """One model × one task × one prompt collection × one dataset."""

    experiment: str
    model: ModelSpec
    task: TaskSpec
    dataset: DatasetSpec
    prompt: PromptRef | None = None
    generation: GenerationParams
    dataset_fingerprint: str = ""

    @property
    def run_id(self) -> str:
        return stable_hash(
            self.model.answer_fingerprint(),
            self.task.model_dump(
                include={"kind", "filters", "image_region", "system_prompt", "options", "dataset"}
            ),
            self.dataset.identity(),
            self.prompt.sha256 if self.prompt else None,
            self.generation.model_dump(include=ANSWER_GENERATION_FIELDS)
            | self.generation.model_dump(exclude=ANSWER_GENERATION_FIELDS, exclude_defaults=True),
            self.dataset_fingerprint,
        )

    def measurement(self) -> dict[str, Any]:
        """What the inference stage measures under: the model's ``MEASURED_MODEL_FIELDS``
        and the generation params. All are in ``run_id``, so the answers and timings of a
        run folder were measured under exactly these."""
        return {
            **self.model.model_dump(mode="json", include=MEASURED_MODEL_FIELDS),
            "generation": self.generation.model_dump(mode="json"),
        }

    @property
    def label(self) -> str:
        prompt = self.prompt.label if self.prompt else "default"
        return f"{self.model.name}__{self.task.name}__{prompt}"

    @property
    def dir_name(self) -> str:
        return f"{self.label}__{self.run_id[:8]}"


class StageName(StrEnum):
    INFERENCE = "inference"
    EVALUATION = "evaluation"
    REPORT = "report"
    EXPERIMENT_REPORT = "experiment_report"


class TaskState(StrEnum):
    PENDING = "PENDING"
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    SKIPPED = "SKIPPED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


class StageTask(StrictModel):
    """One node of the task graph: a stage of one run (or the experiment report).

    ``run_dir`` is where the stage reads and writes its files; ``run_dirs`` lists all
    run directories for the experiment report. ``gpu_ids`` is filled by the scheduler.
    ``registry_dirs`` are the experiment's registry folders: the stage process resolves
    every name (stage, metric, report, backend) through ``get_registries(registry_dirs)``,
    the same registries ``vlmhb validate`` checked. ``attempt`` counts the scheduler's
    retries after an infrastructure failure (0: the first try); it is in no id.
    ``results_uri`` is where the stage's folder is kept in storage
    (``<ExperimentSpec.results_uri>/<experiment>``; the run folder's name below it).
    """

    id: str
    stage: StageName
    experiment: str
    run: RunSpec | None = None
    run_dir: Path
    run_dirs: list[Path] = Field(default_factory=list)
    depends_on: list[str] = Field(default_factory=list)
    resources: ResourceSpec = Field(default_factory=ResourceSpec)
    env: EnvSpec = Field(default_factory=EnvSpec)
    gpu_ids: list[int] = Field(default_factory=list)
    registry_dirs: list[Path] = Field(default_factory=list)
    attempt: int = Field(0, ge=0)
    results_uri: str | None = None


FailureKind = Literal["stage", "infrastructure"]


class StageResult(BaseModel):
    """What a stage ended with. ``failure`` (set by the env manager on a ``FAILED``
    result) tells the stage's own failure (``stage``: bad input, a crash of its code; not
    retried) from the environment's (``infrastructure``: the container engine failed, the
    container was killed or ran out of memory; the scheduler retries it up to
    ``Settings.infra_retries`` times)."""

    task_id: str
    stage: StageName
    status: TaskState
    outputs: list[str] = Field(default_factory=list)
    message: str = ""
    summary: dict[str, Any] = Field(default_factory=dict)
    duration_s: float = 0.0
    failure: FailureKind | None = None


def failed_result(
    task: StageTask, message: str, duration_s: float, failure: FailureKind
) -> StageResult:
    """A ``FAILED`` result of ``task``: the stage's own ``failure`` or the
    infrastructure's (retried by the scheduler)."""
    return StageResult(
        task_id=task.id,
        stage=task.stage,
        status=TaskState.FAILED,
        duration_s=duration_s,
        message=message,
        failure=failure,
    )


# --------------------------------------------------------------------------- samples


class Sample(BaseModel):
    """One ground-truth item from a dataset reader.

    ``answer`` is the reference text (VQA, classification: the class, ordering: a JSON
    list of page numbers); ``fields`` is the reference for extraction tasks.
    ``source`` says where it came from, e.g. ``annotation.csv:12``.
    """

    id: str
    image_path: PathField | None = None
    question: str = ""
    answer: str = ""
    fields: dict[str, str] | None = None
    doc_class: str = ""
    question_type: str = ""
    bbox: tuple[float, float, float, float] | None = None
    split: str = ""
    source: str = ""
    extra: dict[str, Any] = Field(default_factory=dict)


class RowProblem(BaseModel):
    """A bad input row: reported, skipped, never a crash."""

    source: str
    field: str
    message: str
    sample_id: str | None = None

    def __str__(self) -> str:
        sample = f" (sample {self.sample_id})" if self.sample_id else ""
        return f"{self.source} [{self.field}]: {self.message}{sample}"


class DatasetLoad(BaseModel):
    samples: list[Sample]
    problems: list[RowProblem] = Field(default_factory=list)


class PreparedSample(Sample):
    """A sample ready for inference: prompts rendered, crop decided.

    Written one per line to ``samples.jsonl`` in the run directory by the inference stage;
    the evaluation stage reads the same file as the ground truth.
    """

    system_prompt: str = ""
    user_prompt: str = ""
    crop_box: tuple[int, int, int, int] | None = None


# --------------------------------------------------------------------------- events


class EventType(StrEnum):
    STATE = "state"
    PROGRESS = "progress"
    LOG = "log"


class EarlierRun(BaseModel):
    """When a stage skipped now had finished, and how long it ran then (its marker)."""

    finished_at: float
    duration_s: float


class Event(BaseModel):
    """News on the event bus. ``topic`` is the experiment name. ``attempt`` (on a stage's
    ``RUNNING`` state events) is ``StageTask.attempt`` of the try it announces; ``host``
    names where that try runs when an executor places stages on other hosts (the agent's
    name, with ``gpu_ids`` there); both are unset for events that say nothing of a try.
    ``earlier`` (on a ``SKIPPED`` state event) is the run that produced the kept outputs."""

    type: EventType
    topic: str
    task_id: str | None = None
    run: str | None = None
    stage: StageName | None = None
    state: TaskState | None = None
    done: int | None = None
    total: int | None = None
    message: str = ""
    ts: float = 0.0
    attempt: int | None = None
    host: str | None = None
    gpu_ids: list[str] | None = None
    earlier: EarlierRun | None = None


def task_log(task: StageTask, message: str) -> Event:
    """A log line of stage ``task``, stamped now."""
    return Event(
        type=EventType.LOG,
        topic=task.experiment,
        task_id=task.id,
        run=task.run_dir.name,
        stage=task.stage,
        message=message,
        ts=time.time(),
    )
