"""The container policy (``vlmhb.core.envs.policy``) applied to a config, at load: a model
(or a stage in ``stages:``) whose env is a container kind (``docker``, ``apptainer``) may
name only an allowed image, and every path its stages read — the model's own
(``model_path``, backend input params), the prompt files and datasets of its runs, the
registry folders — must lie inside the mount roots (or the experiment folder). Errors name
the file:line and the field, as every config error does.
"""

from __future__ import annotations

from pathlib import Path

from vlmhb.core.config.loader import Locator
from vlmhb.core.config.policy import SubmissionPolicy
from vlmhb.core.config.roles import Loc
from vlmhb.core.contracts import ExperimentSpec
from vlmhb.core.envs.policy import (
    DEFAULT_IMAGE,
    ContainerPolicy,
    ContainerPolicyError,
    container_policy,
    is_container_kind,
    is_path,
    role_paths,
)
from vlmhb.core.errors import ConfigError
from vlmhb.core.fieldtypes import PathRole


def config_policy(submission: SubmissionPolicy | None) -> ContainerPolicy:
    """The container policy of the environment; a submitted config's mount roots are the
    server's data roots (the same ``VLMHB_DATA_ROOT``/``VLMHB_MODEL_ROOTS`` it loads with)."""
    policy = container_policy()
    if submission is None:
        return policy
    return ContainerPolicy(policy.image_prefixes, tuple(r.resolve() for r in submission.data_roots))


def check_containers(spec: ExperimentSpec, locate: Locator, policy: ContainerPolicy) -> None:
    """Raise ``ConfigError`` (file:line, field) on the first image or path of a container
    stage that ``policy`` refuses."""
    models = {i for i, model in enumerate(spec.models) if is_container_kind(model.env.kind)}
    stages = [(name, s.env) for name, s in spec.stages if is_container_kind(s.env.kind)]
    if not models and not stages:
        return

    def fail(loc: Loc, message: str) -> ConfigError:
        field = ".".join(str(p) for p in loc)
        return ConfigError(locate(loc), f"field '{field}': {message}")

    images: list[tuple[Loc, str | None]] = [
        (["models", i, "env", "image"], spec.models[i].env.image) for i in sorted(models)
    ]
    images += [(["stages", name, "env", "image"], env.image) for name, env in stages]
    for loc, image in images:
        try:
            policy.check_image(image or DEFAULT_IMAGE)
        except ContainerPolicyError as exc:
            raise fail(loc, str(exc) + ("" if image else " (the default image)")) from None
    # container evaluation/report stages read every run's dataset and prompts
    runs_of = set(range(len(spec.models))) if stages else models
    chosen = {"models": models, **_used_by(spec, runs_of)}
    outputs = (spec.output_dir / spec.name).resolve()
    found = role_paths(spec, spec.registry_dirs, frozenset({"output_dir", "registry_dirs"}))
    found += [
        (PathRole.INPUT, str(p), ["registry_dirs", i]) for i, p in enumerate(spec.registry_dirs)
    ]
    for role, value, loc in found:
        if loc[0] != "registry_dirs" and loc[1] not in chosen.get(str(loc[0]), set()):
            continue
        if not is_path(role, value):
            continue
        path = Path(value)
        if role is PathRole.OUTPUT:
            if not path.resolve().is_relative_to(outputs):
                raise fail(loc, f"{value} is outside the experiment folder {outputs}")
        elif not policy.allows_input(path, (outputs,)):
            raise fail(
                loc,
                f"{value} is outside the mount roots of container stages "
                f"({policy.roots_text()}); a container sees only those "
                "(VLMHB_DATA_ROOT, VLMHB_MODEL_ROOTS; see docs/environments.md)",
            )


def _used_by(spec: ExperimentSpec, models: set[int]) -> dict[str, set[int]]:
    """The indices of the tasks and datasets that runs of ``models`` use."""
    names = {spec.models[i].name for i in models}
    selected = {(s.model, s.task) for s in spec.runs}
    tasks = {
        i
        for i, task in enumerate(spec.tasks)
        if not selected or any((model, task.name) in selected for model in names)
    }
    datasets = {spec.tasks[i].dataset for i in tasks}
    return {
        "tasks": tasks,
        "datasets": {i for i, d in enumerate(spec.datasets) if d.name in datasets},
    }
