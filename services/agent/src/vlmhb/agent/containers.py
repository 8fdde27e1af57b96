"""This agent's containers in the host's engine: list, stop, remove, logs. Only containers
the docker env started for this agent (``vlmhb.orchestrator`` and ``vlmhb.agent=<name>``)
are ever touched; any other container (another agent's, a local ``vlmhb run``'s, not
vlmhb's at all) is, to this agent, not there."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import docker
import docker.errors

from vlmhb.agent.wire import AGENT_LABEL, ContainerInfo
from vlmhb.containers.docker_env import labels as lbl
from vlmhb.containers.docker_env.manager import cancel_grace_s


class NotAVlmhbContainer(LookupError):
    """No container with this id, or one that no vlmhb env started."""


def check_labels(labels: dict[str, str]) -> None:
    """Label filters name ``vlmhb.*`` labels only: ``ValueError`` otherwise."""
    for key in labels:
        if not key.startswith(lbl.PREFIX):
            raise ValueError(f"label {key!r}: only {lbl.PREFIX}* labels can be matched")


def list_containers(
    client: docker.DockerClient, agent: str, labels: dict[str, str] | None = None
) -> list[ContainerInfo]:
    """The containers of ``agent`` (running or not) carrying every label of ``labels``."""
    match = {**(labels or {}), AGENT_LABEL: agent}
    wanted = [lbl.ORCHESTRATOR, *(f"{k}={v}" for k, v in match.items())]
    found = client.api.containers(all=True, filters={"label": wanted})
    infos = []
    for row in found:
        with contextlib.suppress(docker.errors.NotFound):  # removed meanwhile
            infos.append(_info(client.api.inspect_container(row["Id"])))
    return infos


def _info(attrs: dict[str, Any]) -> ContainerInfo:
    state = attrs.get("State") or {}
    running = state.get("Status") in {"running", "created", "restarting"}
    return ContainerInfo(
        id=attrs["Id"],
        name=str(attrs.get("Name", "")).lstrip("/"),
        labels=dict((attrs.get("Config") or {}).get("Labels") or {}),
        state=str(state.get("Status", "")),
        exit_code=None if running else state.get("ExitCode"),
        oom_killed=bool(state.get("OOMKilled")),
        restarts=int(attrs.get("RestartCount") or 0),
    )


def get_container(client: docker.DockerClient, agent: str, container_id: str) -> ContainerInfo:
    """One container of ``agent`` by id or name; ``NotAVlmhbContainer`` for any other."""
    try:
        info = _info(client.api.inspect_container(container_id))
    except docker.errors.NotFound as exc:
        raise NotAVlmhbContainer(f"no vlmhb container {container_id!r}") from exc
    if lbl.ORCHESTRATOR not in info.labels or info.labels.get(AGENT_LABEL) != agent:
        raise NotAVlmhbContainer(f"no vlmhb container {container_id!r}")
    return info


def remove_container(client: docker.DockerClient, agent: str, container_id: str) -> str:
    """Stop (SIGTERM, SIGKILL after the cancel grace) and remove one container of
    ``agent``; its id. Its env manager may remove it first once it has stopped: fine."""
    info = get_container(client, agent, container_id)
    with contextlib.suppress(docker.errors.NotFound):
        if info.state == "running":
            client.api.stop(info.id, timeout=max(1, int(cancel_grace_s())))
    try:
        client.api.remove_container(info.id, force=True)
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError as exc:  # its env manager removing it already: fine
        if exc.status_code != 409 or "already in progress" not in str(exc.explanation):
            raise
    return info.id


def stop_containers(client: docker.DockerClient, agent: str, labels: dict[str, str]) -> list[str]:
    """Stop and remove every container of ``agent`` with all of ``labels``; their ids."""
    check_labels(labels)
    stopped = []
    for info in list_containers(client, agent, labels):
        with contextlib.suppress(NotAVlmhbContainer):  # gone before its turn
            stopped.append(remove_container(client, agent, info.id))
    return stopped


def stream_logs(
    client: docker.DockerClient, container_id: str, follow: bool, tail: int | None
) -> Iterator[bytes]:
    """The stdout and stderr lines of a container (checked: ``get_container``), each with
    its timestamp; following them until it ends when ``follow``."""
    chunks = client.api.logs(
        container_id,
        stdout=True,
        stderr=True,
        stream=True,
        follow=follow,
        timestamps=True,
        tail="all" if tail is None else tail,
    )
    yield from chunks
