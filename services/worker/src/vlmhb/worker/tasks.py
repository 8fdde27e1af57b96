"""The ``run_stage`` Celery task a worker process consumes: one stage attempt (``lease``)
driven by ``StageRun``; when no agent has room it comes back later without using up an
attempt."""

from __future__ import annotations

from typing import Any

from celery import Celery

from vlmhb.core.contracts import StageTask
from vlmhb.worker.agents import AgentDirectory
from vlmhb.worker.app import TASK_NAME
from vlmhb.worker.runner import Outcome, StageRun
from vlmhb.worker.store import LeaseStore


def register_run_stage(app: Celery, store: LeaseStore, agents: AgentDirectory, worker: str) -> None:
    """Add ``run_stage(task_json, lease)`` to ``app`` for this worker process."""
    retry_s = agents.settings.place_retry_s

    @app.task(name=TASK_NAME, bind=True, max_retries=None, acks_late=True)  # type: ignore[untyped-decorator]
    def run_stage(self: Any, task_json: str, lease: int) -> str:
        # the message holds the masked task; the one with secrets is in the lease row
        # while the attempt is unfinished (an ended one is refused at claim anyway)
        task = StageTask.model_validate_json(store.private_task(lease) or task_json)
        outcome = StageRun(store, agents, worker, task, lease).run()
        if outcome == Outcome.RETRY:
            raise self.retry(countdown=retry_s)
        return outcome.value
