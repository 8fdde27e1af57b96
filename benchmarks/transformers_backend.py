"""Throughput of the transformers backend: does request batching help?

Prepares the model env like a run does (``ProcessEnvManager``, pip, ``torch`` +
``transformers``; cache ``VLMHB_ENV_CACHE_DIR`` or ``~/.cache/vlmhb/envs``), builds the tiny
random LLaVA with that env's python, serves it on CPU with ``vlmhb-api serve --backend
transformers`` and sends the same kind of request (one 120x60 image, a question, greedy,
``max_tokens`` 32) through the real HTTP API:

- concurrency 1 (batching on, but only one request waits at a time),
- concurrency 8 with batching (``max_batch_size`` 8),
- concurrency 8 with batching off (``max_batch_size`` 1), the control;
- concurrency 1 with ``batch_wait_ms`` 0 (what the 5 ms collection window costs a lone
  client).

Each level: warm-up requests, then the best of 3 timed rounds of ``REQUESTS`` requests
(the machine is shared). Writes requests/s, the speed-up of concurrency 8 over 1 and the
batch sizes the server saw to benchmarks/results/transformers_backend.json.
Run: .venv/bin/python benchmarks/transformers_backend.py
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from PIL import Image, ImageDraw

from vlmhb.core.contracts import EnvSpec
from vlmhb.core.envs.process import ProcessEnvManager
from vlmhb.inference.backends.transformers_backend import ENV_PACKAGES
from vlmhb.inference.launcher import free_port

REQUESTS = 64
ROUNDS = 3
MAX_TOKENS = 32
RESULTS = Path(__file__).resolve().parent / "results" / "transformers_backend.json"
OFFLINE = {**os.environ, "HF_HUB_OFFLINE": "1"}


def image_url() -> str:
    image = Image.new("RGB", (120, 60), "white")
    ImageDraw.Draw(image).text((5, 20), "17.05.2024", fill="black")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def body(index: int, url: str) -> dict[str, Any]:
    return {
        "model": "tiny",
        "max_tokens": MAX_TOKENS,
        "temperature": 0,
        "messages": [
            {"role": "system", "content": "Answer with the field value only."},
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": url}},
                    {"type": "text", "text": f"Field {index}: the date?"},
                ],
            },
        ],
    }


async def round_rps(base: str, concurrency: int, count: int) -> tuple[float, int]:
    """Requests/s of ``count`` requests at ``concurrency``; also the completion tokens."""
    url = image_url()
    slots = asyncio.Semaphore(concurrency)
    tokens = 0
    async with httpx.AsyncClient(
        base_url=base, timeout=300, limits=httpx.Limits(max_connections=concurrency)
    ) as http:

        async def one(index: int) -> None:
            nonlocal tokens
            async with slots:
                response = await http.post("/v1/chat/completions", json=body(index, url))
            response.raise_for_status()
            tokens += int(response.json()["usage"]["completion_tokens"])

        start = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(count)))
        return count / (time.perf_counter() - start), tokens


def serve(
    python: str, model: Path, max_batch_size: int, wait_ms: float
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [
            python,
            "-m",
            "vlmhb.inference.cli",
            "serve",
            "--backend",
            "transformers",
            "--model",
            str(model),
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--param",
            f"max_batch_size={max_batch_size}",
            "--param",
            f"batch_wait_ms={wait_ms}",
        ],
        env=OFFLINE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    while True:
        if process.poll() is not None:
            sys.exit(f"server exited with {process.returncode}")
        try:
            if httpx.get(base + "/health", timeout=2).status_code == 200:
                return process, base
        except httpx.TransportError:
            pass
        time.sleep(0.1)


def measure(
    python: str, model: Path, max_batch_size: int, concurrency: int, wait_ms: float = 5.0
) -> dict[str, Any]:
    process, base = serve(python, model, max_batch_size, wait_ms)
    try:
        asyncio.run(round_rps(base, concurrency, 2 * concurrency))  # warm-up
        rounds = [asyncio.run(round_rps(base, concurrency, REQUESTS)) for _ in range(ROUNDS)]
        info = httpx.get(base + "/v1/models", timeout=10).json()["data"][0]["vlmhb"]
    finally:
        process.terminate()
        process.wait()
    best = max(rps for rps, _ in rounds)
    return {
        "concurrency": concurrency,
        "max_batch_size": max_batch_size,
        "batch_wait_ms": wait_ms,
        "requests_per_s": round(best, 2),
        "rounds_requests_per_s": [round(rps, 2) for rps, _ in rounds],
        "completion_tokens_per_request": rounds[0][1] / REQUESTS,
        "batch_sizes": info["batch_sizes"],
        "versions": {"torch": info.get("torch"), "transformers": info.get("transformers")},
    }


def main() -> None:
    cache = Path(os.environ.get("VLMHB_ENV_CACHE_DIR") or "~/.cache/vlmhb/envs").expanduser()
    prepared = ProcessEnvManager(cache).prepare(
        EnvSpec(installer="pip", packages=list(ENV_PACKAGES))
    )
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "tiny-llava"
        subprocess.run(
            [prepared.python, "-m", "vlmhb.inference.tiny_models", str(model)],
            check=True,
            env=OFFLINE,
            capture_output=True,
        )
        c1 = measure(prepared.python, model, 8, 1)
        c8 = measure(prepared.python, model, 8, 8)
        c8_off = measure(prepared.python, model, 1, 8)
        c1_no_wait = measure(prepared.python, model, 8, 1, wait_ms=0.0)
    figures = {
        "model": "tiny random LLaVA (vlmhb.inference.tiny_models), CPU, float32",
        "requests_per_level": REQUESTS,
        "max_tokens": MAX_TOKENS,
        "rounds": ROUNDS,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "concurrency_1": c1,
        "concurrency_8_batched": c8,
        "concurrency_8_unbatched": c8_off,
        "concurrency_1_no_batch_wait": c1_no_wait,
        "speedup_c8_over_c1": round(c8["requests_per_s"] / c1["requests_per_s"], 2),
        "speedup_batched_over_unbatched_c8": round(
            c8["requests_per_s"] / c8_off["requests_per_s"], 2
        ),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    print(
        json.dumps(
            {k: v for k, v in figures.items() if k.startswith(("speedup", "conc"))}, indent=2
        )
    )


if __name__ == "__main__":
    main()
