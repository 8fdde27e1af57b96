"""The orchestrator's Prometheus metrics (``docs/operations.md``): experiments it runs now
and has finished by outcome, and its resource slots. Served by ``vlmhb orchestrator`` and,
in the embedded mode, by the backend's ``/metrics``."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import Counter
from prometheus_client.registry import Collector

from vlmhb.core.metrics import GaugeReading, ScrapedGauges

FINISHED = "vlmhb_orchestrator_experiments_finished"


class OrchestratorMetrics:
    """Counters the runner updates, and gauges read from it at scrape time."""

    def __init__(self) -> None:
        self.finished = Counter(
            FINISHED, "Experiments that ended, by outcome.", ["outcome"], registry=None
        )
        for outcome in ("COMPLETED", "FAILED", "CANCELLED"):
            self.finished.labels(outcome)

    def ended(self, outcome: str) -> None:
        self.finished.labels(outcome).inc()

    def collectors(self, read_snapshot: Callable[[], dict[str, int]]) -> list[Collector]:
        """The counters and the gauges of ``read_snapshot()`` (``LocalRunner.snapshot``)."""

        def read() -> Iterable[GaugeReading]:
            snapshot = read_snapshot()
            running = snapshot.get("experiments_running", 0)
            slots: dict[tuple[str, ...], float] = {
                (k,): float(v) for k, v in snapshot.items() if k != "experiments_running"
            }
            return [
                GaugeReading(
                    "vlmhb_orchestrator_experiments_running",
                    "Experiments this orchestrator runs now.",
                    (),
                    {(): float(running)},
                ),
                GaugeReading(
                    "vlmhb_orchestrator_resources",
                    "Resource slots of the local executor (gpus, gpus_free, cpu_slots, "
                    "cpu_slots_free).",
                    ("resource",),
                    slots,
                ),
            ]

        return [self.finished, ScrapedGauges(read)]
