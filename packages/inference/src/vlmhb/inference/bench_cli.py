"""``vlmhb bench-serve``: load-test an OpenAI-compatible server with the benchmark client.

Sends ``--num-requests`` chat completions (a dataset's samples, cycled, or one prompt with
an optional image) at ``--concurrency`` with an optional ``--request-rate``, prints a Rich
table of the summary (``vlmhb.inference.summary``, statistics of ``vlmhb.core.speed``) and
writes it as JSON (``--output``).
Mounted by the core CLI from the ``vlmhb.cli`` entry point ``bench-serve``.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from vlmhb.core.contracts import DatasetSpec, GenerationParams, PreparedSample
from vlmhb.core.errors import VlmhbError
from vlmhb.core.registries import get_registries
from vlmhb.core.speed import STAT_COLUMNS, STATS, SloError, parse_slo
from vlmhb.inference import loop
from vlmhb.inference.bench import ARRIVALS, LoadConfig, LoadRun, read_peaks, run_load
from vlmhb.inference.client import InferenceClient
from vlmhb.inference.images import ImageError
from vlmhb.inference.summary import summarize

app = typer.Typer(help="Benchmark an OpenAI-compatible server (vLLM bench serve style).")
console = Console()


def load_samples(
    dataset: Path | None, format: str, prompt: str | None, image: Path | None, count: int
) -> list[PreparedSample]:
    """``count`` samples: the dataset's (cycled) or ``prompt`` (+ ``image``) repeated."""
    if count < 1:
        raise VlmhbError("--num-requests must be at least 1")
    if dataset is not None:
        reader = get_registries().datasets.get(format)()
        load = reader.read(DatasetSpec(name=dataset.name, format=format, path=dataset))
        base = [
            PreparedSample(**s.model_dump(), user_prompt=s.question or "Describe the document.")
            for s in load.samples
        ]
        if not base:
            raise VlmhbError(f"{dataset}: no usable samples ({len(load.problems)} problems)")
    elif prompt is not None:
        if image is not None and not image.is_file():
            raise VlmhbError(f"--image {image}: file not found")
        base = [PreparedSample(id="prompt", user_prompt=prompt, image_path=image)]
    else:
        raise VlmhbError("give --dataset PATH or --prompt TEXT")
    return [base[i % len(base)] for i in range(count)]


def build_bodies(client: InferenceClient, samples: list[PreparedSample]) -> list[bytes]:
    """One encoded request body per sample, built once per distinct sample before the clock."""
    cache: dict[int, bytes] = {}
    bodies = []
    for sample in samples:
        key = id(sample)
        if key not in cache:
            try:
                cache[key] = client.encoded(sample)
            except ImageError as exc:
                raise VlmhbError(f"sample {sample.id}: {exc}") from exc
        bodies.append(cache[key])
    return bodies


async def bench(
    base_url: str,
    model: str,
    samples: list[PreparedSample],
    generation: GenerationParams,
    concurrency: int,
    config: LoadConfig,
    adaptive: bool,
    api_key: str | None,
) -> LoadRun:
    """Run the load (ITL gaps kept for pooled statistics)."""
    async with InferenceClient(
        base_url,
        model,
        generation,
        concurrency=concurrency,
        api_key=api_key,
        adaptive=adaptive,
        keep_itl=True,
    ) as client:
        return await run_load(client, samples, config, bodies=build_bodies(client, samples))


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def summary_table(summary: dict[str, Any]) -> Table:
    """The summary as a two-column Rich table."""
    table = Table(title="bench-serve summary")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key in (
        "requests",
        "completed",
        "failed",
        "retried_requests",
        "duration_s",
        "total_input_tokens",
        "total_output_tokens",
        "request_throughput_rps",
        "output_throughput_tok_s",
        "goodput_rps",
        "goodput_fraction",
        "peak_rss_bytes",
        "peak_gpu_bytes",
        "lowest_concurrency",
    ):
        if key in summary:
            table.add_row(key, _fmt(summary[key]))
    for column in STAT_COLUMNS:
        for stat in STATS:
            table.add_row(f"{column} {stat}", _fmt(summary[f"{column}_{stat}"]))
    if summary.get("error_types"):
        table.add_row("error types", json.dumps(summary["error_types"]))
    return table


@app.callback(invoke_without_command=True)
def bench_serve(
    base_url: Annotated[str, typer.Option("--base-url", help="OpenAI base URL (…/v1).")],
    model: Annotated[str, typer.Option("--model", help="Model name sent in requests.")],
    dataset: Annotated[Path | None, typer.Option(help="Dataset folder.")] = None,
    format: Annotated[str, typer.Option("--format", help="Dataset format.")] = "vqa_csv",
    prompt: Annotated[str | None, typer.Option(help="Prompt text (no dataset).")] = None,
    image: Annotated[Path | None, typer.Option(help="Image sent with --prompt.")] = None,
    num_requests: Annotated[int, typer.Option("--num-requests")] = 100,
    concurrency: Annotated[int, typer.Option(help="Most requests in flight.")] = 8,
    request_rate: Annotated[
        float, typer.Option("--request-rate", help="Requests/s; inf sends all at once.")
    ] = math.inf,
    arrivals: Annotated[str, typer.Option(help=" | ".join(ARRIVALS))] = "poisson",
    seed: Annotated[int, typer.Option(help="Seed of Poisson arrivals.")] = 0,
    warmup: Annotated[int, typer.Option(help="Unrecorded requests sent first.")] = 0,
    slo: Annotated[str | None, typer.Option(help="e.g. ttft:500,tpot:50 (ms).")] = None,
    stream: Annotated[bool, typer.Option("--stream/--no-stream")] = True,
    max_tokens: Annotated[int, typer.Option("--max-tokens")] = 128,
    timeout_s: Annotated[float, typer.Option("--timeout", help="Seconds per request.")] = 120,
    retries: Annotated[int, typer.Option(help="Retries of transient failures.")] = 0,
    adaptive: Annotated[
        bool, typer.Option("--adaptive/--no-adaptive", help="AIMD concurrency on 429/5xx.")
    ] = False,
    api_key_env: Annotated[str | None, typer.Option(help="Env var holding the key.")] = None,
    output: Annotated[Path | None, typer.Option(help="Write the summary JSON here.")] = None,
) -> None:
    """Load-test an OpenAI-compatible server; print and save the timing summary."""
    try:
        slo_ms = parse_slo(slo)
        config = LoadConfig(request_rate=request_rate, arrivals=arrivals, seed=seed, warmup=warmup)
        samples = load_samples(dataset, format, prompt, image, num_requests)
    except (SloError, ValueError, VlmhbError) as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    api_key = os.environ.get(api_key_env) if api_key_env else None
    generation = GenerationParams(
        max_tokens=max_tokens, stream=stream, timeout_s=timeout_s, retries=retries
    )
    load = loop.run(
        bench(base_url, model, samples, generation, concurrency, config, adaptive, api_key)
    )
    peaks = read_peaks(base_url, api_key)
    summary = summarize(load.results, load.wall_s, slo_ms, peaks.rss_bytes, peaks.gpu_bytes)
    summary |= {
        "lowest_concurrency": load.lowest_concurrency,
        "config": {
            "base_url": base_url,
            "model": model,
            "num_requests": num_requests,
            "concurrency": concurrency,
            "request_rate": request_rate,
            "arrivals": arrivals,
            "seed": seed,
            "warmup": warmup,
            "stream": stream,
            "max_tokens": max_tokens,
            "adaptive": adaptive,
            "dataset": str(dataset) if dataset else None,
            "prompt": prompt,
            "image": str(image) if image else None,
        },
    }
    console.print(summary_table(summary))
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(json_ready(summary), indent=2) + "\n", encoding="utf-8")
        console.print(f"summary written to {output}")


def json_ready(value: Any) -> Any:
    """``value`` with NaN as null and infinities as ``"inf"`` (strict JSON)."""
    if isinstance(value, float):
        return None if math.isnan(value) else ("inf" if math.isinf(value) else value)
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    return value
