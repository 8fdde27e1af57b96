"""The legacy experiment format of VLMHyperBench v0.1: ``user_config.csv`` + ``vlm_base.csv``.

``user_config.csv`` (``;``-separated, UTF-8 with or without BOM) has one row per
(model, task) pair; ``vlm_base.csv`` beside it describes the models. Both load into the
same ``ExperimentSpec`` as the YAML form, with ``runs`` listing the pairs.
Extension columns: ``vlm_base.csv`` ``backend`` (registry name) and ``params`` (JSON);
``user_config.csv`` ``image_region`` (``full`` or ``answer_bbox``).
The original v0.1 folder loads as it is: datasets by name under
``data_dirs/Datasets/<TASK>/`` and prompt collections under
``data_dirs/PromptCollections/<TASK>/`` (``vlmhb.core.config.legacy_v01``).
"""

from __future__ import annotations

import ast
import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from vlmhb.core.config.legacy_v01 import (
    MODEL_INTERFACE,
    dataset_candidates,
    default_gpus,
    hf_model_id,
    is_model_interface,
    model_interface_packages,
    model_interface_params,
    prompt_file,
    task_kind,
)
from vlmhb.core.config.loader import Locator
from vlmhb.core.config.policy import SubmissionPolicy
from vlmhb.core.contracts import ExperimentSpec
from vlmhb.core.errors import ConfigError, did_you_mean

USER_CONFIG_COLUMNS = [
    "dataset",
    "task",
    "framework",
    "model_name",
    "system_prompt",
    "prompt_collection",
    "metrics",
    "only_evaluate_metrics",
    "metrics_aggregators",
    "filter_doc_class",
    "filter_question_type",
]
VLM_BASE_COLUMNS = [
    "framework",
    "model_family",
    "model_name",
    "docker_image",
    "git_python_package",
    "python_package",
    "module",
    "class_name",
]
MODEL_TABLE = "vlm_base.csv"
FRAMEWORK_BACKENDS = {
    "hugging face": "transformers",
    "huggingface": "transformers",
    "hf": "transformers",
    "transformers": "transformers",
    "vllm": "vllm",
    "sglang": "sglang",
    "openai": "openai",
    "tesseract": "tesseract",
    "scripted": "scripted",
}
# v0.1 metric names (cells such as ['CER', 'WER', 'BLEU'] are lower-cased first) and
# v0.1's output column names, to our metric names
LEGACY_METRIC_NAMES = {
    "em": "exact_match",
    "exactmatch": "exact_match",
    "exact match": "exact_match",
    "cer_error": "cer",
    "wer_error": "wer",
    "bleu_score": "bleu",
    "bleu_error": "bleu",
}
TRUE_WORDS = {"true", "1", "yes", "да"}


def read_rows(path: Path, required: list[str]) -> list[tuple[int, dict[str, str]]]:
    """Rows of a ``;`` CSV as (line number, {column: cell}); header checked."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    reader = csv.reader(text.splitlines(), delimiter=";")
    header = next(reader, None)
    if not header:
        raise ConfigError(f"{path}:1", "empty file: a header row is needed")
    header = [h.strip() for h in header]
    for column in required:
        if column not in header:
            hint = did_you_mean(column, header)
            raise ConfigError(
                f"{path}:1",
                f"missing column '{column}'"
                + (f" (found {hint[0]!r} — misspelt?)" if hint else "")
                + f"; expected columns: {';'.join(required)}",
            )
    rows = []
    for line_no, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            raise ConfigError(
                f"{path}:{line_no}",
                f"{len(cells)} cells but the header has {len(header)} (is the separator ';'?)",
            )
        rows.append((line_no, {h: c.strip() for h, c in zip(header, cells, strict=True)}))
    if not rows:
        raise ConfigError(str(path), "no data rows")
    return rows


def parse_list(cell: str, where: str) -> list[str]:
    """A list cell: ``['CER', 'WER']``, ``CER, WER`` or empty."""
    cell = cell.strip()
    if not cell or cell.lower() in {"none", "nan", "[]"}:
        return []
    if cell.startswith("["):
        try:
            value = ast.literal_eval(cell)
        except (ValueError, SyntaxError):
            raise ConfigError(
                where, f"cannot read the list {cell!r}; write it like ['CER', 'WER']"
            ) from None
        if not isinstance(value, list | tuple):
            raise ConfigError(where, f"expected a list, got {cell!r}")
        return [str(v).strip() for v in value if str(v).strip()]
    return [part.strip() for part in cell.split(",") if part.strip()]


def load_legacy_csv(
    path: Path, policy: SubmissionPolicy | None = None
) -> tuple[ExperimentSpec, Locator, dict[str, Any]]:
    """The spec, a locator of its parts in the CSV files, and the data the files gave
    (``policy``: a submitted pair, whose system prompt files must lie in the data roots)."""
    base = path.parent
    models_path = base / MODEL_TABLE
    if not models_path.exists():
        raise ConfigError(str(path), f"the model table {MODEL_TABLE} must lie beside it")
    model_rows = read_rows(models_path, VLM_BASE_COLUMNS)
    user_rows = read_rows(path, USER_CONFIG_COLUMNS)

    models: dict[str, tuple[int, dict[str, Any]]] = {}
    for line, row in model_rows:
        models[row["model_name"]] = (line, _model(row, f"{models_path}:{line}"))

    locations: dict[tuple[str, int], str] = {}
    used_models: list[str] = []
    datasets: dict[str, dict[str, Any]] = {}
    tasks: dict[str, dict[str, Any]] = {}
    runs: list[dict[str, str]] = []
    for line, row in user_rows:
        where = f"{path}:{line}"
        name = row["model_name"]
        if name not in models:
            hint = did_you_mean(name, list(models))
            raise ConfigError(
                f"{where} [model_name]",
                f"model {name!r} is not in {MODEL_TABLE}"
                + (f". Did you mean {hint[0]!r}?" if hint else ""),
            )
        if name not in used_models:
            locations[("models", len(used_models))] = f"{models_path}:{models[name][0]}"
            used_models.append(name)
        dataset = _dataset(row["dataset"], base, f"{where} [dataset]", row["task"])
        known = datasets.get(dataset["name"])
        if known is not None and known["format"] != dataset["format"]:
            dataset["name"] = f"{dataset['name']}_{dataset['format']}"
        if dataset["name"] not in datasets:
            locations[("datasets", len(datasets))] = where
            datasets[dataset["name"]] = dataset
        task = _task(row, dataset["name"], base, where, policy)
        task_name = _task_name(task, tasks)
        if task_name not in tasks:
            locations[("tasks", len(tasks))] = where
            tasks[task_name] = {**task, "name": task_name}
        runs.append({"model": name, "task": task_name})
    data = {
        "name": base.resolve().name,
        "models": [models[n][1] for n in used_models],
        "datasets": list(datasets.values()),
        "tasks": list(tasks.values()),
        "runs": runs,
    }
    try:
        spec = ExperimentSpec.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"][:2])
        where = locations.get(loc, str(path))  # type: ignore[arg-type]
        field = ".".join(str(p) for p in first["loc"])
        raise ConfigError(where, f"field '{field}': {first['msg']}") from None

    def locate(loc: Sequence[str | int]) -> str:
        key = (str(loc[0]), int(loc[1])) if len(loc) > 1 and isinstance(loc[1], int) else None
        return locations.get(key, str(path)) if key else str(path)

    return spec, locate, data


def _model(row: dict[str, str], where: str) -> dict[str, Any]:
    interface = is_model_interface(row)
    backend = row.get("backend") or (
        MODEL_INTERFACE if interface else FRAMEWORK_BACKENDS.get(row["framework"].strip().lower())
    )
    if not backend:
        raise ConfigError(
            f"{where} [framework]",
            f"unknown framework {row['framework']!r}; "
            f"known: {', '.join(sorted(set(FRAMEWORK_BACKENDS)))} (or add a "
            "'backend' column)",
        )
    params: dict[str, Any] = {}
    if row.get("params"):
        try:
            params = json.loads(row["params"])
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{where} [params]", f"invalid JSON: {exc.msg}") from None
    if backend == MODEL_INTERFACE:
        params = {**model_interface_params(row), **params}
        packages = model_interface_packages(row)
    else:
        packages = [p for p in (row["python_package"], row["git_python_package"]) if p]
    model: dict[str, Any] = {"name": row["model_name"], "backend": backend}
    if packages or row["docker_image"]:  # first: a submitted row is refused for its env
        model["env"] = {
            "kind": "process",
            "packages": packages,
            "image": row["docker_image"] or None,
        }
    model["params"] = params
    if backend == "transformers":
        model["model_path"] = hf_model_id(row)
    try:
        gpus = default_gpus(row, backend)
    except ConfigError as exc:
        raise ConfigError(f"{where} [gpus]", exc.message) from None
    if gpus:
        model["resources"] = {"gpus": gpus}
    return model


def _dataset(cell: str, base: Path, where: str, task: str) -> dict[str, Any]:
    """The dataset a row names; its format from the folder's files and the task kind (a
    folder may hold both an ``annotation.csv`` and ``jsons/``, as generated ones do).
    Only a folder holding dataset files is taken (a prompts folder of the same name is not)."""
    if not cell:
        raise ConfigError(where, "empty dataset cell")
    candidates = dataset_candidates(cell, base, task)
    path = next((c for c in candidates if _has_dataset_files(c)), None)
    if path is None:
        empty = [str(c) for c in candidates if c.is_dir()]
        raise ConfigError(
            where,
            f"dataset {cell!r} not found; looked in "
            + ", ".join(str(c) for c in candidates)
            + (f" ({', '.join(empty)}: no annotation.csv or jsons/)" if empty else ""),
        )
    has_jsons, has_csv = (path / "jsons").is_dir(), (path / "annotation.csv").is_file()
    extraction = task_kind(task) == "extraction"
    fmt = "json_extraction" if has_jsons and (extraction or not has_csv) else "vqa_csv"
    return {"name": path.resolve().name, "format": fmt, "path": str(path.resolve())}


def _has_dataset_files(path: Path) -> bool:
    return (path / "annotation.csv").is_file() or (path / "jsons").is_dir()


def _task(
    row: dict[str, str], dataset: str, base: Path, where: str, policy: SubmissionPolicy | None
) -> dict[str, Any]:
    kind = task_kind(row["task"])
    metrics = [m.lower() for m in parse_list(row["metrics"], f"{where} [metrics]")]
    task: dict[str, Any] = {
        "dataset": dataset,
        "kind": kind,
        "metrics": [LEGACY_METRIC_NAMES.get(m, m) for m in metrics],
        "filters": {
            "doc_class": parse_list(row["filter_doc_class"], f"{where} [filter_doc_class]"),
            "question_type": parse_list(
                row["filter_question_type"], f"{where} [filter_question_type]"
            ),
        },
        "only_evaluate": row["only_evaluate_metrics"].strip().lower() in TRUE_WORDS,
    }
    if row.get("image_region"):
        task["image_region"] = row["image_region"].strip()
    aggregations = parse_list(row["metrics_aggregators"], f"{where} [metrics_aggregators]")
    if aggregations:
        task["aggregations"] = [a.lower() for a in aggregations]
    if row["prompt_collection"]:
        task["prompts"] = [str(prompt_file(row["prompt_collection"], base, row["task"]))]
    system = row["system_prompt"]
    if system:
        system_file = base / system
        if system_file.is_file() and policy is not None and not policy.inside_data(system_file):
            raise ConfigError(
                f"{where} [system_prompt]", f"{system!r} is outside the server's data roots"
            )
        task["system_prompt"] = (
            system_file.read_text(encoding="utf-8-sig").strip() if system_file.is_file() else system
        )
    return task


def _task_name(task: dict[str, Any], tasks: dict[str, dict[str, Any]]) -> str:
    """``<dataset>_<kind>``, with a number when rows of the same kind differ."""
    stem = f"{task['dataset']}_{task['kind']}"
    for name, existing in tasks.items():
        if {k: v for k, v in existing.items() if k != "name"} == task:
            return name
    name, n = stem, 2
    while name in tasks:
        name, n = f"{stem}_{n}", n + 1
    return name
