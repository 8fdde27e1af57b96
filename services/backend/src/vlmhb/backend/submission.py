"""Turn a submitted body into a stored config file and a validated ``ExperimentSpec``.

The body is stored verbatim in the experiment's folder ``<data_dir>/experiments/<id>/``
and loaded with the core loader under the server's ``SubmissionPolicy``: a submitted
config is data, never code (no programs, command lines, modules, packages, environment
variables or registry folders; inputs inside the data roots — relative paths resolve
against ``VLMHB_DATA_ROOT``, default the server's working directory — outputs inside the
runs folder). Errors name the line of what the user sent, never a server path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from vlmhb.core.config import load_experiment
from vlmhb.core.config.legacy_csv import load_legacy_csv
from vlmhb.core.config.loader import LEGACY_USER_CONFIG, Locator, read_config_text
from vlmhb.core.config.locate import line_of
from vlmhb.core.config.policy import SubmissionPolicy
from vlmhb.core.config.roles import Loc
from vlmhb.core.contracts import ExperimentSpec
from vlmhb.core.errors import ConfigError, VlmhbError
from vlmhb.core.inputcheck import check_run_inputs
from vlmhb.core.orchestration.graph import plan_runs

LEGACY_MODELS = "vlm_base.csv"
# explicit YAML types only: text/plain is CORS-safelisted (a page on another origin could
# send it without a preflight), so it is refused with 415
YAML_TYPES = {"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"}
JSON_TYPES = {"application/json"}


class SubmissionError(Exception):
    """A submission that cannot be accepted; ``status_code`` is the HTTP answer."""

    def __init__(self, message: str, status_code: int = 422) -> None:
        super().__init__(message)
        self.status_code = status_code


def config_format(content_type: str) -> str:
    """``yaml`` or ``json`` from a Content-Type header, else ``SubmissionError`` 415."""
    media = content_type.split(";")[0].strip().lower()
    if media in JSON_TYPES:
        return "json"
    if media in YAML_TYPES:
        return "yaml"
    raise SubmissionError(
        f"unsupported content type {media or '(none)'!r}: send "
        "application/yaml, application/json or multipart/form-data "
        f"with {LEGACY_USER_CONFIG} and {LEGACY_MODELS}",
        415,
    )


def store_structured(folder: Path, body: bytes, fmt: str) -> Path:
    """Write a YAML/JSON body to ``folder`` exactly as sent."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SubmissionError(f"the body is not UTF-8 ({exc.reason} at byte {exc.start})") from None
    if not text.strip():
        raise SubmissionError("the body is empty")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"experiment.{fmt}"
    path.write_bytes(body)
    return path


def store_legacy(folder: Path, files: Mapping[str, bytes], data_root: Path) -> Path:
    """Write the legacy CSV pair; a ``datasets`` link to the data root lets relative
    dataset cells resolve there."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in (LEGACY_USER_CONFIG, LEGACY_MODELS):
        (folder / name).write_bytes(files[name])
    if not (folder / "datasets").exists():
        (folder / "datasets").symlink_to(data_root, target_is_directory=True)
    return folder / LEGACY_USER_CONFIG


def load_spec(path: Path, policy: SubmissionPolicy) -> ExperimentSpec:
    """Load and check a stored config under ``policy``, its datasets as ``vlmhb validate``
    checks them (``vlmhb.core.inputcheck``); ``SubmissionError`` 422 with the loader's
    message, located in the file the user sent (not the server's copy)."""
    try:
        spec = load_experiment(path, policy=policy)
        _check_inputs(spec, path, policy)
        return spec
    except ConfigError as exc:
        where = _relative(exc.location.replace(str(path.parent) + "/", ""), policy)
        message = exc.message.replace(str(path.parent) + "/", "")
        raise SubmissionError(f"{where}: {_relative(message, policy)}") from None
    except VlmhbError as exc:
        raise SubmissionError(
            _relative(str(exc).replace(str(path.parent) + "/", ""), policy)
        ) from None
    except (OSError, ValueError) as exc:
        raise SubmissionError(f"cannot read the config: {_relative(str(exc), policy)}") from None


def _check_inputs(spec: ExperimentSpec, path: Path, policy: SubmissionPolicy) -> None:
    """The dataset checks ``vlmhb validate`` makes, one task at a time; a problem is a
    ``ConfigError`` at the entry of the file sent it comes from: the prompt collection a
    prompt file's problem names, the dataset for a problem with its files, else the task
    (its filters or region leave no sample to run)."""
    runs = plan_runs(spec)
    datasets = [d.name for d in spec.datasets]
    for index, task in enumerate(spec.tasks):
        using = [run for run in runs if run.task.name == task.name]
        if not using:
            continue
        try:
            check_run_inputs(using)
        except VlmhbError as exc:
            loc = _source_of(spec, exc, index, datasets.index(task.dataset))
            field = ".".join(str(part) for part in loc)
            raise ConfigError(_locator(path, policy)(loc), f"field '{field}': {exc}") from None


def _source_of(spec: ExperimentSpec, exc: VlmhbError, task: int, dataset: int) -> Loc:
    if not isinstance(exc, ConfigError):
        return ["tasks", task]
    for p_index, prompt in enumerate(map(str, spec.tasks[task].prompts)):
        if exc.location == prompt or exc.location.startswith(f"{prompt}:"):
            return ["tasks", task, "prompts", p_index]
    return ["datasets", dataset, "uri" if spec.datasets[dataset].uri else "path"]


def _locator(path: Path, policy: SubmissionPolicy) -> Locator:
    """``file:line`` of a part of the stored config (a legacy pair: its CSV row)."""
    if path.suffix.lower() == ".csv":
        return load_legacy_csv(path, policy)[1]
    text = read_config_text(path)

    def locate(loc: Sequence[str | int]) -> str:
        line = line_of(text, loc)
        return f"{path}:{line}" if line else str(path)

    return locate


def _relative(message: str, policy: SubmissionPolicy) -> str:
    """Paths under a data root named relative to it: messages never show server paths."""
    for root in policy.data_roots:
        for form in {str(root), str(root.resolve())}:
            message = message.replace(form.rstrip("/") + "/", "")
    return message
