"""The compose command of one plane project, behind one small class.

Debian ships ``docker-compose`` v1 (1.29); newer engines have the ``docker compose`` v2
plugin. Both take the same arguments for what the plane needs (``config``, ``up -d
--no-deps``, ``ps -q``, ``stop``, ``down``), so ``Compose`` only holds the command's
prefix; ``find_compose_command`` picks one (v1 first, as on this project's machines).
The plane's variables go in the process environment, never on the command line.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from vlmhb.orchestrator.plane.errors import PlaneError

COMMAND_TIMEOUT_S = 600


def find_compose_command() -> list[str]:
    """``["docker-compose"]`` (v1) when on PATH, else ``["docker", "compose"]`` when the v2
    plugin answers; ``PlaneError`` when neither exists."""
    v1 = shutil.which("docker-compose")
    if v1:
        return [v1]
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run(
            [docker, "compose", "version"], capture_output=True, text=True, check=False
        )
        if probe.returncode == 0:
            return [docker, "compose"]
    raise PlaneError(
        "no compose command: install docker-compose (Debian: apt-get install docker-compose) "
        "or the docker compose v2 plugin"
    )


class Compose:
    """``<command> -p <project> -f <file> ...`` with ``env`` added to the environment."""

    def __init__(
        self,
        project: str,
        file: Path,
        env: Mapping[str, str],
        command: Sequence[str] | None = None,
    ) -> None:
        self.project = project
        self.file = file
        self.env = dict(env)
        self.command = list(command) if command is not None else find_compose_command()

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run one compose command; a failure (with ``check``) is a ``PlaneError`` that
        carries compose's own message."""
        import os

        done = subprocess.run(
            [*self.command, "-p", self.project, "-f", str(self.file), *args],
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
        )
        if check and done.returncode != 0:
            message = (done.stderr or done.stdout).strip()[-3000:]
            raise PlaneError(f"{' '.join(['compose', *args])} failed: {message}")
        return done

    def config(self) -> dict[str, Any]:
        """The resolved compose file (variables substituted); validates it."""
        loaded = yaml.safe_load(self.run("config").stdout)
        if not isinstance(loaded, dict):
            raise PlaneError(f"compose config of {self.file} is not a mapping")
        return loaded

    def start_order(self) -> list[list[str]]:
        """The services in start levels: each level depends only on earlier ones
        (``depends_on``), services of one level start together."""
        services: dict[str, Any] = self.config().get("services") or {}
        needs = {name: set(spec.get("depends_on") or ()) for name, spec in services.items()}
        levels: list[list[str]] = []
        placed: set[str] = set()
        while len(placed) < len(needs):
            level = sorted(n for n, deps in needs.items() if n not in placed and deps <= placed)
            if not level:
                raise PlaneError(f"{self.file}: depends_on has a cycle or an unknown service")
            levels.append(level)
            placed.update(level)
        return levels

    def up(self, services: Sequence[str]) -> None:
        """Create and start ``services`` detached, without their dependencies (the caller
        starts those first and waits for their health)."""
        self.run("up", "-d", "--no-deps", *services)

    def container_id(self, service: str) -> str | None:
        """The id of the service's container (None when it has none)."""
        ids = self.run("ps", "-q", service).stdout.split()
        return ids[0] if ids else None

    def stop(self, services: Sequence[str]) -> None:
        """Stop ``services``, keeping their containers and logs."""
        self.run("stop", *services)

    def down(self, volumes: bool = False) -> None:
        """Remove the project's containers; its named volumes too only with ``volumes``."""
        self.run("down", *(["--volumes"] if volumes else []))
