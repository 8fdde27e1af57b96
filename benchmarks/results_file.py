"""Shared by the benchmarks: the machine description and writing a results file."""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def environment(**extra: Any) -> dict[str, Any]:
    """Python, platform, CPU count and the event-loop accelerators present."""
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "uvloop": importlib.util.find_spec("uvloop") is not None,
        "httptools": importlib.util.find_spec("httptools") is not None,
        **extra,
    }


def write_results(name: str, report: dict[str, Any], echo: bool = True) -> Path:
    """Write ``report`` to ``benchmarks/results/<name>.json`` (and print it)."""
    path = RESULTS_DIR / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(report, indent=2, ensure_ascii=False) + "\n"
    path.write_text(text, encoding="utf-8")
    if echo:
        print(text, end="")
    return path
