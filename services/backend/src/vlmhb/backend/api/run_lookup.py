"""An experiment's and a run's folders under the runs root, for the routes (404 when the
run or a folder inside the root is not found; the experiment comes from
``get_experiment_or_404``), and ``get_run_or_404``, the dependency of the run routes.

An experiment with ``results_uri`` has its folders brought from storage first where the
runs root lacks them (``vlmhb.backend.results_mirror``); a storage failure is a 502
naming the URI."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Annotated, NamedTuple

from fastapi import Depends, HTTPException
from fastapi import Path as PathParam

from vlmhb.backend.api.deps import ExperimentDep, ServicesDep
from vlmhb.backend.crud import experiments, runs
from vlmhb.backend.db.models import Experiment, Run
from vlmhb.backend.paths import OutsideRoot, resolve_inside
from vlmhb.backend.results_mirror import storage_problem
from vlmhb.backend.services import Services
from vlmhb.core.storage import StorageError

RunName = Annotated[
    str, PathParam(min_length=1, max_length=255, description="run name, or its numeric id")
]


class RunFolder(NamedTuple):
    row: Run
    path: Path


def find_run(services: Services, experiment: Experiment, run: str) -> tuple[Run, Path]:
    """The run (``run``: its name or numeric id) of ``experiment`` and its folder."""
    with services.db.session() as session:
        row = runs.find(session, experiment.id, run)
    if row is None:
        raise HTTPException(404, f"run {run!r} not found in experiment {experiment.id}")
    try:
        run_dir = resolve_inside(services.settings.runs_dir, f"{experiment.name}/{row.name}")
    except OutsideRoot:
        raise HTTPException(404, "run folder outside the runs root") from None
    mirror_run(services, experiment, row.name)
    return row, run_dir


def find_run_by_id(services: Services, run_id: int) -> tuple[Run, Path]:
    """A run by its numeric id (any experiment) and its folder."""
    with services.db.session() as session:
        row = runs.get(session, run_id)
        experiment = experiments.get(session, row.experiment_id) if row else None
    if row is None or experiment is None:
        raise HTTPException(404, f"run {run_id} not found")
    return find_run(services, experiment, str(run_id))


def find_experiment_dirs(services: Services, experiment: Experiment) -> tuple[Path, list[Path]]:
    """The experiment's folder and its runs' folders (in run id order)."""
    root = services.settings.runs_dir
    with services.db.session() as session:
        names = runs.names(session, experiment.id)
    try:
        folders = (
            resolve_inside(root, experiment.name),
            [resolve_inside(root, f"{experiment.name}/{run}") for run in names],
        )
    except OutsideRoot:
        raise HTTPException(404, "experiment folder outside the runs root") from None
    with _storage_errors():
        services.mirror.experiment(experiment.id, experiment.name, experiment.config_path, names)
    return folders


def mirror_run(services: Services, experiment: Experiment, run: str | None) -> None:
    """Bring the run's folder (``run`` None: the experiment's own) from ``results_uri``
    where the runs root lacks it or holds a mirror."""
    with _storage_errors():
        if run is None:
            services.mirror.experiment(experiment.id, experiment.name, experiment.config_path, [])
        else:
            services.mirror.run(experiment.id, experiment.name, experiment.config_path, run)


def mirror_artifact(services: Services, path: str) -> None:
    """Bring the folder of an artifact (``<experiment>/<run>/<file>`` or
    ``<experiment>/<file>``, relative to the runs root) from the ``results_uri`` of the
    latest experiment of that name."""
    parts = PurePosixPath(path).parts
    if len(parts) < 2:
        return
    with services.db.session() as session:
        experiment = experiments.latest_named(session, parts[0])
        row = runs.find(session, experiment.id, parts[1]) if experiment else None
    if experiment is not None:
        mirror_run(services, experiment, row.name if row and row.name == parts[1] else None)


@contextmanager
def _storage_errors() -> Iterator[None]:
    try:
        yield
    except StorageError as exc:
        raise HTTPException(502, storage_problem(exc)) from None


def _run_name(run: RunName) -> str:
    return run


def get_run_or_404(
    experiment: ExperimentDep, run: Annotated[str, Depends(_run_name)], services: ServicesDep
) -> RunFolder:
    """The path's run of the path's experiment, with its folder (a FastAPI dependency;
    ``run`` comes through a sub-dependency so the schema lists ``experiment_id`` first)."""
    return RunFolder(*find_run(services, experiment, run))


RunDep = Annotated[RunFolder, Depends(get_run_or_404)]
