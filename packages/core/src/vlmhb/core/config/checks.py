"""Cross-reference checks of an experiment against the registries and the file system."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vlmhb.core.config.loader import Locator
from vlmhb.core.contracts import ExperimentSpec
from vlmhb.core.errors import ConfigError, UnknownNameError, did_you_mean
from vlmhb.core.registries import Registries, get_registries
from vlmhb.core.registry import Registry
from vlmhb.core.storage import uri_scheme

AGGREGATIONS = ("by_id", "by_doc_question", "by_doc_type", "general")


def check_experiment(spec: ExperimentSpec, locate: Locator) -> None:
    """Raise ``ConfigError`` (file:line, field, suggestion) on the first problem found."""
    registries = get_registries(spec.registry_dirs)

    def fail(loc: list[str | int], message: str) -> None:
        field = ".".join(str(p) for p in loc)
        raise ConfigError(locate(loc), f"field '{field}': {message}")

    def known(registry: Registry[Any], name: str, loc: list[str | int]) -> None:
        try:
            registry.check(name)
        except UnknownNameError as exc:
            fail(loc, str(exc))

    sections: list[tuple[str, list[str]]] = [
        ("models", [m.name for m in spec.models]),
        ("datasets", [d.name for d in spec.datasets]),
        ("tasks", [t.name for t in spec.tasks]),
    ]
    for section, names in sections:
        if not names:
            fail([section], f"at least one entry is needed in '{section}'")
        seen: set[str] = set()
        for index, name in enumerate(names):
            if name in seen:
                fail([section, index, "name"], f"duplicate name {name!r}")
            seen.add(name)

    for index, model in enumerate(spec.models):
        known(registries.models, model.backend, ["models", index, "backend"])
        known(registries.envs, model.env.kind, ["models", index, "env", "kind"])
    stage_settings = (("evaluation", spec.stages.evaluation), ("report", spec.stages.report))
    for stage, settings in stage_settings:
        known(registries.envs, settings.env.kind, ["stages", stage, "env", "kind"])
    for index, dataset in enumerate(spec.datasets):
        known(registries.datasets, dataset.format, ["datasets", index, "format"])
        if dataset.path is not None and not dataset.uri and not Path(dataset.path).exists():
            fail(["datasets", index, "path"], f"dataset folder {dataset.path} does not exist")
        if dataset.uri:
            known(registries.storage, uri_scheme(dataset.uri) or "", ["datasets", index, "uri"])
    if spec.results_uri:
        known(registries.storage, uri_scheme(spec.results_uri) or "", ["results_uri"])
    dataset_names = [d.name for d in spec.datasets]
    for index, task in enumerate(spec.tasks):
        loc: list[str | int] = ["tasks", index]
        if task.dataset not in dataset_names:
            hint = did_you_mean(task.dataset, dataset_names)
            fail(
                [*loc, "dataset"],
                f"unknown dataset {task.dataset!r}"
                + (f". Did you mean {hint[0]!r}?" if hint else "")
                + f" Datasets in this experiment: {', '.join(dataset_names)}",
            )
        known(registries.tasks, task.kind, [*loc, "kind"])
        for m_index, metric in enumerate(task.metrics or []):
            check_metric(registries, metric, task.kind, [*loc, "metrics", m_index], fail)
        for a_index, aggregation in enumerate(task.aggregations or []):
            if aggregation not in AGGREGATIONS:
                hint = did_you_mean(aggregation, list(AGGREGATIONS))
                fail(
                    [*loc, "aggregations", a_index],
                    f"unknown aggregation {aggregation!r}"
                    + (f". Did you mean {hint[0]!r}?" if hint else "")
                    + f" Known: {', '.join(AGGREGATIONS)}",
                )
        for p_index, prompt in enumerate(task.prompts):
            if not Path(prompt).is_file():
                fail([*loc, "prompts", p_index], f"prompt collection {prompt} not found")
    model_names = {m.name for m in spec.models}
    task_names = {t.name for t in spec.tasks}
    for index, selector in enumerate(spec.runs):
        if selector.model not in model_names:
            fail(["runs", index, "model"], f"unknown model {selector.model!r}")
        if selector.task not in task_names:
            fail(["runs", index, "task"], f"unknown task {selector.task!r}")


def check_metric(
    registries: Registries,
    name: str,
    kind: str,
    loc: list[str | int],
    fail: Callable[[list[str | int], str], None],
) -> None:
    """Load metric ``name`` as the evaluation stage will (a registry variant's options
    included) and check that it applies to task kind ``kind``."""
    try:
        metric = registries.metrics.get(name)
    except UnknownNameError as exc:
        fail(loc, str(exc))
        return
    kinds = getattr(metric, "kinds", None)
    if kinds is not None and kind not in kinds:
        fail(loc, f"metric {name!r} applies to {'/'.join(sorted(kinds))} tasks, not {kind!r}")


def check_output_dir(spec: ExperimentSpec, where: str) -> None:
    """Raise ``ConfigError`` unless ``spec.output_dir`` is (or can be created as) a writable
    folder: its nearest existing ancestor must be a folder this process may write to."""
    target = Path(spec.output_dir)
    probe = target
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise ConfigError(
            where, f"field 'output_dir': {target} cannot be created: {probe} is not a folder"
        )
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ConfigError(
            where, f"field 'output_dir': {target} is not writable (no write permission on {probe})"
        )
