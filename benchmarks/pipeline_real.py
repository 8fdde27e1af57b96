"""The real pipeline's speed on document pages, three ways side by side.

The experiment: synthetic passports, invoices and SNILS cards (``vlmhb datasets synth
--n 100 --seed 3``: 300 JPEG pages of 1000×920, 2,600 field questions, generated here),
each question sent with its whole page to the ``scripted`` oracle behind the API wrapper
(20 ms latency, 5 ms TTFT, streamed), at concurrency C; metrics cer, wer, anls,
exact_match. Measured in one run:

- (a) ``vlmhb run``: the whole run's wall, the inference stage's active time (first
  request to last answer, ``inference_stats.json``), each stage's duration (its
  completion marker) and CPU seconds (the stage and orchestrator processes vs the model
  server, sampled from the process tree; the exact total from ``RUSAGE_CHILDREN``);
- (b) what a user would write instead: ``AsyncOpenAI`` + ``asyncio.Semaphore(C)`` sending
  the same prepared requests (built before the clock starts) to the same server;
- (c) the ideal ``N · L / C``.

Ratios: ``throughput_vs_openai_loop`` = (b)'s wall / (a)'s inference active time (≥ 1:
the pipeline is at least as fast as the hand-written loop), ``inference_vs_ideal`` and
``run_vs_ideal``; the fixed costs of a run (stage starts, server start, evaluation,
reports) are listed, each measured. The curve repeats (a) and (b) for C = 1, 4, 16, 64
(below C=16, N capped at 160·C so each point takes seconds). Writes
``benchmarks/results/pipeline_real.json``.

Run: ``.venv/bin/python benchmarks/pipeline_real.py [--concurrency 1,4,16,64]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
import yaml
from openai import AsyncOpenAI
from results_file import environment, write_results

from vlmhb.core.config.loader import load_experiment
from vlmhb.core.orchestration.graph import plan_experiment
from vlmhb.core.prepare import prepare_samples
from vlmhb.core.rundir import RunDir
from vlmhb.data.synth import generate_dataset
from vlmhb.inference.client import InferenceClient
from vlmhb.inference.launcher import free_port

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
LATENCY_MS, TTFT_MS = 20.0, 5.0
DOCS_PER_KIND, SEED = 100, 3
PROMPTS = ROOT / "examples" / "quickstart" / "prompts" / "fields.json"
SERVER_MARKS = ("vlmhb-api", "vlmhb.inference.cli")


def subset(dataset: Path, rows: int) -> Path:
    """The dataset's first ``rows`` questions (same ids and images) in a folder of its own."""
    if rows >= len((dataset / "annotation.csv").read_text(encoding="utf-8").splitlines()) - 1:
        return dataset
    folder = dataset.with_name(f"{dataset.name}-{rows}")
    folder.mkdir(exist_ok=True)
    lines = (dataset / "annotation.csv").read_text(encoding="utf-8").splitlines()
    (folder / "annotation.csv").write_text("\n".join(lines[: rows + 1]) + "\n", encoding="utf-8")
    if not (folder / "images").exists():  # hard links: inside the folder, no copies
        shutil.copytree(dataset / "images", folder / "images", copy_function=os.link)
    return folder


def experiment(folder: Path, full: Path, concurrency: int, rows: int) -> Path:
    """The experiment file of one curve point (its own output folder)."""
    dataset = subset(full, rows)
    spec = {
        "name": f"real-c{concurrency}",
        "output_dir": str(folder / f"runs-c{concurrency}"),
        "models": [
            {
                "name": "oracle",
                "backend": "scripted",
                "params": {
                    "answers_file": str(full / "annotation.csv"),
                    "answer_column": "answer",
                    "latency_ms": LATENCY_MS,
                    "ttft_ms": TTFT_MS,
                },
                "concurrency": concurrency,
            }
        ],
        "datasets": [{"name": "docs", "format": "vqa_csv", "path": str(dataset)}],
        "tasks": [
            {
                "name": "fields",
                "dataset": "docs",
                "kind": "vqa",
                "prompts": [str(PROMPTS)],
                "metrics": ["cer", "wer", "anls", "exact_match"],
            }
        ],
        "generation": {"max_tokens": 64, "temperature": 0, "stream": True},
    }
    path = folder / f"experiment-c{concurrency}.yaml"
    path.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    return path


class TreeCpu:
    """CPU seconds of a process tree, split into the model server and the rest, sampled
    every 0.2 s (the last sample of each process counts)."""

    def __init__(self, root_pid: int) -> None:
        self.root = psutil.Process(root_pid)
        self.last: dict[int, tuple[bool, float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            try:
                for proc in self.root.children(recursive=True):
                    try:
                        times = proc.cpu_times()
                        server = any(m in " ".join(proc.cmdline()) for m in SERVER_MARKS)
                    except psutil.Error:
                        continue
                    self.last[proc.pid] = (server, times.user + times.system)
            except psutil.Error:
                pass
            self._stop.wait(0.2)

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join()
        server = sum(cpu for is_server, cpu in self.last.values() if is_server)
        other = sum(cpu for is_server, cpu in self.last.values() if not is_server)
        return {"server_cpu_s": round(server, 2), "stages_cpu_s": round(other, 2)}


def vlmhb_run(config: Path) -> dict[str, Any]:
    """(a): ``vlmhb run`` in a subprocess, with its figures from the run folder."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    process = subprocess.Popen(
        [str(VENV_BIN / "vlmhb"), "run", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    tree = TreeCpu(process.pid)
    _, stderr = process.communicate()
    wall = time.perf_counter() - started
    cpu = tree.stop()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if process.returncode != 0:
        raise RuntimeError(f"vlmhb run failed:\n{stderr.decode()[-2000:]}")
    spec = load_experiment(config)
    graph = plan_experiment(spec)
    run_dir = RunDir(graph.run_dir(graph.runs[0]))
    stats = json.loads(run_dir.stats_path.read_text(encoding="utf-8"))
    stages: dict[str, float] = {}
    for task in graph:
        marker = json.loads(RunDir(task.run_dir).marker_path(task.stage.value).read_text())
        stages[task.stage.value] = round(float(marker["duration_s"]), 3)
    total_cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return {
        "wall_s": round(wall, 3),
        "inference_active_s": round(float(stats["active_s"]), 3),
        "stage_durations_s": stages,
        "requests": stats["requests"],
        "errors": sum(s.get("errors") or 0 for s in stats["sessions"]),
        "total_cpu_s": round(total_cpu, 2),
        **cpu,
    }


def prepared_bodies(config: Path) -> list[dict[str, Any]]:
    """The request bodies (b) sends: the pipeline's own, built before the clock starts."""
    graph = plan_experiment(load_experiment(config))
    samples = prepare_samples(graph.runs[0]).samples
    client = InferenceClient("http://127.0.0.1:1/v1", "oracle", graph.runs[0].generation)
    return [client.payload(sample) for sample in samples]


def start_server(dataset: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    params = {
        "answers_file": str(dataset / "annotation.csv"),
        "answer_column": "answer",
        "latency_ms": LATENCY_MS,
        "ttft_ms": TTFT_MS,
    }
    command = [str(VENV_BIN / "vlmhb-api"), "serve", "--backend", "scripted"]
    command += ["--port", str(port), "--log-level", "warning"]
    for key, value in params.items():
        command += ["--param", f"{key}={json.dumps(value)}"]
    server = subprocess.Popen(command)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return server, f"{url}/v1"
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    server.kill()
    raise RuntimeError("the API wrapper did not start")


async def openai_loop(url: str, bodies: list[dict[str, Any]], concurrency: int) -> float:
    """(b): the hand-written loop; its wall seconds."""
    client = AsyncOpenAI(base_url=url, api_key="none", max_retries=0)
    gate = asyncio.Semaphore(concurrency)
    answers: list[str] = []

    async def one(body: dict[str, Any]) -> None:
        async with gate:
            stream = await client.chat.completions.create(**body)
            parts = []
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    parts.append(chunk.choices[0].delta.content)
            answers.append("".join(parts))

    await asyncio.gather(*(one(b) for b in bodies[:concurrency]))  # warm-up
    answers.clear()
    started = time.perf_counter()
    await asyncio.gather(*(one(b) for b in bodies))
    wall = time.perf_counter() - started
    await client.close()
    assert len(answers) == len(bodies) and all(answers)
    return wall


def hand_written(url: str, server_pid: int, bodies: list[dict[str, Any]], c: int) -> dict[str, Any]:
    server = psutil.Process(server_pid)
    server_before = sum(server.cpu_times()[:2])
    client_before = time.process_time()
    wall = asyncio.run(openai_loop(url, bodies, c))
    return {
        "wall_s": round(wall, 3),
        "client_cpu_s": round(time.process_time() - client_before, 2),
        "server_cpu_s": round(sum(server.cpu_times()[:2]) - server_before, 2),
    }


def cap(concurrency: int) -> int:
    """Questions of a curve point: all of them from c=16 on, 160 per slot below (so the
    c=1 point takes seconds, not a minute)."""
    return 10**9 if concurrency >= 16 else 160 * concurrency


def point(folder: Path, dataset: Path, url: str, server_pid: int, c: int, n: int) -> dict[str, Any]:
    config = experiment(folder, dataset, c, n)
    bodies = prepared_bodies(config)
    ideal = len(bodies) * LATENCY_MS / 1000 / c
    ours = vlmhb_run(config)
    theirs = hand_written(url, server_pid, bodies, c)
    stages = ours["stage_durations_s"]
    fixed = {
        "inference_stage_outside_requests_s": round(
            stages["inference"] - ours["inference_active_s"], 3
        ),
        "evaluation_s": stages["evaluation"],
        "report_s": stages["report"],
        "experiment_report_s": stages["experiment_report"],
        "orchestration_s": round(ours["wall_s"] - sum(stages.values()), 3),
    }
    figures = {
        "concurrency": c,
        "samples": len(bodies),
        "ideal_s": round(ideal, 3),
        "vlmhb_run": ours,
        "openai_loop": theirs,
        "fixed_costs_s": fixed,
        "throughput_vs_openai_loop": round(theirs["wall_s"] / ours["inference_active_s"], 3),
        "inference_vs_ideal": round(ours["inference_active_s"] / ideal, 3),
        "openai_loop_vs_ideal": round(theirs["wall_s"] / ideal, 3),
        "run_vs_ideal": round(ours["wall_s"] / ideal, 3),
        "run_minus_fixed_vs_ideal": round((ours["wall_s"] - sum(fixed.values())) / ideal, 3),
    }
    print(
        f"c={c:>3} n={len(bodies)}: ideal {ideal:.2f}s · vlmhb inference "
        f"{ours['inference_active_s']:.2f}s ({figures['inference_vs_ideal']}x ideal) · "
        f"openai loop {theirs['wall_s']:.2f}s · throughput vs loop "
        f"{figures['throughput_vs_openai_loop']}x · run {ours['wall_s']:.2f}s",
        flush=True,
    )
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", default="1,4,16,64")
    opts = parser.parse_args()
    levels = [int(c) for c in opts.concurrency.split(",")]
    folder = Path(tempfile.mkdtemp(prefix="vlmhb-pipeline-real-"))
    try:
        dataset = folder / "docs"
        generate_dataset(
            dataset, ["passport", "invoice", "snils"], DOCS_PER_KIND, SEED, [], 0.5, ["vqa_csv"]
        )
        server, url = start_server(dataset)
        try:
            points = [point(folder, dataset, url, server.pid, c, cap(c)) for c in levels]
        finally:
            server.terminate()
            server.wait(10)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    main_point = next((p for p in points if p["concurrency"] == 16), points[-1])
    report = {
        "experiment": {
            "pages": 3 * DOCS_PER_KIND,
            "latency_ms": LATENCY_MS,
            "ttft_ms": TTFT_MS,
            "stream": True,
            "metrics": ["cer", "wer", "anls", "exact_match"],
        },
        "throughput_vs_openai_loop": main_point["throughput_vs_openai_loop"],
        "inference_vs_ideal": main_point["inference_vs_ideal"],
        "run_vs_ideal": main_point["run_vs_ideal"],
        "targets": {
            "throughput_vs_openai_loop": ">= 1.0",
            "inference_vs_ideal": "<= 1.15 at c=16",
            "run_vs_ideal": "<= 1.3 + fixed costs / ideal",
        },
        "points": points,
        "environment": environment(),
    }
    write_results("pipeline_real", report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
