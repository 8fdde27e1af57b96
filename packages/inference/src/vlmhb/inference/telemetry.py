"""Request counters and process memory of the API wrapper, as Prometheus text."""

from __future__ import annotations

from dataclasses import dataclass, field

import psutil


@dataclass
class Telemetry:
    """Counters updated by the server; ``render`` gives the ``GET /metrics`` body."""

    requests: int = 0
    errors: int = 0
    in_flight: int = 0
    duration_s_sum: float = 0.0
    peak_rss: int = 0
    _process: psutil.Process = field(default_factory=psutil.Process, repr=False)

    def sample_memory(self) -> int:
        """Current RSS in bytes; keeps the peak seen."""
        rss = int(self._process.memory_info().rss)
        self.peak_rss = max(self.peak_rss, rss)
        return rss

    def started(self) -> None:
        self.requests += 1
        self.in_flight += 1

    def finished(self, duration_s: float, error: bool) -> None:
        self.in_flight -= 1
        self.duration_s_sum += duration_s
        if error:
            self.errors += 1
        if self.requests % 64 == 1:
            self.sample_memory()

    def render(self) -> str:
        rss = self.sample_memory()
        lines = [
            ("vlmhb_requests_total", "counter", "Chat completion requests received.",
             self.requests),
            ("vlmhb_request_errors_total", "counter", "Chat completion requests that failed.",
             self.errors),
            ("vlmhb_requests_in_flight", "gauge", "Requests being served now.", self.in_flight),
            ("vlmhb_request_duration_seconds_sum", "counter",
             "Total time spent serving finished requests.", round(self.duration_s_sum, 6)),
            ("vlmhb_process_rss_bytes", "gauge", "Resident memory of the server now.", rss),
            ("vlmhb_process_peak_rss_bytes", "gauge",
             "Highest resident memory sampled (every 64 requests and on scrape).",
             self.peak_rss),
        ]
        out = []
        for name, kind, help_text, value in lines:
            out += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", f"{name} {value}"]
        return "\n".join(out) + "\n"
