"""Routes of stage tasks: start, status, events (long poll), stop; and the inventory."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, status

from vlmhb.agent.gpus import NotEnoughGpus
from vlmhb.agent.stages import AlreadyRunning, StageRecord
from vlmhb.agent.state import agent_state
from vlmhb.agent.wire import EventsPage, Inventory, StageStarted, StageStatus, StartStage
from vlmhb.core.contracts import StageTask
from vlmhb.core.envs.policy import ContainerPolicyError, container_policy, stage_mounts
from vlmhb.core.errors import VlmhbError

MAX_WAIT_S = 30.0

router = APIRouter()


def _record(request: Request, stage_id: str) -> StageRecord:
    record = agent_state(request).runner.get(stage_id)
    if record is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no stage {stage_id} on this agent")
    return record


@router.get("/inventory")
def inventory(request: Request) -> Inventory:
    return agent_state(request).inventory()


@router.post("/stages", status_code=status.HTTP_202_ACCEPTED)
async def start_stage(request: Request, body: StartStage) -> StageStarted:
    """Run ``body.task`` on ``body.gpus`` free GPUs, in the background."""
    state = agent_state(request)
    kind = body.task.env.kind
    if kind not in state.settings.env_kinds:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"env kind {kind!r} is not enabled on this agent "
            f"(VLMHB_AGENT_ENV_KINDS: {', '.join(state.settings.env_kinds)})",
        )
    check_task_paths(body.task)
    try:
        record = state.runner.start(body.task, body.gpus)
    except AlreadyRunning as exc:
        raise HTTPException(
            status.HTTP_409_CONFLICT, {"message": str(exc), "attempt": exc.attempt}
        ) from exc
    except NotEnoughGpus as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    except (VlmhbError, ValueError) as exc:  # unknown env kind, a GPU id NVML does not know
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from exc
    return StageStarted(
        stage_id=record.task.id, attempt=record.task.attempt, gpu_ids=record.gpu_ids
    )


def check_task_paths(task: StageTask) -> None:
    """403 unless every path ``task`` reads or writes lies in this agent's data roots
    (``VLMHB_DATA_ROOT``, ``VLMHB_MODEL_ROOTS``), whatever its env kind: the token alone
    does not let a caller write outside them (the container policy's rules, applied to the
    run folder too)."""
    policy = container_policy()
    try:
        if not policy.allows_input(task.run_dir):
            raise ContainerPolicyError(
                f"run_dir {task.run_dir} is outside this agent's data roots ({policy.roots_text()})"
            )
        stage_mounts(task, policy)
    except ContainerPolicyError as exc:
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(exc)) from exc


@router.get("/stages/{stage_id}")
async def stage_status(request: Request, stage_id: str) -> StageStatus:
    return _record(request, stage_id).status()


@router.get("/stages/{stage_id}/events")
async def stage_events(
    request: Request,
    stage_id: str,
    after: Annotated[int, Query(ge=0)] = 0,
    wait: Annotated[float, Query(ge=0, le=MAX_WAIT_S)] = 0.0,
) -> EventsPage:
    """Events with ``seq > after``; waits up to ``wait`` seconds for the first."""
    events, finished = await _record(request, stage_id).events_after(after, wait)
    return EventsPage(events=events, finished=finished)


@router.post("/stages/{stage_id}/stop", status_code=status.HTTP_202_ACCEPTED)
async def stop_stage(request: Request, stage_id: str) -> dict[str, bool]:
    """Cancel the stage (idempotent: an unknown or finished one is left as it is)."""
    return {"stopping": agent_state(request).runner.stop(stage_id)}
