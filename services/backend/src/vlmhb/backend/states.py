"""Experiment statuses of the management plane (stages use the core ``TaskState``)."""

from __future__ import annotations

from enum import StrEnum

from vlmhb.core.contracts import TaskState


class ExperimentStatus(StrEnum):
    """``ACCEPTED``: stored, waiting for the orchestrator; ``INTERRUPTED``: the server
    stopped while it ran (resume with rerun)."""

    ACCEPTED = "ACCEPTED"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    INTERRUPTED = "INTERRUPTED"


ACTIVE = {ExperimentStatus.ACCEPTED, ExperimentStatus.RUNNING}
TERMINAL = set(ExperimentStatus) - ACTIVE
INTERRUPTED_STAGE = "INTERRUPTED"
STAGE_TERMINAL = {
    TaskState.COMPLETED,
    TaskState.SKIPPED,
    TaskState.FAILED,
    TaskState.CANCELLED,
    INTERRUPTED_STAGE,
}
STAGE_SUCCESS = {TaskState.COMPLETED, TaskState.SKIPPED}

FROM_TASK_STATE = {
    TaskState.RUNNING: ExperimentStatus.RUNNING,
    TaskState.COMPLETED: ExperimentStatus.COMPLETED,
    TaskState.FAILED: ExperimentStatus.FAILED,
    TaskState.CANCELLED: ExperimentStatus.CANCELLED,
}
