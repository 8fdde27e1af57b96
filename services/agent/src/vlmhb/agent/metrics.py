"""The agent's Prometheus metrics (``docs/operations.md``), read from its state at scrape
time: stages running, GPUs declared and free, each GPU's memory, temperature and
utilisation (where NVML gives them), the cache disk's free bytes."""

from __future__ import annotations

from collections.abc import Iterable

from vlmhb.agent.state import AgentState
from vlmhb.core.metrics import GaugeReading, ScrapedGauges

MB = 2**20


def agent_gauges(state: AgentState) -> ScrapedGauges:
    def read() -> Iterable[GaugeReading]:
        inventory = state.inventory()
        agent = state.settings.name
        gpus = inventory.gpus

        def per_gpu(values: dict[str, float | None]) -> dict[tuple[str, ...], float]:
            return {(agent, gpu): value for gpu, value in values.items() if value is not None}

        return [
            GaugeReading(
                "vlmhb_agent_info",
                "This agent (value 1) with its version.",
                ("agent", "version"),
                {(agent, state.version): 1.0},
            ),
            GaugeReading(
                "vlmhb_agent_stages_running",
                "Stages this agent runs now.",
                ("agent",),
                {(agent,): float(len(inventory.running))},
            ),
            GaugeReading(
                "vlmhb_agent_gpus",
                "GPUs declared to this agent, and how many are free.",
                ("agent", "state"),
                {
                    (agent, "declared"): float(len(gpus)),
                    (agent, "free"): float(len(inventory.gpus_free)),
                },
            ),
            GaugeReading(
                "vlmhb_agent_disk_free_bytes",
                "Free bytes on the disk of the agent's cache folder.",
                ("agent",),
                {(agent,): float(inventory.disk_free_bytes)},
            ),
            GaugeReading(
                "vlmhb_agent_gpu_memory_used_bytes",
                "GPU memory in use (NVML).",
                ("agent", "gpu"),
                per_gpu({g.id: _bytes(g.memory_used_mb) for g in gpus}),
            ),
            GaugeReading(
                "vlmhb_agent_gpu_memory_total_bytes",
                "GPU memory in all (NVML).",
                ("agent", "gpu"),
                per_gpu({g.id: _bytes(g.memory_total_mb) for g in gpus}),
            ),
            GaugeReading(
                "vlmhb_agent_gpu_temperature_celsius",
                "GPU core temperature (NVML, where the GPU reports it).",
                ("agent", "gpu"),
                per_gpu({g.id: g.temperature_c for g in gpus}),
            ),
            GaugeReading(
                "vlmhb_agent_gpu_utilization_ratio",
                "GPU busy time over NVML's last sample period (0..1).",
                ("agent", "gpu"),
                per_gpu(
                    {
                        g.id: None if g.utilization_pct is None else g.utilization_pct / 100
                        for g in gpus
                    }
                ),
            ),
        ]

    return ScrapedGauges(read)


def _bytes(mb: int | None) -> float | None:
    return None if mb is None else float(mb * MB)
