"""The client of an agent's API, used by the job queue's workers (synchronous httpx), and
where the agents are: a static list (``VLMHB_AGENTS``) or their Redis heartbeats.

Errors: ``AgentUnavailable`` when the agent cannot answer (connect error, timeout, 5xx)
after the client's own short retries; ``AgentRefused`` when it answered no (4xx)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx
from pydantic import TypeAdapter

from vlmhb.agent.heartbeat import KEY_PREFIX
from vlmhb.agent.wire import (
    ContainerInfo,
    EventsPage,
    Health,
    Heartbeat,
    ImageJob,
    Images,
    Inventory,
    StageStarted,
    StageStatus,
    StoppedContainers,
)
from vlmhb.core.childproc import CANCEL_DEADLINE_S
from vlmhb.core.contracts import StageTask
from vlmhb.core.secrets import revealed_json

BACKOFF_S = 0.2  # first retry after this, doubling
_CONTAINERS = TypeAdapter(list[ContainerInfo])


class AgentError(Exception):
    """Any failure of a call to an agent."""


class AgentUnavailable(AgentError):
    """connect error, timeout, 5xx — after the client's own short retries (backoff)"""


class AgentRefused(AgentError):
    """4xx: ``status_code``, ``detail`` (e.g. 409 no free GPUs / already running)"""

    def __init__(self, status_code: int, detail: Any) -> None:
        super().__init__(f"agent refused ({status_code}): {detail}")
        self.status_code = status_code
        self.detail = detail


class AgentClient:
    """One agent's API at ``base_url`` with its bearer ``token``."""

    def __init__(
        self, base_url: str, token: str, *, timeout_s: float = 10.0, retries: int = 2
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.retries = retries
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout_s,
        )

    def health(self) -> Health:
        return Health.model_validate(self._call("GET", "/health"))

    def inventory(self) -> Inventory:
        return Inventory.model_validate(self._call("GET", "/inventory"))

    def start_stage(self, task: StageTask, gpus: int) -> StageStarted:
        """Start ``task`` on ``gpus`` free GPUs (secrets travel in the request body only).
        Retried only when the request never reached the agent (a start is not idempotent)."""
        body = {"task": json.loads(revealed_json(task)), "gpus": gpus}
        return StageStarted.model_validate(
            self._call("POST", "/stages", json=body, only_unsent=True)
        )

    def stage(self, stage_id: str) -> StageStatus:
        return StageStatus.model_validate(self._call("GET", f"/stages/{stage_id}"))

    def events(self, stage_id: str, after: int = 0, wait_s: float = 2.0) -> EventsPage:
        """Events with ``seq > after``, the agent waiting up to ``wait_s`` for the first."""
        answer = self._call(
            "GET",
            f"/stages/{stage_id}/events",
            params={"after": after, "wait": wait_s},
            timeout=self.timeout_s + wait_s,
        )
        return EventsPage.model_validate(answer)

    def stop_stage(self, stage_id: str) -> None:
        """Cancel the stage (idempotent); its result becomes ``CANCELLED``."""
        self._call("POST", f"/stages/{stage_id}/stop")

    def containers(self, labels: dict[str, str] | None = None) -> list[ContainerInfo]:
        params = [("label", f"{k}={v}") for k, v in (labels or {}).items()]
        return _CONTAINERS.validate_python(self._call("GET", "/containers", params=params))

    def stop_containers(self, labels: dict[str, str]) -> int:
        """Stop and remove the vlmhb containers with ``labels``; how many there were. The
        agent answers once they are gone (each within ``CANCEL_DEADLINE_S``): a call that
        timed out is not sent again, as the second would find none and answer 0."""
        answer = self._call(
            "POST",
            "/containers/stop",
            json={"labels": labels},
            timeout=self.timeout_s + CANCEL_DEADLINE_S,
            only_unsent=True,
        )
        return len(StoppedContainers.model_validate(answer).stopped)

    def images(self) -> Images:
        return Images.model_validate(self._call("GET", "/images"))

    def build_images(self, names: list[str], force: bool = False) -> ImageJob:
        """Start building image folders ``names`` (all when empty): the build job."""
        body = {"names": names, "force": force}
        return ImageJob.model_validate(self._call("POST", "/images/build", json=body))

    def image_job(self, job_id: str) -> ImageJob:
        return ImageJob.model_validate(self._call("GET", f"/images/jobs/{job_id}"))

    def pull_image(self, ref: str) -> dict[str, str]:
        answer: dict[str, str] = self._call("POST", "/images/pull", json={"ref": ref})
        return answer

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> AgentClient:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _call(
        self,
        method: str,
        path: str,
        *,
        only_unsent: bool = False,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> Any:
        """The JSON answer; retries (backoff) on what ``AgentUnavailable`` covers."""
        reason = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(BACKOFF_S * 2 ** (attempt - 1))
            try:
                response = self._http.request(
                    method, path, timeout=timeout or self.timeout_s, **kwargs
                )
            except httpx.ConnectError as exc:
                reason = f"cannot connect: {exc}"
                continue
            except httpx.TransportError as exc:  # timeouts, a dropped connection
                reason = f"{type(exc).__name__}: {exc}"
                if only_unsent:
                    break
                continue
            if response.status_code >= 500:
                reason = f"HTTP {response.status_code}: {_detail(response)}"
                if only_unsent:
                    break
                continue
            if response.status_code >= 400:
                raise AgentRefused(response.status_code, _detail(response))
            return response.json()
        raise AgentUnavailable(f"agent at {self.base_url}: {method} {path}: {reason}")


def _detail(response: httpx.Response) -> Any:
    try:
        return response.json().get("detail", response.text)
    except (ValueError, AttributeError):
        return response.text


@dataclass(frozen=True)
class AgentRef:
    """An agent by name and URL; ``inventory`` when it came from a heartbeat."""

    name: str
    url: str
    inventory: Inventory | None = None


def parse_agents(text: str) -> list[AgentRef]:
    """``"a=http://127.0.0.1:8101,b=http://..."`` (``VLMHB_AGENTS``) → the agents;
    ``ValueError`` naming a malformed or repeated entry."""
    agents: list[AgentRef] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, sep, url = item.partition("=")
        name, url = name.strip(), url.strip()
        if not (sep and name and url.startswith(("http://", "https://"))):
            raise ValueError(f"agent {item!r}: expected NAME=http(s)://HOST:PORT")
        if any(agent.name == name for agent in agents):
            raise ValueError(f"agent {name!r} is listed twice")
        agents.append(AgentRef(name, url.rstrip("/")))
    return agents


def discover_agents(redis_url: str) -> list[AgentRef]:
    """The agents whose heartbeat in Redis has not expired, by name."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        agents = []
        for key in client.scan_iter(match=KEY_PREFIX + "*"):
            raw = client.get(key)
            if raw is None:  # expired meanwhile
                continue
            beat = Heartbeat.model_validate_json(raw)
            agents.append(AgentRef(beat.name, beat.url, beat.inventory))
        return sorted(agents, key=lambda a: a.name)
    finally:
        client.close()
