"""The ``Runner`` contract the API uses, and its embedded implementation."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from vlmhb.orchestrator.local import LocalRunner


class Runner(Protocol):
    """Starts, cancels and reports on experiments for the API."""

    mode: str

    async def submit(self, experiment_id: str, config_path: Path, force: bool = False) -> None:
        """Start the experiment in the background (returns at once)."""
        ...

    async def cancel(self, experiment_id: str) -> bool:
        """Ask the experiment to stop; False when it is not running here."""
        ...

    async def is_active(self, experiment_id: str) -> bool | None:
        """Whether it still runs (None: unknown, the orchestrator is unreachable)."""
        ...

    async def resources(self) -> dict[str, Any]: ...

    async def shutdown(self) -> None: ...


class EmbeddedRunner:
    """The orchestrator inside the backend process (``vlmhb serve``)."""

    mode = "embedded"

    def __init__(self, local: LocalRunner) -> None:
        self.local = local

    async def submit(self, experiment_id: str, config_path: Path, force: bool = False) -> None:
        self.local.submit(experiment_id, config_path, force)

    async def cancel(self, experiment_id: str) -> bool:
        return self.local.cancel(experiment_id)

    async def is_active(self, experiment_id: str) -> bool | None:
        return self.local.is_active(experiment_id)

    async def resources(self) -> dict[str, Any]:
        return {"source": "embedded", **self.local.snapshot()}

    async def shutdown(self) -> None:
        await self.local.shutdown()
