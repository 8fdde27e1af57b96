"""The bus subscriber that makes the database the source of truth.

Every event (and every status change the backend itself decides, such as ``ACCEPTED`` or
``INTERRUPTED``) goes through one ordered queue: a batch is applied to the DB in one
transaction (stage/run/experiment rows updated, one ``events`` row each, which gives its
``seq``), committed, and only then broadcast to WebSocket/SSE clients. A client that reads
a snapshot at ``seq`` N therefore needs exactly the messages with ``seq > N``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vlmhb.backend.db.engine import Database
from vlmhb.backend.db.models import Artifact, EventRow, Experiment, Run, StageTaskRow, utcnow
from vlmhb.backend.events.hub import Hub, Message
from vlmhb.backend.run_files import count_answers
from vlmhb.backend.states import (
    FROM_TASK_STATE,
    INTERRUPTED_STAGE,
    STAGE_SUCCESS,
    STAGE_TERMINAL,
    ExperimentStatus,
)
from vlmhb.core.contracts import Event, EventType, StageName, TaskState
from vlmhb.core.fileio import count_csv_rows
from vlmhb.core.files import PROBLEMS_FILE, RUN_SPEC_FILE

log = logging.getLogger(__name__)
BATCH = 500


@dataclass(frozen=True)
class StatusChange:
    """A status the backend sets itself (not reported by the orchestrator)."""

    experiment_id: str
    status: ExperimentStatus
    message: str = ""


Item = Event | StatusChange


def experiment_of(item: Item) -> str:
    """The experiment id an event or status change is about."""
    return item.experiment_id if isinstance(item, StatusChange) else item.topic


class Recorder:
    """Persists events and status changes in order, then broadcasts them (module docs)."""

    def __init__(self, db: Database, hub: Hub, runs_root: Path) -> None:
        self.db = db
        self.hub = hub
        self.runs_root = runs_root
        self._queue: asyncio.Queue[Item] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    # ----------------------------------------------------------------- intake
    def enqueue(self, item: Item) -> None:
        """Take an event or status change (synchronous: a bus listener)."""
        self._queue.put_nowait(item)

    def set_status(self, experiment_id: str, status: ExperimentStatus, message: str = "") -> None:
        self.enqueue(StatusChange(experiment_id, status, message))

    async def wait_idle(self) -> None:
        """Wait until everything enqueued so far is persisted and broadcast."""
        await self._queue.join()

    # ----------------------------------------------------------------- loop
    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.wait_idle(), 30)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                messages = await asyncio.to_thread(self._persist_isolated, batch)
                for topic, message in messages:
                    self.hub.broadcast(topic, message)
            except Exception:
                log.exception("could not broadcast %d event(s)", len(batch))
            finally:
                for _ in batch:
                    self._queue.task_done()

    def _persist_isolated(self, batch: list[Item]) -> list[tuple[str, Message]]:
        """``persist`` the batch; when it fails (rolled back), retry item by item so one
        bad event (or an experiment deleted meanwhile) drops only itself."""
        try:
            return self.persist(batch)
        except Exception:
            if len(batch) == 1:
                log.exception(
                    "dropped a %s of experiment %s: could not persist it",
                    type(batch[0]).__name__,
                    experiment_of(batch[0]),
                )
                return []
        out: list[tuple[str, Message]] = []
        for item in batch:
            out += self._persist_isolated([item])
        return out

    # ----------------------------------------------------------------- persistence
    def persist(self, batch: list[Item]) -> list[tuple[str, Message]]:
        """Apply ``batch`` in one transaction; return the messages to broadcast."""
        out: list[tuple[str, Message]] = []
        work: deque[Item] = deque(batch)
        with self.db.session() as session:
            while work:
                item = work.popleft()
                exp_id = experiment_of(item)
                experiment = session.get(Experiment, exp_id)
                if experiment is None:
                    continue  # news about an experiment this backend does not track
                if isinstance(item, StatusChange):
                    body = self._apply_status(session, experiment, item.status, item.message)
                    type_, task_id = "status", None
                    state: str | None = item.status.value
                else:
                    body = self._apply_event(session, experiment, item)
                    type_, task_id = item.type.value, item.task_id
                    state = item.state.value if item.state else None
                    note = self._problems_note(experiment, item)
                    if note is not None:
                        work.appendleft(note)
                experiment.updated_at = utcnow()
                row = EventRow(
                    experiment_id=exp_id, type=type_, task_id=task_id, state=state, payload=""
                )
                session.add(row)
                session.flush()
                text = json.dumps(
                    {
                        "type": "event",
                        "seq": row.seq,
                        "experiment_id": exp_id,
                        "experiment_status": experiment.status,
                        "progress": experiment.progress,
                        "event": body,
                    },
                    ensure_ascii=False,
                )
                row.payload = text
                out.append((exp_id, Message(row.seq, text)))
        return out

    def _apply_status(
        self, session: Session, experiment: Experiment, status: ExperimentStatus, message: str
    ) -> dict[str, Any]:
        experiment.status = status.value
        experiment.message = message
        if status == ExperimentStatus.ACCEPTED:
            experiment.finished_at = None
        elif status in (
            ExperimentStatus.INTERRUPTED,
            ExperimentStatus.CANCELLED,
            ExperimentStatus.FAILED,
        ):
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

    def _apply_event(
        self, session: Session, experiment: Experiment, event: Event
    ) -> dict[str, Any]:
        body = event.model_dump(mode="json", exclude={"topic"})
        if event.type == EventType.STATE and event.task_id is None and event.state:
            status = FROM_TASK_STATE.get(event.state)
            if status is not None:
                experiment.status = status.value
                experiment.message = event.message
                if status == ExperimentStatus.RUNNING:
                    experiment.started_at = utcnow()
                    experiment.finished_at = None
                else:
                    if status != ExperimentStatus.COMPLETED:
                        self._end_open_stages(session, experiment, TaskState.CANCELLED.value)
                    experiment.finished_at = utcnow()
            return body
        if event.task_id is None:
            return body
        stage = self._stage_row(session, experiment, event)
        if event.type == EventType.STATE and event.state:
            stage.state = event.state.value
            stage.message = event.message
            if event.state == TaskState.PENDING:
                stage.started_at = stage.finished_at = None
            elif event.state == TaskState.RUNNING:
                stage.started_at = utcnow()
            elif event.state in STAGE_TERMINAL:
                stage.finished_at = utcnow()
            if event.state in STAGE_SUCCESS and stage.run_name is not None:
                self._scan_artifacts(session, experiment, stage.run_name)
            if event.state in STAGE_SUCCESS and event.stage == StageName.EXPERIMENT_REPORT:
                self._scan_artifacts(session, experiment, None)
            if (
                event.state in STAGE_TERMINAL
                and event.stage == StageName.INFERENCE
                and stage.run_name
            ):
                self._count_from_files(session, experiment, stage)
            session.flush()
            self._refresh_counts(session, experiment, stage.run_name)
        elif event.type == EventType.PROGRESS:
            stage.done, stage.total = event.done, event.total
            if event.stage == StageName.INFERENCE and stage.run_name:
                run = self._run_row(session, experiment, stage.run_name)
                run.done, run.total = event.done, event.total
        stage.updated_at = utcnow()
        return body

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
            model, task, prompt = self._run_identity(experiment, name)
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

    def _run_identity(self, experiment: Experiment, name: str) -> tuple[str, str, str]:
        spec_file = self.runs_root / experiment.name / name / RUN_SPEC_FILE
        with contextlib.suppress(OSError, ValueError, KeyError):
            spec = json.loads(spec_file.read_text(encoding="utf-8"))
            prompt = Path(spec["prompt"]["path"]).stem if spec.get("prompt") else "default"
            return spec["model"]["name"], spec["task"]["name"], prompt
        parts = [*name.split("__"), "", "", ""]
        return parts[0], parts[1], parts[2]

    def _count_from_files(
        self, session: Session, experiment: Experiment, stage: StageTaskRow
    ) -> None:
        """Samples done = answered rows in ``answers.csv`` (progress events may lag it)."""
        assert stage.run_name is not None
        done = count_answers(self.runs_root / experiment.name / stage.run_name)
        if done is None:
            return
        run = self._run_row(session, experiment, stage.run_name)
        stage.done = run.done = done
        if stage.total is not None and stage.total < done:
            stage.total = run.total = done

    def _problems_note(self, experiment: Experiment, event: Event) -> Event | None:
        """A log event naming ``problems.csv`` when an inference stage ended with bad
        dataset rows skipped (the console and the UI show it)."""
        if not (
            event.type == EventType.STATE
            and event.stage == StageName.INFERENCE
            and event.state in STAGE_TERMINAL
            and event.run
        ):
            return None
        path = self.runs_root / experiment.name / event.run / PROBLEMS_FILE
        count = count_csv_rows(path)
        if not count:
            return None
        rel = path.relative_to(self.runs_root).as_posix()
        return Event(
            type=EventType.LOG,
            topic=event.topic,
            task_id=event.task_id,
            run=event.run,
            stage=event.stage,
            ts=event.ts,
            message=f"warning: {count} dataset row(s) skipped as bad: see {rel}",
        )

    def _end_open_stages(self, session: Session, experiment: Experiment, state: str) -> None:
        for row in session.scalars(
            select(StageTaskRow).where(StageTaskRow.experiment_id == experiment.id)
        ):
            if row.state not in STAGE_TERMINAL:
                row.state = state
                row.finished_at = utcnow()
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

    def _scan_artifacts(
        self, session: Session, experiment: Experiment, run_name: str | None
    ) -> None:
        base = self.runs_root / experiment.name
        folder = base / run_name if run_name else base
        if not folder.is_dir():
            return
        files = [p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")]
        logs = folder / "logs"
        if logs.is_dir():
            files += [p for p in logs.iterdir() if p.is_file()]
        known = {
            a.path: a
            for a in session.scalars(
                select(Artifact).where(Artifact.experiment_id == experiment.id)
            )
        }
        for file in files:
            rel = file.relative_to(self.runs_root).as_posix()
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
