"""Registries under concurrency: the first users of a fresh registry, from many threads at
once, all see every entry point (issue 7: 'unknown dataset format vqa_csv' under load)."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from vlmhb.core.registry import Registry

THREADS = 20


def _concurrently(check: Callable[[], Any]) -> list[Any]:
    barrier = threading.Barrier(THREADS)

    def run(_: int) -> Any:
        barrier.wait()
        try:
            return check()
        except Exception as exc:  # collected: the test shows every failure
            return exc

    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(run, range(THREADS)))


def test_fresh_registry_seen_whole_by_concurrent_first_users() -> None:
    for _ in range(5):  # a fresh registry each round: the race is at first use
        datasets: Registry[object] = Registry("dataset format", group="vlmhb.datasets")
        results = _concurrently(datasets.names)
        expected = sorted(datasets.names())
        assert {"vqa_csv", "json_extraction"} <= set(expected)
        assert all(sorted(r) == expected for r in results), results


def test_fresh_process_concurrent_get_registries() -> None:
    script = f"""
import threading
from vlmhb.core.registries import get_registries
barrier = threading.Barrier({THREADS})
errors, seen = [], set()
def run():
    barrier.wait()
    try:
        registries = get_registries()
        registries.datasets.check("vqa_csv")
        registries.stages.check("inference")
        seen.add(id(registries))
    except Exception as exc:
        errors.append(repr(exc))
threads = [threading.Thread(target=run) for _ in range({THREADS})]
for t in threads: t.start()
for t in threads: t.join()
print(len(errors), len(seen))
print(errors[:1])
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    ).stdout.splitlines()
    assert out[0] == "0 1", out
