"""The health monitor: every ``VLMHB_HEALTH_INTERVAL_S`` each host's agent is asked for its
inventory and containers. A check is kept as history (``host_checks``); a host whose agent
does not answer is ``unavailable`` (workers place no stage on an agent that does not
answer); a stage container is recorded when it shows up and whenever its state, restarts,
exit code or OOM kill change. Every transition is a ``host_events`` row."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from vlmhb.agent.client import AgentClient, AgentError, discover_agents
from vlmhb.agent.settings import read_token
from vlmhb.agent.wire import ContainerInfo, Inventory
from vlmhb.backend.db.engine import Database
from vlmhb.backend.db.models import ContainerCheck, Host, HostCheck
from vlmhb.backend.hosts import store
from vlmhb.backend.settings import BackendSettings
from vlmhb.containers.docker_env.labels import TASK

log = logging.getLogger("vlmhb.backend.health")


class HealthMonitor:
    def __init__(self, db: Database, settings: BackendSettings) -> None:
        self.db = db
        self.settings = settings
        self.timeout_s = max(0.5, min(5.0, settings.health_interval_s / 2))

    async def run_forever(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self.check_all)
            except Exception:  # the monitor keeps going; the next round retries
                log.exception("health check round failed")
            await asyncio.sleep(self.settings.health_interval_s)

    def check_all(self) -> None:
        """One round: agents seen in Redis are added as hosts, then every host with an
        agent is checked."""
        token = self._token()
        if token is None:
            return
        self._discover()
        with self.db.session() as session:
            hosts = [
                (h.id, h.agent_url)
                for h in session.scalars(select(Host).where(Host.agent_url.is_not(None)))
            ]
        for host_id, url in hosts:
            assert url is not None
            self._check(host_id, url, token)

    def _token(self) -> str | None:
        path = self.settings.agent_token_file
        if path is None:
            return None
        try:
            return read_token(path)
        except (OSError, ValueError) as exc:
            log.warning("cannot read the agents' token (%s): no health checks", exc)
            return None

    def _discover(self) -> None:
        if not self.settings.redis_url:
            return
        try:
            agents = discover_agents(self.settings.redis_url)
        except Exception as exc:  # Redis down: the registered hosts are still checked
            log.warning("cannot read agent heartbeats: %s", exc)
            return
        with self.db.session() as session:
            for agent in agents:
                if store.find(session, agent.name) is None:
                    address = urlsplit(agent.url).hostname or agent.url
                    session.add(
                        Host(
                            name=agent.name,
                            address=address,
                            connection="agent",
                            agent_name=agent.name,
                            agent_url=agent.url,
                            status="new",
                            created_at=store.now(),
                            updated_at=store.now(),
                        )
                    )

    def _check(self, host_id: int, url: str, token: str) -> None:
        checked_at = store.now()  # when the agent was asked, not when its answer was stored
        started = time.monotonic()
        inventory: Inventory | None = None
        containers: list[ContainerInfo] = []
        message = ""
        with AgentClient(url, token, timeout_s=self.timeout_s, retries=0) as client:
            try:
                inventory = client.inventory()
                containers = client.containers()
            except AgentError as exc:
                message = str(exc)
        latency = (time.monotonic() - started) * 1000
        with self.db.session() as session:
            host = session.get(Host, host_id)
            if host is None:
                return
            self._record(session, host, checked_at, inventory, containers, latency, message)
            store.trim_checks(session, host.id, self.settings.health_kept)

    def _record(
        self,
        session: Session,
        host: Host,
        checked_at: datetime,
        inventory: Inventory | None,
        containers: list[ContainerInfo],
        latency_ms: float,
        message: str,
    ) -> None:
        ok = inventory is not None
        session.add(
            HostCheck(
                host_id=host.id,
                checked_at=checked_at,
                status="ok" if ok else "unavailable",
                latency_ms=round(latency_ms, 2) if ok else None,
                disk_free_bytes=inventory.disk_free_bytes if inventory else None,
                gpus=[g.model_dump(mode="json") for g in inventory.gpus] if inventory else [],
                running=len(inventory.running) if inventory else 0,
                message=message,
            )
        )
        was = host.status
        if ok:
            host.status, host.status_message, host.last_seen_at = "available", "", store.now()
            if was != "available":
                store.add_event(
                    session, host.name, "host_available", f"{host.name}'s agent answers"
                )
        elif was != "unavailable":
            host.status, host.status_message = "unavailable", message
            store.add_event(
                session,
                host.name,
                "host_unavailable",
                f"{host.name}'s agent does not answer: {message}",
            )
        host.updated_at = store.now()
        for container in containers:
            self._container(session, host, container)

    def _container(self, session: Session, host: Host, info: ContainerInfo) -> None:
        last = session.scalar(
            select(ContainerCheck)
            .where(ContainerCheck.host_id == host.id, ContainerCheck.container_id == info.id)
            .order_by(ContainerCheck.id.desc())
            .limit(1)
        )
        now = (info.state, info.restarts, info.exit_code, info.oom_killed)
        if last is not None and (last.state, last.restarts, last.exit_code, last.oom_killed) == now:
            return
        session.add(
            ContainerCheck(
                host_id=host.id,
                checked_at=store.now(),
                container_id=info.id,
                name=info.name,
                task_id=info.labels.get(TASK),
                state=info.state,
                restarts=info.restarts,
                exit_code=info.exit_code,
                oom_killed=info.oom_killed,
            )
        )
        if info.oom_killed:
            store.add_event(
                session, host.name, "container_oom_killed", f"{info.name} was killed: out of memory"
            )
        elif info.state == "exited" and info.exit_code not in (None, 0):
            store.add_event(
                session,
                host.name,
                "container_failed",
                f"{info.name} exited with code {info.exit_code}",
            )
