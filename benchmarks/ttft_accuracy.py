"""TTFT / TPOT accuracy: the load client's timings against known injected delays.

A local OpenAI-compatible ASGI server (uvicorn, plain asyncio loop for sub-millisecond
timers) streams ``--tokens`` content chunks per request: the first ``--ttft-ms`` after
the request arrived, then one every ``--itl-ms`` (deadline-scheduled from the arrival, so
timer overshoots do not add up), and reports ``usage.completion_tokens = --tokens``. The
client (``vlmhb.inference`` load client, uvloop) sends ``--requests`` streamed requests
at ``--concurrency``. Injected: TTFT = ttft, TPOT = ITL = itl. Reported: measured
p50/p99 and their differences from the injected values (target |Δ| <= 1 ms), and the
delays the server actually produced (its own clock: arrival → first chunk written, and
first → last chunk / (tokens − 1)), which separates timer overshoot on the server from
the client's measurement error; and, per request, the client's TTFT minus the one the
server reports in its usage chunk (``vlmhb_timings.server_ttft_ms``, as the API wrapper
does; the client stamps a chunk when its first byte arrives). Writes
``benchmarks/results/ttft_accuracy.json``.

Run: ``.venv/bin/python benchmarks/ttft_accuracy.py [--requests 400] [--concurrency 16]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from results_file import environment, write_results

from vlmhb.inference.launcher import free_port

RESULTS = Path(__file__).parent / "results" / "ttft_accuracy.json"
TTFT_S = float(os.environ.get("VLMHB_BENCH_TTFT_MS", "100")) / 1000
ITL_S = float(os.environ.get("VLMHB_BENCH_ITL_MS", "20")) / 1000
TOKENS = int(os.environ.get("VLMHB_BENCH_TOKENS", "10"))
SERVER_LOG = os.environ.get("VLMHB_BENCH_SERVER_LOG")  # server-side actual delays (ms)


def _sse(payload: dict[str, Any] | str) -> bytes:
    data = payload if isinstance(payload, str) else json.dumps(payload)
    return f"data: {data}\n\n".encode()


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Streams TOKENS chunks at arrival + TTFT_S + k * ITL_S."""
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    arrived = time.perf_counter()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/event-stream")],
        }
    )
    sent: list[float] = []
    for index in range(TOKENS):
        delay = arrived + TTFT_S + index * ITL_S - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        sent.append(time.perf_counter())
        chunk = {"choices": [{"index": 0, "delta": {"content": f"t{index} "}}]}
        body = _sse(chunk)
        if index == TOKENS - 1:
            body += _sse(
                {
                    "choices": [],
                    "usage": {"prompt_tokens": 5, "completion_tokens": TOKENS},
                    # what the API wrapper reports: its own TTFT, for a per-request delta
                    "vlmhb_timings": {"server_ttft_ms": round((sent[0] - arrived) * 1000, 3)},
                }
            )
            body += _sse("[DONE]")
        await send({"type": "http.response.body", "body": body, "more_body": index < TOKENS - 1})
    if SERVER_LOG:
        ttft_ms = (sent[0] - arrived) * 1000
        tpot_ms = (sent[-1] - sent[0]) * 1000 / max(TOKENS - 1, 1)
        with open(SERVER_LOG, "a", encoding="utf-8") as handle:
            handle.write(f"{ttft_ms:.4f} {tpot_ms:.4f}\n")


def start_server(port: int, log: Path) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--app-dir",
        str(Path(__file__).parent),
        "ttft_accuracy:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--loop",
        "asyncio",
        "--log-level",
        "warning",
        "--no-access-log",
        "--lifespan",
        "off",
    ]
    process = subprocess.Popen(command, env=os.environ | {"VLMHB_BENCH_SERVER_LOG": str(log)})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return process
        time.sleep(0.1)
    process.kill()
    raise RuntimeError("delay server did not start")


async def measure(url: str, count: int, concurrency: int) -> Any:
    from vlmhb.core.contracts import GenerationParams, PreparedSample
    from vlmhb.inference.bench import LoadConfig, run_load
    from vlmhb.inference.client import InferenceClient

    samples = [PreparedSample(id=str(i), user_prompt="hello") for i in range(count)]
    generation = GenerationParams(max_tokens=TOKENS, stream=True, retries=0)
    async with InferenceClient(
        url, "m", generation, concurrency=concurrency, keep_itl=True
    ) as client:
        return await run_load(client, samples, LoadConfig(warmup=concurrency))


def per_request_delta(results: list[Any]) -> dict[str, float]:
    """Client TTFT minus the server's own (``vlmhb_timings``) of each request: p50/p99."""
    from vlmhb.core.speed import percentile

    deltas = [
        r.ttft_ms - r.server_ttft_ms
        for r in results
        if r.ttft_ms is not None and r.server_ttft_ms is not None
    ]
    if not deltas:
        return {}
    return {
        "requests": len(deltas),
        "p50": round(percentile(deltas, 50), 3),
        "p90": round(percentile(deltas, 90), 3),
        "p99": round(percentile(deltas, 99), 3),
        "max": round(max(deltas), 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=16)
    opts = parser.parse_args()
    from vlmhb.core.speed import STATS, percentile
    from vlmhb.inference import loop
    from vlmhb.inference.summary import summarize

    port = free_port()
    log = Path(tempfile.mkdtemp()) / "server_delays.txt"
    server = start_server(port, log)
    try:
        load = loop.run(measure(f"http://127.0.0.1:{port}/v1", opts.requests, opts.concurrency))
    finally:
        server.terminate()
        server.wait(timeout=10)
    summary = summarize(load.results, load.wall_s)
    pairs = [line.split() for line in log.read_text(encoding="utf-8").splitlines()]
    pairs = pairs[opts.concurrency :]  # the warm-up requests come first
    server_ttft = [float(p[0]) for p in pairs]
    server_tpot = [float(p[1]) for p in pairs]
    server_side = {
        name: {"p50": round(percentile(values, 50), 3), "p99": round(percentile(values, 99), 3)}
        for name, values in (("ttft_ms", server_ttft), ("tpot_ms", server_tpot))
    }
    injected = {"ttft_ms": TTFT_S * 1000, "tpot_ms": ITL_S * 1000, "itl_ms": ITL_S * 1000}
    measured: dict[str, dict[str, float]] = {}
    for column, target in injected.items():
        measured[column] = {}
        for stat in STATS:
            value = summary[f"{column}_{stat}"]
            measured[column][stat] = round(value, 3)
            measured[column][f"{stat}_delta"] = round(value - target, 3)
    worst = max(
        abs(measured[c][f"{s}_delta"]) for c in ("ttft_ms", "tpot_ms") for s in ("p50", "p99")
    )
    report = {
        "requests": opts.requests,
        "concurrency": opts.concurrency,
        "tokens": TOKENS,
        "injected": injected,
        "measured": measured,
        "server_actual": server_side,
        "client_minus_server_actual_ms": {
            column: {
                stat: round(measured[column][stat] - server_side[column][stat], 3)
                for stat in ("p50", "p99")
            }
            for column in ("ttft_ms", "tpot_ms")
        },
        "client_minus_server_per_request_ttft_ms": per_request_delta(load.results),
        "completion_tokens_from_usage": sorted({r.completion_tokens for r in load.results}),
        "errors": summary["failed"],
        "worst_abs_delta_ms_p50_p99": round(worst, 3),
        "target_abs_delta_ms": 1.0,
        "within_target": worst <= 1.0,
        "environment": environment(),
    }
    write_results(RESULTS.stem, report)
    return 0 if report["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
