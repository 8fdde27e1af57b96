"""Forward submissions to a separate orchestrator service (``ORCHESTRATOR_URL``).

The orchestrator reads the stored config from the path the backend sends, so both must
see the same data folder (a shared volume); events come back over Redis. Every call
carries ``Authorization: Bearer <token>`` (the orchestrator requires it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx


class RemoteRunnerError(Exception):
    """The orchestrator refused the request or could not be reached."""


class RemoteRunner:
    mode = "split"

    def __init__(self, base_url: str, token: str, timeout_s: float = 10.0) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        self.client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), headers=headers, timeout=timeout_s
        )

    async def submit(self, experiment_id: str, config_path: Path, force: bool = False) -> None:
        try:
            response = await self.client.post(
                "/run",
                json={
                    "experiment_id": experiment_id,
                    "config_path": str(config_path),
                    "force": force,
                },
            )
        except httpx.HTTPError as exc:
            raise RemoteRunnerError(f"orchestrator unreachable: {exc}") from exc
        if response.status_code >= 400:
            raise RemoteRunnerError(
                f"orchestrator answered {response.status_code}: {response.text[:300]}"
            )

    async def cancel(self, experiment_id: str) -> bool:
        try:
            response = await self.client.post(f"/cancel/{experiment_id}")
        except httpx.HTTPError:
            return False
        return response.status_code == 202

    async def is_active(self, experiment_id: str) -> bool | None:
        try:
            response = await self.client.get(f"/status/{experiment_id}")
        except httpx.HTTPError:
            return None
        if response.status_code == 404:
            return False
        if response.status_code >= 400:
            return None
        return bool(response.json().get("active"))

    async def resources(self) -> dict[str, Any]:
        try:
            response = await self.client.get("/resources")
            response.raise_for_status()
        except httpx.HTTPError as exc:
            return {"source": "orchestrator", "error": str(exc)}
        return {"source": "orchestrator", **response.json()}

    async def shutdown(self) -> None:
        await self.client.aclose()
