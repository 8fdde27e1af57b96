"""The objects one backend process shares: settings, DB, event hub, recorder, runner,
the mirror of results kept in storage, the hosts' bootstrap jobs and health monitor."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request
from prometheus_client import CollectorRegistry
from starlette.requests import HTTPConnection

from vlmhb.backend.db.engine import Database
from vlmhb.backend.events.hub import Hub
from vlmhb.backend.events.recorder import Recorder
from vlmhb.backend.hosts.health import HealthMonitor
from vlmhb.backend.hosts.jobs import HostJobs
from vlmhb.backend.results_mirror import ResultsMirror
from vlmhb.backend.runner.base import Runner
from vlmhb.backend.settings import BackendSettings


@dataclass
class Services:
    settings: BackendSettings
    db: Database
    hub: Hub
    recorder: Recorder
    runner: Runner
    bus_kind: str
    bus: Any
    mirror: ResultsMirror
    host_jobs: HostJobs
    health: HealthMonitor
    metrics: CollectorRegistry


def get_services(request: Request) -> Services:
    """FastAPI dependency: the process's ``Services``."""
    return services_of(request)


def services_of(conn: HTTPConnection) -> Services:
    services: Services = conn.app.state.services
    return services
