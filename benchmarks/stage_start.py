"""Stage start overhead: the process env vs the docker env, the same trivial stage.

The stage is the evaluation of a tiny finished run (a synthetic dataset of 3 documents,
answers from the scripted backend, one metric: ``exact_match``), run again and again
through ``EnvManager.execute`` — a real ``vlmhb stage run`` each time, as a host
subprocess (``process``) or in a container of ``vlmhb/base-cpu`` (``docker``), each also
with ``env.packages`` (``*_packages``: a venv made once, from a warm uv cache, then reused:
a start installs nothing). Warm: the image is built and one untimed run of each variant
comes first. The variants take turns, so all see the same machine load.

Per start: ``wall_s`` (``execute`` called → result back) and ``stage_s``, the stage's
own time as it wrote it in its result file (from its ``_run``: registry lookup, the
metrics plugin import, scoring, writing). ``overhead_s = wall_s - stage_s`` is the start
cost: interpreter and CLI start, task file, and for docker the container's create, start,
wait, log drain and removal. Targets (issue 9): median overhead <= 0.5 s (process),
<= 1.5 s (docker); the same targets are shown for the ``*_packages`` variants. Writes
``benchmarks/results/stage_start.json`` (medians, p90, the ratio docker/process, the
machine and its load).

Run: ``.venv/bin/python benchmarks/stage_start.py [--n 15]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from results_file import environment, write_results

from vlmhb.containers.docker_env.manager import DockerEnvManager
from vlmhb.containers.images import ensure_images
from vlmhb.core.config import load_experiment
from vlmhb.core.contracts import EnvSpec, StageName, StageTask, TaskState
from vlmhb.core.envs.base import EnvManager
from vlmhb.core.envs.process import ProcessEnvManager
from vlmhb.core.envs.stage_io import StageFiles
from vlmhb.core.orchestration.graph import plan_experiment

IMAGE = "vlmhb/base-cpu:latest"
PACKAGES = ["six==1.16.0"]  # small, pure Python; the docker env tests install it too
TARGETS = {"process": 0.5, "docker": 1.5, "process_packages": 0.5, "docker_packages": 1.5}
CONFIG = """\
name: stage-start
output_dir: {root}/runs
models:
  - {{name: echo, backend: scripted, params: {{rule: echo}}}}
datasets:
  - {{name: synth, format: vqa_csv, path: {root}/data}}
tasks:
  - {{name: vqa, dataset: synth, kind: vqa, metrics: [exact_match]}}
"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def finished_run(root: Path) -> dict[StageName, StageTask]:
    """A synthetic dataset and a run whose inference is done (the process env)."""
    subprocess.run(
        [sys.executable, "-m", "vlmhb.core.cli.main", "datasets", "synth", "--out",
         str(root / "data"), "--n", "1", "--seed", "7", "--format", "vqa_csv"],
        check=True, capture_output=True,
    )  # fmt: skip
    config = root / "exp.yaml"
    config.write_text(CONFIG.format(root=root), encoding="utf-8")
    tasks = {t.stage: t for t in plan_experiment(load_experiment(config))}
    result = asyncio.run(
        ProcessEnvManager(root / "envs").execute(tasks[StageName.INFERENCE], print_none)
    )
    assert result.status == TaskState.COMPLETED, result.message
    return tasks


def print_none(event: object) -> None:
    """Events are not what is measured."""


async def start_once(manager: EnvManager, task: StageTask) -> tuple[float, float]:
    """(wall, the stage's own time) of one execute."""
    started = time.perf_counter()
    result = await manager.execute(task, print_none)
    wall = time.perf_counter() - started
    if result.status != TaskState.COMPLETED:
        raise SystemExit(f"{task.env.kind}: {result.status}: {result.message}")
    written = json.loads(StageFiles.of(task).result_file.read_text(encoding="utf-8"))
    return wall, float(written["duration_s"])


async def measure(
    tasks: dict[str, StageTask], managers: dict[str, EnvManager], n: int
) -> dict[str, list[tuple[float, float]]]:
    for kind, task in tasks.items():  # warm: the first start of each env is not timed
        await start_once(managers[kind], task)
    samples: dict[str, list[tuple[float, float]]] = {kind: [] for kind in tasks}
    for index in range(n):
        order = list(tasks)[index % len(tasks) :] + list(tasks)[: index % len(tasks)]
        for kind in order:
            samples[kind].append(await start_once(managers[kind], tasks[kind]))
    return samples


def summary(kind: str, samples: list[tuple[float, float]]) -> dict[str, Any]:
    walls = [w for w, _ in samples]
    stages = [s for _, s in samples]
    overheads = [w - s for w, s in samples]
    median = statistics.median(overheads)
    return {
        "overhead_s_median": round(median, 3),
        "overhead_s_p90": round(percentile(overheads, 0.9), 3),
        "overhead_s_min": round(min(overheads), 3),
        "wall_s_median": round(statistics.median(walls), 3),
        "wall_s_p90": round(percentile(walls, 0.9), 3),
        "stage_s_median": round(statistics.median(stages), 3),
        "target_overhead_s": TARGETS[kind],
        "met": median <= TARGETS[kind],
        "overheads_s": [round(o, 3) for o in overheads],
    }


def ratio(results: dict[str, dict[str, Any]], variant: str) -> float:
    docker = float(results["docker" + variant]["overhead_s_median"])
    return round(docker / float(results["process" + variant]["overhead_s_median"]), 2)


def machine() -> dict[str, Any]:
    docker = subprocess.run(
        ["docker", "version", "--format", "{{.Server.Version}}"], capture_output=True, text=True
    ).stdout.strip()
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor(),
    )  # fmt: skip
    info: dict[str, Any] = environment(
        cpu_model=cpu, docker_engine=docker, kernel=platform.release()
    )
    return info


def main() -> int:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--n", type=int, default=15, help="timed starts per env")
    opts = args.parse_args()
    ensure_images(("base-cpu",))  # built when missing or stale; not timed
    with tempfile.TemporaryDirectory(prefix="vlmhb-stage-start-") as tmp:
        root = Path(tmp).resolve()
        os.environ["VLMHB_DATA_ROOT"] = str(root)  # what the container may mount
        evaluation = finished_run(root)[StageName.EVALUATION]
        envs = {
            "process": EnvSpec(),
            "docker": EnvSpec(kind="docker", image=IMAGE),
            "process_packages": EnvSpec(packages=PACKAGES),
            "docker_packages": EnvSpec(kind="docker", image=IMAGE, packages=PACKAGES),
        }
        tasks = {kind: evaluation.model_copy(update={"env": env}) for kind, env in envs.items()}
        process, docker = ProcessEnvManager(root / "envs"), DockerEnvManager(root / "envs")
        managers: dict[str, EnvManager] = {
            kind: docker if env.kind == "docker" else process for kind, env in envs.items()
        }
        load_before = os.getloadavg()
        samples = asyncio.run(measure(tasks, managers, opts.n))
        load_after = os.getloadavg()
        process.cleanup()
        docker.cleanup()
    results = {kind: summary(kind, values) for kind, values in samples.items()}
    report = {
        "stage": "evaluation of a finished 3-sample run (exact_match)",
        "n": opts.n,
        "image": IMAGE,
        "packages": PACKAGES,
        **results,
        "ratio_docker_to_process_overhead": ratio(results, ""),
        "ratio_docker_to_process_overhead_packages": ratio(results, "_packages"),
        "machine": machine(),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
    }
    write_results("stage_start", report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
