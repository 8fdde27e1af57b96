"""How an event or a status change moves the rows: the experiment's status and times,
its stage rows (state, progress, tries through ``attempts``), its run rows (state, samples
done) and the counts the list shows (``stages_done``/``stages_total``/``progress``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vlmhb.backend.db.models import Experiment, Run, StageTaskRow, utcnow
from vlmhb.backend.events.artifacts import answered, run_identity, scan_artifacts
from vlmhb.backend.events.attempts import end_open_try, event_time, record_running
from vlmhb.backend.states import (
    FROM_TASK_STATE,
    INTERRUPTED_STAGE,
    STAGE_SUCCESS,
    STAGE_TERMINAL,
    ExperimentStatus,
)
from vlmhb.core.contracts import Event, EventType, StageName, TaskState

ENDED_BY_BACKEND = (
    ExperimentStatus.INTERRUPTED,
    ExperimentStatus.CANCELLED,
    ExperimentStatus.FAILED,
)


class Projection:
    """Applies items to the rows of one session; ``runs_root`` is where run folders are."""

    def __init__(self, runs_root: Path) -> None:
        self.runs_root = runs_root

    def apply_status(
        self, session: Session, experiment: Experiment, status: ExperimentStatus, message: str
    ) -> dict[str, Any]:
        """A status the backend set; the body of its ``status`` event."""
        experiment.status = status.value
        experiment.message = message
        if status == ExperimentStatus.ACCEPTED:
            experiment.finished_at = None
        elif status in ENDED_BY_BACKEND:
            stage_state = (
                INTERRUPTED_STAGE
                if status == ExperimentStatus.INTERRUPTED
                else TaskState.CANCELLED.value
            )
            self._end_open_stages(session, experiment, stage_state)
            experiment.finished_at = utcnow()
        return {
            "type": "status",
            "state": status.value,
            "message": message,
            "ts": utcnow().timestamp(),
        }

    def apply_event(self, session: Session, experiment: Experiment, event: Event) -> dict[str, Any]:
        """An orchestrator event; the body clients get (the event without its topic)."""
        body = event.model_dump(mode="json", exclude={"topic"})
        if event.type == EventType.STATE and event.task_id is None and event.state:
            self._experiment_state(session, experiment, event)
        elif event.task_id is not None:
            stage = self._stage_row(session, experiment, event)
            if event.type == EventType.STATE and event.state:
                self._stage_state(session, experiment, stage, event)
            elif event.type == EventType.PROGRESS:
                self._stage_progress(session, experiment, stage, event)
            stage.updated_at = utcnow()
        return body

    def _experiment_state(self, session: Session, experiment: Experiment, event: Event) -> None:
        assert event.state is not None
        status = FROM_TASK_STATE.get(event.state)
        if status is None:
            return
        experiment.status = status.value
        experiment.message = event.message
        if status == ExperimentStatus.RUNNING:
            experiment.started_at = utcnow()
            experiment.finished_at = None
            return
        if status != ExperimentStatus.COMPLETED:
            self._end_open_stages(session, experiment, TaskState.CANCELLED.value)
        experiment.finished_at = utcnow()
        if status == ExperimentStatus.COMPLETED:
            self._mark_if_imported(session, experiment)

    def _mark_if_imported(self, session: Session, experiment: Experiment) -> None:
        """An experiment whose every stage had finished earlier (results registered after
        ``vlmhb run``) takes the times of those runs and says where they came from."""
        stages = list(
            session.scalars(select(StageTaskRow).where(StageTaskRow.experiment_id == experiment.id))
        )
        if not stages or any(s.state != TaskState.SKIPPED.value for s in stages):
            return
        started = [s.started_at for s in stages if s.started_at is not None]
        finished = [s.finished_at for s in stages if s.finished_at is not None]
        if len(started) == len(stages):
            experiment.started_at, experiment.finished_at = min(started), max(finished)
        experiment.message = (
            f"imported from {self.runs_root.name}/{experiment.name}/: every stage had finished "
            "earlier (same content hashes); the times shown are those of that run"
        )

    def _stage_state(
        self, session: Session, experiment: Experiment, stage: StageTaskRow, event: Event
    ) -> None:
        assert event.state is not None
        was_running = stage.state == TaskState.RUNNING.value
        stage.state = event.state.value
        stage.message = event.message
        if event.state == TaskState.PENDING:
            stage.started_at = stage.finished_at = None
        elif event.state == TaskState.RUNNING:
            if not was_running:  # a retry or a placement keeps the stage's start
                stage.started_at = utcnow()
            record_running(session, stage, event)
        elif event.state in STAGE_TERMINAL:
            stage.finished_at = utcnow()
            end_open_try(stage, event.state.value, event.message, event_time(event))
            if event.earlier is not None:  # outputs kept from an earlier run: its times
                stage.finished_at = datetime.fromtimestamp(event.earlier.finished_at, UTC)
                stage.started_at = stage.finished_at - timedelta(seconds=event.earlier.duration_s)
        if event.state in STAGE_SUCCESS and stage.run_name is not None:
            scan_artifacts(session, self.runs_root, experiment, stage.run_name)
        if event.state in STAGE_SUCCESS and event.stage == StageName.EXPERIMENT_REPORT:
            scan_artifacts(session, self.runs_root, experiment, None)
        if event.state in STAGE_TERMINAL and event.stage == StageName.INFERENCE and stage.run_name:
            self._count_from_files(session, experiment, stage)
        session.flush()
        self._refresh_counts(session, experiment, stage.run_name)

    def _stage_progress(
        self, session: Session, experiment: Experiment, stage: StageTaskRow, event: Event
    ) -> None:
        stage.done, stage.total = event.done, event.total
        if event.stage == StageName.INFERENCE and stage.run_name:
            run = self._run_row(session, experiment, stage.run_name)
            run.done, run.total = event.done, event.total

    def _stage_row(self, session: Session, experiment: Experiment, event: Event) -> StageTaskRow:
        assert event.task_id is not None
        row = session.scalar(
            select(StageTaskRow).where(
                StageTaskRow.experiment_id == experiment.id, StageTaskRow.task_id == event.task_id
            )
        )
        if row is None:
            run_name = event.run if event.stage != StageName.EXPERIMENT_REPORT else None
            row = StageTaskRow(
                experiment_id=experiment.id,
                task_id=event.task_id,
                run_name=run_name,
                stage=event.stage.value if event.stage else "",
                state=TaskState.PENDING.value,
                message="",
            )
            session.add(row)
            if run_name:
                self._run_row(session, experiment, run_name)
        return row

    def _run_row(self, session: Session, experiment: Experiment, name: str) -> Run:
        row = session.scalar(
            select(Run).where(Run.experiment_id == experiment.id, Run.name == name)
        )
        if row is None:
            model, task, prompt = run_identity(self.runs_root, experiment, name)
            row = Run(
                experiment_id=experiment.id,
                name=name,
                model=model,
                task=task,
                prompt=prompt,
                state=TaskState.PENDING.value,
            )
            session.add(row)
        return row

    def _count_from_files(
        self, session: Session, experiment: Experiment, stage: StageTaskRow
    ) -> None:
        """Samples done = answered rows in ``answers.csv`` (progress events may lag it)."""
        assert stage.run_name is not None
        done = answered(self.runs_root, experiment, stage.run_name)
        if done is None:
            return
        run = self._run_row(session, experiment, stage.run_name)
        stage.done = run.done = done
        if stage.total is not None and stage.total < done:
            stage.total = run.total = done

    def _end_open_stages(self, session: Session, experiment: Experiment, state: str) -> None:
        for row in session.scalars(
            select(StageTaskRow).where(StageTaskRow.experiment_id == experiment.id)
        ):
            if row.state not in STAGE_TERMINAL:
                row.state = state
                row.finished_at = utcnow()
                end_open_try(row, state, experiment.message, row.finished_at)
                if row.stage == StageName.INFERENCE.value and row.run_name:
                    self._count_from_files(session, experiment, row)
        session.flush()
        for run in session.scalars(select(Run).where(Run.experiment_id == experiment.id)):
            self._refresh_run(session, run)
        self._refresh_counts(session, experiment, None)

    def _refresh_counts(
        self, session: Session, experiment: Experiment, run_name: str | None
    ) -> None:
        counts = dict(
            session.execute(
                select(StageTaskRow.state, func.count())
                .where(StageTaskRow.experiment_id == experiment.id)
                .group_by(StageTaskRow.state)
            ).all()
        )
        total = sum(counts.values())
        done = sum(n for state, n in counts.items() if state in STAGE_TERMINAL)
        experiment.stages_total, experiment.stages_done = total, done
        experiment.progress = round(done / total, 4) if total else 0.0
        if run_name:
            run = self._run_row(session, experiment, run_name)
            self._refresh_run(session, run)

    def _refresh_run(self, session: Session, run: Run) -> None:
        states = list(
            session.scalars(
                select(StageTaskRow.state).where(
                    StageTaskRow.experiment_id == run.experiment_id,
                    StageTaskRow.run_name == run.name,
                )
            )
        )
        run.state = derive_run_state(states)
        run.updated_at = utcnow()


def derive_run_state(states: list[str]) -> str:
    """A run's state from its stages' states."""
    if not states:
        return TaskState.PENDING.value
    if any(s in (TaskState.RUNNING, TaskState.QUEUED) for s in states):
        return TaskState.RUNNING.value
    if all(s in STAGE_SUCCESS for s in states):
        return TaskState.COMPLETED.value
    for state in (TaskState.FAILED.value, INTERRUPTED_STAGE, TaskState.CANCELLED.value):
        if state in states:
            return state
    if any(s in STAGE_SUCCESS for s in states):
        return TaskState.RUNNING.value
    return TaskState.PENDING.value
