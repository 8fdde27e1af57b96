"""Prometheus metrics (``prometheus_client``): every process (backend, orchestrator, agent,
API wrapper) keeps its own registry and serves it as ``GET /metrics`` in the text
exposition format; ``docs/operations.md`` lists the names. Values that live elsewhere (a
database, a GPU) are read when the registry is scraped, by a ``ScrapedGauges`` collector."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.registry import Collector

# the text format every Prometheus version reads (``generate_latest`` writes it)
METRICS_CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
Labels = tuple[str, ...]


@dataclass(frozen=True)
class GaugeReading:
    """One gauge at scrape time: its samples by label values (in ``labels`` order)."""

    name: str
    help: str
    labels: Sequence[str]
    samples: Mapping[Labels, float]


class ScrapedGauges(Collector):
    """Gauges computed by ``read()`` on each scrape; a ``read`` that fails yields none
    (the scrape still answers, with the other collectors' series)."""

    def __init__(self, read: Callable[[], Iterable[GaugeReading]]) -> None:
        self.read = read

    def collect(self) -> Iterable[Metric]:
        try:
            readings = list(self.read())
        except Exception:  # a scrape must not fail because one source is down
            return []
        families = []
        for reading in readings:
            family = GaugeMetricFamily(reading.name, reading.help, labels=list(reading.labels))
            for values, value in sorted(reading.samples.items()):
                family.add_metric(list(values), value)
            families.append(family)
        return families


def new_registry(*collectors: Collector) -> CollectorRegistry:
    """A registry of its own (never the global one) holding ``collectors``."""
    registry = CollectorRegistry(auto_describe=False)
    for collector in collectors:
        registry.register(collector)
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    """The ``GET /metrics`` body (``METRICS_CONTENT_TYPE``)."""
    return generate_latest(registry)


def scraped(text: str) -> dict[str, float]:
    """Every sample of a ``/metrics`` body by ``name{label="value",...}`` (labels sorted;
    the bare name without labels): what a scraper reads."""
    from prometheus_client.parser import text_string_to_metric_families

    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            found[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return found
