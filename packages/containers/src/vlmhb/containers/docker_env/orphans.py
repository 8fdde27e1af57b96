"""Orphans: containers of the docker env whose orchestrator is gone.

Every container the docker env starts carries ``vlmhb.orchestrator``: the host, pid and
pid start time of the process that started it (``labels``). A container is an orphan when
that process, on this host, is gone (no such pid, or a pid reused by another process): no
one will stop, read or remove it. Containers of a live orchestrator, of another host (a
shared engine: this host cannot tell whether that one runs) and those without the label
are never orphans."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import docker
import docker.errors

from vlmhb.containers.docker_env import labels as lbl


@dataclass(frozen=True)
class Verdict:
    """A labelled container (as the engine listed it) and whether it is an orphan
    (``reason`` says why)."""

    id: str
    name: str
    status: str
    labels: dict[str, str]
    orphan: bool
    reason: str


def judge(labels: dict[str, str]) -> tuple[bool, str]:
    """Whether the orchestrator that a container's labels name is gone, and why."""
    label = labels.get(lbl.ORCHESTRATOR, "")
    owner = lbl.Orchestrator.parse(label)
    if owner is None:
        return False, f"kept: unreadable {lbl.ORCHESTRATOR} label {label!r}"
    if not owner.is_local():
        return False, f"kept: started on host {owner.host}"
    if owner.is_alive():
        return False, f"kept: its orchestrator (pid {owner.pid}) runs"
    return True, f"orphan: its orchestrator (pid {owner.pid}) is gone"


def find_containers(
    client: docker.DockerClient, match: dict[str, str] | None = None
) -> list[Verdict]:
    """Every container the docker env started (with the labels ``match``, if given),
    judged."""
    wanted = [lbl.ORCHESTRATOR, *(f"{key}={value}" for key, value in (match or {}).items())]
    verdicts = []
    for found in client.api.containers(all=True, filters={"label": wanted}):
        labels = dict(found.get("Labels") or {})
        names = found.get("Names") or [found["Id"][:12]]
        orphan, reason = judge(labels)
        verdicts.append(
            Verdict(
                found["Id"], names[0].lstrip("/"), found.get("State", ""), labels, orphan, reason
            )
        )
    return verdicts


def remove_orphans(
    client: docker.DockerClient, match: dict[str, str] | None = None, dry_run: bool = False
) -> list[Verdict]:
    """Remove the orphans among the containers with labels ``match`` (unless
    ``dry_run``); every container judged."""
    verdicts = find_containers(client, match)
    for verdict in verdicts:
        if verdict.orphan and not dry_run:
            with contextlib.suppress(docker.errors.NotFound):  # removed meanwhile
                client.api.remove_container(verdict.id, force=True)
    return verdicts
