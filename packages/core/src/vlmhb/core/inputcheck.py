"""The dataset checks of planned runs, the ones ``vlmhb run`` makes: each distinct (task,
prompt collection) is prepared as its inference stage will prepare it
(``vlmhb.core.prepare.prepare_samples``: format files, header, line sizes, rows, images,
boxes, filters, prompt keys), writing nothing. ``vlmhb validate`` and the API (before a
submitted config is accepted) call ``check_run_inputs``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from vlmhb.core.contracts import DatasetLoad, RowProblem, RunSpec
from vlmhb.core.errors import ConfigError, VlmhbError
from vlmhb.core.prepare import load_dataset, prepare_samples
from vlmhb.core.storage import StorageError, data_store


@dataclass(frozen=True)
class InputReport:
    """What a run's inference stage will send: ``samples`` prepared, ``problems`` the rows
    it will skip (as ``problems.csv`` will list them); ``dataset`` is the dataset folder
    as shown to the user."""

    run: str
    samples: int
    problems: list[RowProblem]
    dataset: str

    @property
    def skipped(self) -> int:
        """Samples (or rows without an id) that have a problem."""
        return len({p.sample_id or p.source for p in self.problems})

    def warning(self, base: Path | None = None, first: int = 3) -> str | None:
        """One line on the skipped samples: how many, by field, and the first distinct
        problems (each with its count); None when nothing is skipped."""
        if not self.problems:
            return None
        fields = Counter(p.field for p in self.problems)
        kinds: dict[tuple[str, str], list[RowProblem]] = {}
        for problem in self.problems:
            kinds.setdefault((problem.field, problem.message), []).append(problem)
        shown = []
        for (field, message), same in list(kinds.items())[:first]:
            count = f" (x{len(same)})" if len(same) > 1 else ""
            shown.append(f"{self.dataset}/{same[0].source} [{field}]: {message}{count}")
        by_field = ", ".join(f"{name}: {n}" for name, n in fields.most_common())
        text = (
            f"run {self.run}: {self.skipped} of {self.samples + self.skipped} samples are "
            f"skipped ({by_field}); first: {'; '.join(shown)}"
        )
        return shown_path(text, base)


def check_run_inputs(runs: Sequence[RunSpec], base: Path | None = None) -> list[InputReport]:
    """Prepare each distinct (task, prompt collection) of ``runs`` (each dataset read
    once). The first problem that stops a run is raised as its stage would raise it
    (``ConfigError``, ``VlmhbError``), paths under ``base`` (the config's folder) shown
    relative to it; rows the stage would skip are reported. A dataset given by a storage
    URI is synced to this node's cache first (as a stage on this node would)."""
    with ExitStack() as held:
        return _check(runs, base, _LocalCopies(held))


class _LocalCopies:
    """Runs whose dataset is a storage URI, given the local copy (synced into this node's
    cache once per URI, held until the checks end), as their stages will get it."""

    def __init__(self, held: ExitStack) -> None:
        self.held = held
        self.paths: dict[str, Path] = {}

    def __call__(self, run: RunSpec) -> RunSpec:
        uri = run.dataset.uri
        if not uri:
            return run
        if uri not in self.paths:
            try:
                self.paths[uri] = self.held.enter_context(data_store(uri).materialise(uri))
            except StorageError as exc:
                raise ConfigError(f"dataset {run.dataset.name!r}", str(exc)) from None
        dataset = run.dataset.model_copy(update={"path": self.paths[uri]})
        return run.model_copy(update={"dataset": dataset})


def _check(
    runs: Sequence[RunSpec], base: Path | None, local_copy: _LocalCopies
) -> list[InputReport]:
    loads: dict[str, DatasetLoad] = {}
    reports: dict[tuple[str, str | None], InputReport] = {}
    for run in runs:
        key = (run.task.name, str(run.prompt.path) if run.prompt else None)
        if key in reports:
            continue
        try:
            run = local_copy(run)
            if run.dataset.name not in loads:
                loads[run.dataset.name] = load_dataset(run)
            prepared = prepare_samples(run, loads[run.dataset.name])
        except ConfigError as exc:
            raise ConfigError(
                shown_path(exc.location, base), shown_path(exc.message, base)
            ) from None
        except VlmhbError as exc:
            raise VlmhbError(shown_path(str(exc), base)) from None
        prompt = run.prompt.label if run.prompt else "default"
        reports[key] = InputReport(
            run=f"{run.task.name} · {prompt}",
            samples=len(prepared.samples),
            problems=prepared.problems,
            dataset=run.dataset.uri or shown_path(str(Path(str(run.dataset.path)).resolve()), base),
        )
    return list(reports.values())


def shown_path(text: str, base: Path | None) -> str:
    """``text`` with the paths under ``base`` written relative to it."""
    if base is None:
        return text
    for form in {str(base), str(base.resolve())}:
        prefix = form.rstrip("/") + "/"
        text = text.replace(prefix, "")
        if text == form.rstrip("/"):
            return "."
    return text
