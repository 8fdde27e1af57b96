"""The quickstart in docker envs vs process envs: wall time of ``vlmhb run``.

Runs ``examples/quickstart/experiment.yaml`` (every stage a host subprocess) and
``examples/quickstart-docker/experiment.yaml`` (every stage a container of
``vlmhb/base-cpu``) through the real CLI, each in a fresh copy of the examples (nothing is
skipped), on the same freshly generated dataset, alternating process and docker
``--repeat`` times; ``ratio = median docker wall / median process wall`` (target <= 1.3).
The image is built first when missing or stale (not timed). Writes
``benchmarks/results/quickstart_docker.json`` with the machine and its load average.

Run: ``.venv/bin/python benchmarks/quickstart_docker.py [--docs N] [--repeat R]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from results_file import environment, write_results

from vlmhb.containers.images import ensure_images

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
VLMHB = [sys.executable, "-m", "vlmhb.core.cli.main"]
CONFIGS = {
    "process": "quickstart/experiment.yaml",
    "docker": "quickstart-docker/experiment.yaml",
}


def vlmhb(*args: str, cwd: Path) -> None:
    env = {**os.environ, "VLMHB_DATA_ROOT": str(cwd)}
    proc = subprocess.run([*VLMHB, *args], cwd=cwd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"vlmhb {' '.join(args)} failed:\n{proc.stdout[-2000:]}{proc.stderr}")


def workspace(root: Path, dataset: Path) -> Path:
    """A fresh copy of both examples, sharing the generated dataset."""
    skip = shutil.ignore_patterns("data", "runs")
    shutil.copytree(EXAMPLES / "quickstart", root / "quickstart", ignore=skip)
    shutil.copytree(EXAMPLES / "quickstart-docker", root / "quickstart-docker", ignore=skip)
    shutil.copytree(dataset, root / "quickstart" / "data" / "quickstart")
    return root


def main() -> int:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--docs", type=int, default=3, help="documents of each kind (quickstart: 3)")
    args.add_argument("--repeat", type=int, default=1)
    opts = args.parse_args()
    ensure_images(("base-cpu",))
    walls: dict[str, list[float]] = {kind: [] for kind in CONFIGS}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="vlmhb-bench-qs-") as tmp:
        dataset = Path(tmp) / "dataset"
        vlmhb(
            "datasets",
            "synth",
            "--out",
            str(dataset),
            "--n",
            str(opts.docs),
            "--seed",
            "7",
            cwd=Path(tmp),
        )
        for index in range(opts.repeat):
            for kind, config in CONFIGS.items():
                root = workspace(Path(tmp) / f"{kind}-{index}", dataset)
                started = time.perf_counter()
                vlmhb("run", config, cwd=root)
                walls[kind].append(round(time.perf_counter() - started, 2))
                print(f"{kind} run {index + 1}: {walls[kind][-1]} s", file=sys.stderr)
    medians = {kind: statistics.median(values) for kind, values in walls.items()}
    ratio = medians["docker"] / medians["process"]
    write_results(
        "quickstart_docker",
        {
            "benchmark": "quickstart_docker",
            "documents": opts.docs * 3,
            "wall_s": walls,
            "median_wall_s": medians,
            "ratio": round(ratio, 3),
            "target_ratio": 1.3,
            "met": ratio <= 1.3,
            "environment": environment(
                load_average_before=[round(x, 2) for x in load_before],
                load_average_after=[round(x, 2) for x in os.getloadavg()],
            ),
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
