"""The agents a worker can place stages on: the static list (``VLMHB_AGENTS``) or those
whose heartbeats are in Redis; one client per agent, reused."""

from __future__ import annotations

import threading

from vlmhb.agent.client import AgentClient, AgentError, AgentRef, discover_agents, parse_agents
from vlmhb.worker.placement import Seen
from vlmhb.worker.settings import WorkerSettings


class AgentDirectory:
    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings
        self.static = parse_agents(settings.agents)
        if not self.static and not settings.redis_url:
            raise ValueError("no agents: set VLMHB_AGENTS (name=url,...) or VLMHB_REDIS_URL")
        self.token = settings.read_token()
        self._clients: dict[str, AgentClient] = {}
        self._urls: dict[str, str] = {a.name: a.url for a in self.static}
        self._lock = threading.Lock()

    def agents(self) -> list[AgentRef]:
        if self.static:
            return self.static
        assert self.settings.redis_url is not None
        found = discover_agents(self.settings.redis_url)
        with self._lock:
            self._urls.update({a.name: a.url for a in found})
        return found

    def client(self, name: str) -> AgentClient:
        """The client of agent ``name`` (``KeyError`` if it was never seen). Its timeout
        stays well below the lease TTL, so one call never outlives a lease."""
        with self._lock:
            client = self._clients.get(name)
            if client is None:
                timeout = max(1.0, min(10.0, self.settings.lease_ttl_s / 3))
                client = AgentClient(self._urls[name], self.token, timeout_s=timeout, retries=1)
                self._clients[name] = client
            return client

    def survey(self) -> list[Seen]:
        """Every agent with its inventory (``None`` when it does not answer)."""
        seen = []
        for agent in self.agents():
            try:
                inventory = self.client(agent.name).inventory()
            except AgentError:
                inventory = None
            seen.append(Seen(agent, inventory))
        return seen

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()
