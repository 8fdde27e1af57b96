"""Wait until plane containers are healthy (``State.Health.Status``), or say which one
failed, why, and what its log ended with."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import docker
from docker.errors import DockerException, NotFound

from vlmhb.orchestrator.plane.errors import ServiceFailed

POLL_S = 0.5
LOG_TAIL_LINES = 40


def container_problem(state: Mapping[str, Any]) -> str | None:
    """Why a container's ``State`` can no longer become healthy (None while it may)."""
    status = state.get("Status")
    code = state.get("ExitCode")
    if status in ("exited", "dead"):
        return f"its container exited with code {code}"
    if status == "restarting" or state.get("Restarting"):
        return f"its container keeps restarting (last exit code {code})"
    health = (state.get("Health") or {}).get("Status")
    if health == "unhealthy":
        return f"its health check failed: {last_check_output(state) or 'no output'}"
    return None


def last_check_output(state: Mapping[str, Any]) -> str:
    """The output of the latest health check (trimmed), '' when there is none."""
    log = (state.get("Health") or {}).get("Log") or []
    return str(log[-1].get("Output", "")).strip()[-500:] if log else ""


def log_tail(client: docker.DockerClient, container_id: str, lines: int = LOG_TAIL_LINES) -> str:
    """The last ``lines`` of the container's output (stdout and stderr)."""
    try:
        raw: bytes = client.containers.get(container_id).logs(tail=lines)
    except DockerException as exc:
        return f"(no log: {exc})"
    return raw.decode("utf-8", "replace").rstrip()


def wait_healthy(
    client: docker.DockerClient,
    containers: Mapping[str, str],
    timeout_s: float,
    on_healthy: Callable[[str, float], None] = lambda service, seconds: None,
) -> None:
    """Return when every container (service → id) reports ``healthy``; ``on_healthy`` is
    called for each as it does. Raise ``ServiceFailed`` for the first one that exits,
    restarts, turns unhealthy or is not healthy after ``timeout_s``."""
    start = time.monotonic()
    pending = dict(containers)
    while pending:
        for service, container_id in list(pending.items()):
            try:
                state: dict[str, Any] = client.api.inspect_container(container_id)["State"]
            except NotFound:
                raise ServiceFailed(service, "its container is gone", "") from None
            if (state.get("Health") or {}).get("Status") == "healthy":
                on_healthy(service, time.monotonic() - start)
                del pending[service]
                continue
            problem = container_problem(state)
            if problem is None and not (state.get("Health") or {}):
                problem = "its container has no health check"
            if problem is not None:
                raise ServiceFailed(service, problem, log_tail(client, container_id))
        if not pending:
            return
        if time.monotonic() - start > timeout_s:
            service, container_id = next(iter(pending.items()))
            state = client.api.inspect_container(container_id)["State"]
            check = last_check_output(state)
            raise ServiceFailed(
                service,
                f"not healthy after {timeout_s:.0f} s"
                + (f" (last health check: {check})" if check else ""),
                log_tail(client, container_id),
            )
        time.sleep(POLL_S)
