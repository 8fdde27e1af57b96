"""``manifest.json``: what a run was and how to run it again.

Holds the run spec, what inference measured under (``RunSpec.measurement``: concurrency,
load, generation, resources, env; all in the run id, so they are what ran), dataset and
prompt hashes, package versions, the git commit of the working directory, hardware, stage
timings and the command to re-run. Secrets are never
written: they are ``SecretStr`` in the spec (``vlmhb.core.secrets``), dumped masked.
"""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
import sys
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

from vlmhb.core.contracts import RunSpec
from vlmhb.core.fileio import atomic_write_json
from vlmhb.core.files import MANIFEST_FILE

PACKAGES = (
    "vlmhb-core",
    "vlmhb-data",
    "vlmhb-metrics",
    "vlmhb-inference",
    "vlmhb-reporting",
    "pydantic",
    "rapidfuzz",
    "sacrebleu",
    "pillow",
    "httpx",
    "fastapi",
    "plotly",
    "pandas",
    "numpy",
)


@lru_cache(maxsize=1)
def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


@lru_cache(maxsize=1)
def git_commit() -> str | None:
    try:
        proc = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() or None if proc.returncode == 0 else None


@lru_cache(maxsize=1)
def hardware() -> dict[str, Any]:
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
    }
    try:
        pages, page_size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        info["memory_gb"] = round(pages * page_size / 2**30, 1)
    except (ValueError, OSError):
        pass
    info["gpus_visible"] = os.environ.get("CUDA_VISIBLE_DEVICES")
    return info


def build_manifest(
    run: RunSpec, run_dir: Path, config_path: Path | None, timings: dict[str, Any]
) -> dict[str, Any]:
    spec = run.model_dump(mode="json")
    command = ["vlmhb", "run", str(config_path)] if config_path else None
    return {
        "run_id": run.run_id,
        "run_dir": str(run_dir),
        "spec": spec,
        "inference": run.measurement(),
        "dataset": {
            "name": run.dataset.name,
            "path": str(run.dataset.path),
            **({"uri": run.dataset.uri} if run.dataset.uri else {}),
            "fingerprint": run.dataset_fingerprint,
        },
        "prompt": (
            {"path": str(run.prompt.path), "sha256": run.prompt.sha256} if run.prompt else None
        ),
        "packages": package_versions(),
        "git_commit": git_commit(),
        "hardware": hardware(),
        "timings": timings,
        "rerun": shlex.join(command) if command else None,
    }


def write_manifest(
    run: RunSpec, run_dir: Path, config_path: Path | None, timings: dict[str, Any]
) -> None:
    atomic_write_json(run_dir / MANIFEST_FILE, build_manifest(run, run_dir, config_path, timings))
