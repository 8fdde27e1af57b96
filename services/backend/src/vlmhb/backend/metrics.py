"""The backend's Prometheus metrics (``docs/operations.md``), counted in its database at
scrape time: experiments and stages by state, hosts by status, bootstrap jobs by status,
host events by kind; in the embedded mode the orchestrator's own metrics too."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from vlmhb.backend.db.engine import Database
from vlmhb.backend.db.models import Experiment, Host, HostEvent, HostJob, StageTaskRow
from vlmhb.backend.runner.base import EmbeddedRunner, Runner
from vlmhb.core.metrics import GaugeReading, Labels, ScrapedGauges, new_registry

COUNTED: tuple[tuple[str, str, Any, str], ...] = (
    ("vlmhb_backend_experiments", "Experiments by status.", Experiment.status, "status"),
    ("vlmhb_backend_stages", "Stage tasks by state.", StageTaskRow.state, "state"),
    ("vlmhb_backend_hosts", "Hosts by status (unavailable: not answering).", Host.status, "status"),
    ("vlmhb_backend_host_jobs", "Bootstrap jobs by status.", HostJob.status, "status"),
    ("vlmhb_backend_host_events", "Host and container events by kind.", HostEvent.kind, "kind"),
)


def backend_registry(db: Database, runner: Runner) -> CollectorRegistry:
    """The registry ``GET /api/v1/metrics`` serves."""

    def read() -> Iterable[GaugeReading]:
        readings = []
        with db.session() as session:
            for name, help_text, column, label in COUNTED:
                rows = session.execute(select(column, func.count()).group_by(column))
                samples: dict[Labels, float] = {(str(v),): float(n) for v, n in rows}
                readings.append(GaugeReading(name, help_text, (label,), samples))
        return readings

    collectors: list[Collector] = [ScrapedGauges(read)]
    if isinstance(runner, EmbeddedRunner):
        collectors += runner.local.metric_collectors()
    return new_registry(*collectors)
