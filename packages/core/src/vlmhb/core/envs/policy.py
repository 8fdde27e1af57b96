"""What a container stage may run and see: allowed images and the folders it mounts.

One policy for every container env kind (``docker``, ``apptainer``; ``CONTAINER_KINDS``):

- **Images**: a stage may run only an image whose name matches a configured prefix
  (``VLMHB_IMAGE_PREFIXES``, default ``["vlmhb/"]``). Names are taken as written: lower
  case, no whitespace, ``name[:tag]`` in Docker's grammar; no digest (``@sha256:``: the
  images built here have none, so a digest can only name something pulled), no ``..``, no
  registry host unless a prefix names it.
- **Mounts**: a stage sees its run folder (read-write; a run report also the experiment
  folder's ``assets/``, where the reports' shared plotly.js lives), the run folders it reads
  (the experiment report's, read-only, inside its experiment folder) and every input its task
  reads (dataset, prompt files, registry folders; for inference also ``model_path`` when
  it is a path and the backend's input params), read-only. Inputs must resolve (symlinks
  followed) inside the mount roots — the data root (``VLMHB_DATA_ROOT``, default the
  working directory) and ``VLMHB_MODEL_ROOTS`` — or the experiment folder; nothing that
  holds the Docker socket is ever mounted. Each mount keeps its path inside the container
  (identity mapping), so the task file's paths work unchanged.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from vlmhb.core.config.roles import Loc, resolve_roles
from vlmhb.core.contracts import ModelSpec, RunSpec, StageName, StageTask
from vlmhb.core.errors import VlmhbError
from vlmhb.core.fieldtypes import OpenParams, PathRole, params_model
from vlmhb.core.files import REPORT_ASSETS_DIR
from vlmhb.core.settings import Settings

CONTAINER_KINDS = frozenset({"docker", "apptainer"})
DEFAULT_IMAGE = "vlmhb/base-cpu:latest"  # a container stage's image when env.image is unset
DOCKER_SOCKETS = (Path("/var/run/docker.sock"), Path("/run/docker.sock"))
MAX_IMAGE_NAME = 255

# Docker's reference grammar without a digest: path components (lower case, separated by
# '.', '_', '__' or dashes), an optional port on the first one (a registry host), a tag.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_IMAGE = re.compile(
    rf"(?P<repo>{_COMPONENT}(?::[0-9]+)?(?:/{_COMPONENT})*)(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}}))?"
)


class ContainerPolicyError(VlmhbError):
    """An image or a mount the container policy refuses (the message says which rule)."""


def is_container_kind(kind: str) -> bool:
    """Whether stages of env ``kind`` run in a container (the policy applies)."""
    return kind in CONTAINER_KINDS


@dataclass(frozen=True)
class StageMount:
    """A host folder or file a stage container sees at the same path (identity mapping).
    A read-write source may not exist yet: the env manager creates it before the start."""

    source: Path
    read_only: bool


@dataclass(frozen=True)
class ContainerPolicy:
    """``image_prefixes``: what image names may start with; ``mount_roots``: the folders
    (resolved) that inputs of container stages may come from."""

    image_prefixes: tuple[str, ...]
    mount_roots: tuple[Path, ...]

    def check_image(self, image: str) -> None:
        """``ContainerPolicyError`` unless ``image`` is a plain ``name[:tag]`` under an
        allowed prefix."""
        allowed = ", ".join(repr(p) for p in self.image_prefixes) or "none"
        if not image or len(image) > MAX_IMAGE_NAME:
            raise ContainerPolicyError(
                f"image name {image!r} must be 1 to {MAX_IMAGE_NAME} characters"
            )
        if "@" in image:
            raise ContainerPolicyError(
                f"image {image!r}: digests are not accepted; name a local image by "
                f"name[:tag] under an allowed prefix ({allowed})"
            )
        match = _IMAGE.fullmatch(image)
        if match is None:
            raise ContainerPolicyError(
                f"image {image!r} is not a valid image name (lower case name[:tag], no "
                "whitespace, no '..')"
            )
        if not any(_under_prefix(match["repo"], prefix) for prefix in self.image_prefixes):
            raise ContainerPolicyError(
                f"image {image!r} is not allowed: image names must start with {allowed} "
                "(the operator sets VLMHB_IMAGE_PREFIXES)"
            )

    def allows_input(self, path: Path, extra: Sequence[Path] = ()) -> bool:
        """Whether ``path`` (symlinks followed) lies inside a mount root or ``extra``."""
        resolved = path.resolve()
        return any(resolved.is_relative_to(root) for root in (*self.mount_roots, *extra))

    def roots_text(self) -> str:
        return ", ".join(str(root) for root in self.mount_roots) or "none"


def _under_prefix(repo: str, prefix: str) -> bool:
    """``vlmhb/`` matches repositories under it; ``vlmhb/base-cpu`` that one and below."""
    if prefix.endswith("/"):
        return repo.startswith(prefix)
    return repo == prefix or repo.startswith(prefix + "/")


def container_policy(settings: Settings | None = None) -> ContainerPolicy:
    """The policy from ``settings`` (default: the ``VLMHB_*`` environment): mounts from
    the data and model roots, and this node's cache of synced datasets."""
    settings = settings or Settings()
    return ContainerPolicy(
        image_prefixes=tuple(settings.image_prefixes),
        mount_roots=(*settings.data_roots(), settings.data_cache_dir.expanduser().resolve()),
    )


def model_params_at(registry_dirs: Iterable[Path]) -> Any:
    """``params_at`` for ``resolve_roles``: the params model of the backend of the model
    at a location (``["model"]``, ``["models", 1]``) of the walked object."""
    from vlmhb.core.registries import get_registries

    models = get_registries(list(registry_dirs)).models

    def params_at(model: ModelSpec) -> type[BaseModel]:
        return params_model(models.get(model.backend)) if model.backend in models else OpenParams

    return params_at


def role_paths(
    obj: BaseModel, registry_dirs: Iterable[Path], skip: frozenset[str] = frozenset()
) -> list[tuple[PathRole, str, Loc]]:
    """Every path field set in ``obj`` (a spec, a run; backend params included, found by
    the roles their fields declare): ``(role, value, location)``. ``obj`` is not changed."""
    params_of = model_params_at(registry_dirs)
    walked = obj.model_copy(deep=True)
    found: list[tuple[PathRole, str, Loc]] = []

    def params_at(loc: Sequence[str | int]) -> type[BaseModel]:
        target: Any = walked
        for part in loc:
            target = target[part] if isinstance(part, int) else getattr(target, part)
        return params_of(target) if isinstance(target, ModelSpec) else OpenParams

    def collect(role: PathRole, value: Any, loc: Loc) -> Any:
        found.append((role, str(value), list(loc)))
        return value

    resolve_roles(walked, collect, params_at, skip=skip)
    return found


def is_path(role: PathRole, value: str) -> bool:
    """A ``model_path`` is a path when it is absolute (the loader resolves existing
    relative ones), else a name its backend knows (a hub id); a storage URI never is (its
    local copy, in ``path``, is what a container mounts)."""
    if role is PathRole.URI:
        return False
    return role is not PathRole.MODEL or Path(value).is_absolute()


def experiment_dir(task: StageTask) -> Path:
    """The experiment folder of ``task``: its run folder's parent, or the run folder of
    the experiment report."""
    return task.run_dir if task.run is None else task.run_dir.parent


def stage_mounts(task: StageTask, policy: ContainerPolicy) -> list[StageMount]:
    """The folders and files the container of ``task`` mounts (see the module doc),
    de-duplicated, nested ones of the same mode folded into their parent, parents first;
    ``ContainerPolicyError`` naming the field, the path and the roots for anything the
    policy refuses: a path outside what it allows (symlinks followed), a relative path or
    one with ``..`` (a container has no host working directory), the Docker socket.

    Sources are the paths as the task names them (each is seen at the same path inside),
    so a symlinked folder is reached by the name the stage uses."""
    plan = _MountPlan(task, policy)
    for index, run_dir in enumerate(task.run_dirs):
        plan.output(f"run_dirs[{index}]", run_dir, read_only=True)
    for index, folder in enumerate(task.registry_dirs):
        plan.input(f"registry_dirs[{index}]", folder)
    if task.stage == StageName.REPORT:  # the experiment folder's shared report assets
        plan.output("assets", experiment_dir(task) / REPORT_ASSETS_DIR, read_only=False)
    if task.run is not None:
        for field, path, read_only in _run_paths(task.run, task.stage, task.registry_dirs):
            if read_only:
                plan.input(field, path)
            else:
                plan.output(field, path, read_only=False, folder=True)
    mounts = fold_mounts(plan.mounts)
    for mount in mounts:
        check_not_socket(mount.source, plan.where)
    return mounts


class _MountPlan:
    """The mounts of one stage as they are collected, each path checked on the way."""

    def __init__(self, task: StageTask, policy: ContainerPolicy) -> None:
        self.where = f"stage {task.stage.value} of {task.run_dir.name}"
        self.policy = policy
        self.outputs = self.checked("run_dir", experiment_dir(task)).resolve()
        self.mounts = [StageMount(self.checked("run_dir", task.run_dir), read_only=False)]

    def checked(self, field: str, path: Path) -> Path:
        if not path.is_absolute():
            raise ContainerPolicyError(
                f"{self.where}: {field} {path} is relative; a container stage needs absolute paths"
            )
        if ".." in path.parts:
            raise ContainerPolicyError(f"{self.where}: {field} {path} may not contain '..'")
        return path

    def output(self, field: str, path: Path, read_only: bool, folder: bool = False) -> None:
        """A path inside the experiment folder (``folder``: mount its parent)."""
        if not self.checked(field, path).resolve().is_relative_to(self.outputs):
            raise ContainerPolicyError(
                f"{self.where}: {field} {path} is outside the experiment folder {self.outputs}"
            )
        self.mounts.append(StageMount(path.parent if folder else path, read_only))

    def input(self, field: str, path: Path) -> None:
        """A path read inside the mount roots or the experiment folder (if it exists)."""
        if not self.policy.allows_input(self.checked(field, path), (self.outputs,)):
            raise ContainerPolicyError(
                f"{self.where}: {field} {path} is outside the mount roots "
                f"({self.policy.roots_text()})"
            )
        if path.exists():
            self.mounts.append(StageMount(path, read_only=True))


def _run_paths(
    run: RunSpec, stage: StageName, registry_dirs: Iterable[Path]
) -> list[tuple[str, Path, bool]]:
    """``(field, path, read_only)`` for the paths of a run its stage uses: inputs
    read-only (the model's only for inference), output params (``request_log``) written."""
    skip = frozenset() if stage == StageName.INFERENCE else frozenset({"model"})
    return [
        ("run." + ".".join(str(part) for part in loc), Path(value), role is not PathRole.OUTPUT)
        for role, value, loc in role_paths(run, registry_dirs, skip)
        if is_path(role, value)
    ]


def fold_mounts(mounts: Iterable[StageMount]) -> list[StageMount]:
    """One mount per path (read-write wins), without those inside a mount of the same
    mode (a read-only one inside a read-write one stays: it narrows access); sorted so
    that parents come first."""
    by_path: dict[Path, bool] = {}
    for mount in mounts:
        by_path[mount.source] = by_path.get(mount.source, True) and mount.read_only
    kept = [
        StageMount(path, read_only)
        for path, read_only in by_path.items()
        if not any(
            path != other and path.is_relative_to(other) and by_path[other] == read_only
            for other in by_path
        )
    ]
    return sorted(kept, key=lambda m: (len(m.source.parts), str(m.source)))


def check_not_socket(source: Path, where: str) -> None:
    """``ContainerPolicyError`` if ``source`` (symlinks followed) is, or holds, the Docker
    socket."""
    resolved = source.resolve()
    for socket in {*DOCKER_SOCKETS, *_docker_host_socket()}:
        for form in {socket, socket.resolve()}:
            if form.is_relative_to(resolved):
                raise ContainerPolicyError(
                    f"{where}: {source} holds the Docker socket {socket}; it is never mounted"
                )


def _docker_host_socket() -> list[Path]:
    host = os.environ.get("DOCKER_HOST", "")
    return [Path(host.removeprefix("unix://"))] if host.startswith("unix://") else []
