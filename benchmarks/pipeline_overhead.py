"""Pipeline overhead: how close the client + API wrapper get to an ideal server.

2,000 samples go through the real client and a real ``vlmhb-api serve`` subprocess over
the scripted backend with a fixed 20 ms latency (streaming), at concurrency 32; both
sides run on uvloop (client: ``vlmhb.inference.loop``, server: uvicorn's auto choice). An ideal
pipeline needs ``N * L / C`` seconds; ``ratio = wall / ideal`` (target <= 1.05). The
server start is timed separately and not part of ``wall``; a warm-up of ``C`` requests
runs first. Writes ``benchmarks/results/pipeline_overhead.json``.

Run: ``.venv/bin/python benchmarks/pipeline_overhead.py [--samples N] [--concurrency C]``
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from results_file import environment, write_results

from vlmhb.core.contracts import GenerationParams, ModelSpec, PreparedSample
from vlmhb.inference import loop
from vlmhb.inference.client import InferenceClient, RequestResult
from vlmhb.inference.launcher import ServerProcess

RESULTS = Path(__file__).parent / "results" / "pipeline_overhead.json"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def send_all(
    url: str, samples: list[PreparedSample], concurrency: int
) -> tuple[list[RequestResult], float]:
    generation = GenerationParams(max_tokens=16, stream=True, retries=0)
    async with InferenceClient(url, "scripted", generation, concurrency=concurrency) as client:
        await asyncio.gather(*(client.infer(s) for s in samples[:concurrency]))  # warm-up
        started = time.perf_counter()
        results = await asyncio.gather(*(client.infer(s) for s in samples))
        return list(results), time.perf_counter() - started


def main() -> int:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--samples", type=int, default=2000)
    args.add_argument("--concurrency", type=int, default=32)
    args.add_argument("--latency-ms", type=float, default=20.0)
    opts = args.parse_args()
    spec = ModelSpec(
        name="scripted",
        backend="scripted",
        concurrency=opts.concurrency,
        params={"rule": "constant:Иванов", "latency_ms": opts.latency_ms},
    )
    samples = [PreparedSample(id=str(i), user_prompt=f"Фамилия? {i}") for i in range(opts.samples)]
    with tempfile.TemporaryDirectory() as run_dir:
        start = time.perf_counter()
        with ServerProcess(spec, Path(run_dir)) as server:
            server_start_s = time.perf_counter() - start
            results, wall_s = loop.run(send_all(server.url + "/v1", samples, opts.concurrency))
    ideal_s = opts.samples * opts.latency_ms / 1000 / opts.concurrency
    latencies = [r.latency_ms for r in results if r.latency_ms is not None]
    ttfts = [r.ttft_ms for r in results if r.ttft_ms is not None]
    report = {
        "samples": opts.samples,
        "concurrency": opts.concurrency,
        "backend_latency_ms": opts.latency_ms,
        "stream": True,
        "errors": sum(1 for r in results if r.error),
        "wall_s": round(wall_s, 4),
        "ideal_s": round(ideal_s, 4),
        "ratio": round(wall_s / ideal_s, 4),
        "target_ratio": 1.05,
        "throughput_rps": round(opts.samples / wall_s, 1),
        "ideal_throughput_rps": round(opts.samples / ideal_s, 1),
        "server_start_s": round(server_start_s, 3),
        "latency_ms_mean": round(statistics.fmean(latencies), 3),
        "latency_ms_p50": percentile(latencies, 0.5),
        "latency_ms_p99": percentile(latencies, 0.99),
        "ttft_ms_mean": round(statistics.fmean(ttfts), 3),
        "queue_ms_mean": round(statistics.fmean(r.queue_ms for r in results), 3),
        "environment": environment(),
    }
    write_results(RESULTS.stem, report)
    return 0 if report["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
