"""What the recorder reads from a run's folder: the files it lists as artifacts, the
answered-sample count, the run's identity from ``run.json``, and a note when dataset rows
were skipped as bad (``problems.csv``)."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from vlmhb.backend.db.models import Artifact, Experiment
from vlmhb.backend.run_files import count_answers
from vlmhb.backend.states import STAGE_TERMINAL
from vlmhb.core.contracts import Event, EventType, StageName
from vlmhb.core.fileio import count_csv_rows
from vlmhb.core.files import PROBLEMS_FILE, RUN_SPEC_FILE


def scan_artifacts(
    session: Session, runs_root: Path, experiment: Experiment, run_name: str | None
) -> None:
    """Add (or resize) an ``Artifact`` row for every file of the run's folder and its
    ``logs/`` (``run_name`` None: the experiment's own folder)."""
    base = runs_root / experiment.name
    folder = base / run_name if run_name else base
    if not folder.is_dir():
        return
    files = [p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")]
    logs = folder / "logs"
    if logs.is_dir():
        files += [p for p in logs.iterdir() if p.is_file()]
    known = {
        a.path: a
        for a in session.scalars(select(Artifact).where(Artifact.experiment_id == experiment.id))
    }
    for file in files:
        rel = file.relative_to(runs_root).as_posix()
        size = file.stat().st_size
        if rel in known:
            known[rel].size = size
            continue
        session.add(
            Artifact(
                experiment_id=experiment.id,
                run_name=run_name,
                path=rel,
                kind=file.suffix.lstrip(".") or "file",
                size=size,
            )
        )


def answered(runs_root: Path, experiment: Experiment, run_name: str) -> int | None:
    """Answered rows in the run's ``answers.csv`` (None: no file)."""
    return count_answers(runs_root / experiment.name / run_name)


def run_identity(runs_root: Path, experiment: Experiment, name: str) -> tuple[str, str, str]:
    """``(model, task, prompt)`` of a run from its ``run.json``, else from its name."""
    spec_file = runs_root / experiment.name / name / RUN_SPEC_FILE
    with contextlib.suppress(OSError, ValueError, KeyError):
        spec = json.loads(spec_file.read_text(encoding="utf-8"))
        prompt = Path(spec["prompt"]["path"]).stem if spec.get("prompt") else "default"
        return spec["model"]["name"], spec["task"]["name"], prompt
    parts = [*name.split("__"), "", "", ""]
    return parts[0], parts[1], parts[2]


def problems_note(runs_root: Path, experiment: Experiment, event: Event) -> Event | None:
    """A log event naming ``problems.csv`` when an inference stage ended with bad
    dataset rows skipped (the console and the UI show it)."""
    if not (
        event.type == EventType.STATE
        and event.stage == StageName.INFERENCE
        and event.state in STAGE_TERMINAL
        and event.run
    ):
        return None
    path = runs_root / experiment.name / event.run / PROBLEMS_FILE
    count = count_csv_rows(path)
    if not count:
        return None
    rel = path.relative_to(runs_root).as_posix()
    return Event(
        type=EventType.LOG,
        topic=event.topic,
        task_id=event.task_id,
        run=event.run,
        stage=event.stage,
        ts=event.ts,
        message=f"warning: {count} dataset row(s) skipped as bad: see {rel}",
    )
