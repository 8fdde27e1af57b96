"""Client throughput: our load client vs a plain ``openai.AsyncOpenAI`` loop.

Both clients send the same streamed chat completions to a local zero-work
OpenAI-compatible server (a raw ASGI app under uvicorn, ``--workers`` processes, uvloop +
httptools), at the same concurrency, on the same event loop (uvloop when installed). The
server answers at once (4 content chunks, a usage chunk, ``[DONE]``), so requests/s
measures the client's own cost per request. Each client runs ``--rounds`` times
(alternating, after a warm-up); the best round counts. ``ratio = ours / openai``
(target >= 1.5). Writes ``benchmarks/results/client_throughput.json``.

Run: ``.venv/bin/python benchmarks/client_throughput.py [--requests 2000]
[--concurrency 32] [--workers 4]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from results_file import environment, write_results

from vlmhb.inference.launcher import free_port

RESULTS = Path(__file__).parent / "results" / "client_throughput.json"
CHUNKS = [f"tok{i} " for i in range(4)]


def _sse(payload: dict[str, Any] | str) -> bytes:
    data = payload if isinstance(payload, str) else json.dumps(payload)
    return f"data: {data}\n\n".encode()


STREAM_BODY = b"".join(
    [
        _sse(
            {
                "id": "c",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": "m",
                "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}],
            }
        )
        for text in CHUNKS
    ]
    + [
        _sse(
            {
                "id": "c",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": "m",
                "choices": [],
                "usage": {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9},
            }
        ),
        _sse("[DONE]"),
    ]
)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Zero-work ASGI server: every POST gets the same streamed completion."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    while (await receive()).get("more_body"):
        pass
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/event-stream")],
        }
    )
    await send({"type": "http.response.body", "body": STREAM_BODY})


def start_server(port: int, workers: int) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--app-dir",
        str(Path(__file__).parent),
        "client_throughput:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "--no-access-log",
        "--lifespan",
        "off",
    ]
    process = subprocess.Popen(command)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                time.sleep(1.0)  # let every worker come up
                return process
        time.sleep(0.1)
    process.kill()
    raise RuntimeError("zero-work server did not start")


async def ours(url: str, count: int, concurrency: int) -> tuple[float, int]:
    from vlmhb.core.contracts import GenerationParams, PreparedSample
    from vlmhb.inference.bench import LoadConfig, run_load
    from vlmhb.inference.client import InferenceClient

    samples = [PreparedSample(id=str(i), user_prompt="hello") for i in range(count)]
    generation = GenerationParams(max_tokens=16, stream=True, retries=0)
    async with InferenceClient(url, "m", generation, concurrency=concurrency) as client:
        await run_load(client, samples[: concurrency * 2], LoadConfig())  # warm-up
        load = await run_load(client, samples, LoadConfig())
    errors = sum(1 for r in load.results if r.error or r.completion_tokens != 4)
    return load.wall_s, errors


async def openai_loop(url: str, count: int, concurrency: int) -> tuple[float, int]:
    import openai

    client = openai.AsyncOpenAI(base_url=url, api_key="x", max_retries=0)
    semaphore = asyncio.Semaphore(concurrency)
    errors = 0

    async def one() -> None:
        nonlocal errors
        async with semaphore:
            try:
                stream = await client.chat.completions.create(
                    model="m",
                    messages=[{"role": "user", "content": "hello"}],
                    max_tokens=16,
                    stream=True,
                    stream_options={"include_usage": True},
                )
                first = None
                tokens = 0
                async for chunk in stream:
                    if chunk.choices and chunk.choices[0].delta.content and first is None:
                        first = time.perf_counter()
                    if chunk.usage:
                        tokens = chunk.usage.completion_tokens
                if tokens != 4:
                    errors += 1
            except openai.OpenAIError:
                errors += 1

    await asyncio.gather(*(one() for _ in range(concurrency * 2)))  # warm-up
    errors = 0
    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(count)))
    wall = time.perf_counter() - started
    await client.close()
    return wall, errors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    opts = parser.parse_args()
    from vlmhb.inference import loop

    port = free_port()
    url = f"http://127.0.0.1:{port}/v1"
    server = start_server(port, opts.workers)
    rounds: dict[str, list[dict[str, float]]] = {"ours": [], "openai": []}
    try:
        for _ in range(opts.rounds):
            for name, runner in (("ours", ours), ("openai", openai_loop)):
                wall, errors = loop.run(runner(url, opts.requests, opts.concurrency))
                rounds[name].append(
                    {
                        "wall_s": round(wall, 4),
                        "errors": errors,
                        "rps": round(opts.requests / wall, 1),
                    }
                )
                print(name, rounds[name][-1], flush=True)
    finally:
        server.terminate()
        server.wait(timeout=10)
    best = {name: max(r["rps"] for r in runs) for name, runs in rounds.items()}
    import openai

    report = {
        "requests": opts.requests,
        "concurrency": opts.concurrency,
        "stream": True,
        "server_workers": opts.workers,
        "rounds": rounds,
        "ours_rps": best["ours"],
        "openai_rps": best["openai"],
        "ratio": round(best["ours"] / best["openai"], 3),
        "target_ratio": 1.5,
        "errors": sum(r["errors"] for runs in rounds.values() for r in runs),
        "environment": environment(openai=openai.__version__),
    }
    write_results(RESULTS.stem, report)
    return 0 if report["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
