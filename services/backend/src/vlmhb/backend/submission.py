"""Turn a submitted body into a stored config file and a validated ``ExperimentSpec``.

The body is written into the experiment's folder ``<data_dir>/experiments/<id>/`` and
loaded from there with the core loader, so relative paths in it would resolve against
that folder: give absolute dataset/prompt paths, or set ``VLMHB_DATA_ROOT`` — relative
paths are then rewritten against the data root, and every dataset/prompt path must lie
inside it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from vlmhb.backend.paths import is_inside
from vlmhb.core.config import load_experiment
from vlmhb.core.config.loader import LEGACY_USER_CONFIG, PATH_PARAM_SUFFIXES
from vlmhb.core.contracts import ExperimentSpec
from vlmhb.core.errors import VlmhbError

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
    raise SubmissionError(f"unsupported content type {media or '(none)'!r}: send "
                          "application/yaml, application/json or multipart/form-data "
                          f"with {LEGACY_USER_CONFIG} and {LEGACY_MODELS}", 415)


def store_structured(folder: Path, body: bytes, fmt: str, data_root: Path | None) -> Path:
    """Write a YAML/JSON body to ``folder`` (paths rewritten against ``data_root``)."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SubmissionError(f"the body is not UTF-8: {exc}") from None
    if not text.strip():
        raise SubmissionError("the body is empty")
    if data_root is not None:
        text = _rebase(text, fmt, data_root)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"experiment.{fmt}"
    path.write_text(text, encoding="utf-8")
    return path


def store_legacy(folder: Path, files: Mapping[str, bytes], data_root: Path | None) -> Path:
    """Write the legacy CSV pair; a ``datasets`` link to the data root lets relative
    dataset cells resolve there."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in (LEGACY_USER_CONFIG, LEGACY_MODELS):
        (folder / name).write_bytes(files[name])
    if data_root is not None and not (folder / "datasets").exists():
        (folder / "datasets").symlink_to(data_root, target_is_directory=True)
    return folder / LEGACY_USER_CONFIG


def load_spec(path: Path, data_root: Path | None) -> ExperimentSpec:
    """Load and check the stored config; ``SubmissionError`` 422 with the loader's message."""
    try:
        spec = load_experiment(path)
    except VlmhbError as exc:
        raise SubmissionError(str(exc)) from None
    except (OSError, ValueError) as exc:
        raise SubmissionError(f"cannot read the config: {exc}") from None
    if data_root is not None:
        outside = [str(d.path) for d in spec.datasets if not is_inside(data_root, d.path)]
        outside += [p for t in spec.tasks for p in t.prompts
                    if not is_inside(data_root, Path(p))]
        if outside:
            raise SubmissionError("paths outside the data root: "
                                  + ", ".join(_relative(data_root, p) for p in outside))
    return spec


def _relative(root: Path, path: str) -> str:
    """``path`` named relative to ``root`` (``../x``), so errors never show server paths."""
    return os.path.relpath(path, root)


def _rebase(text: str, fmt: str, root: Path) -> str:
    try:
        data = json.loads(text) if fmt == "json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError):
        return text  # the loader reports it with a line number
    if not isinstance(data, dict):
        return text

    def rebase(value: Any) -> Any:
        if isinstance(value, str) and value and not Path(value).expanduser().is_absolute():
            return str(root / value)
        return value

    for dataset in data.get("datasets") or []:
        if isinstance(dataset, dict) and "path" in dataset:
            dataset["path"] = rebase(dataset["path"])
    for task in data.get("tasks") or []:
        if isinstance(task, dict) and isinstance(task.get("prompts"), list):
            task["prompts"] = [rebase(p) for p in task["prompts"]]
    if isinstance(data.get("registry_dirs"), list):
        data["registry_dirs"] = [rebase(p) for p in data["registry_dirs"]]
    for model in data.get("models") or []:
        params = model.get("params") if isinstance(model, dict) else None
        if isinstance(params, dict):
            for key, value in params.items():
                if key.endswith(PATH_PARAM_SUFFIXES):
                    params[key] = rebase(value)
    if fmt == "json":
        return json.dumps(data, ensure_ascii=False, indent=2)
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
