"""Smart Sync throughput from a local S3 server, against boto3's transfer manager.

Two datasets are generated (fixed seed) and pushed to moto's S3 server on 127.0.0.1
(``moto_server``, a subprocess on a free port): 2,000 small files (~50 KB) and 20 large
ones (~20 MB). For each, in one run and alternating, best of ``--repeats``:

- **smart sync**: ``S3DataStore().materialise(uri)`` into an empty cache (what a node does
  before a stage: the manifest, every blob downloaded, verified by sha256 and linked);
- **baseline**: boto3's transfer manager, ``client.download_file`` called once per file
  (the loop a user would write), same client settings (checksums ``when_required``);
- **warm**: a second ``materialise`` of the unchanged dataset with the cache filled
  (target: ≤ 1 s for the 2,000-file dataset).

``throughput_ratio`` = baseline seconds / smart-sync seconds (target ≥ 1). Writes
``benchmarks/results/data_sync.json``.

Run: ``.venv/bin/python benchmarks/data_sync.py [--small 2000 --large 20 --repeats 2]``
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import httpx
from botocore.config import Config
from results_file import environment, write_results

from vlmhb.data.storage.store import S3DataStore

BUCKET = "bench"
KEYS = {"VLMHB_S3_ACCESS_KEY_ID": "bench", "VLMHB_S3_SECRET_ACCESS_KEY": "bench-secret"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def moto_server() -> Iterator[str]:
    """moto's S3 server on a free port of 127.0.0.1; its endpoint URL."""
    port = free_port()
    binary = Path(sys.executable).with_name("moto_server")
    process = subprocess.Popen(
        [str(binary), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(endpoint, timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError("moto_server did not start") from None
                time.sleep(0.1)
        yield endpoint
    finally:
        process.terminate()
        process.wait(10)


def make_dataset(folder: Path, files: int, size: int, seed: int) -> int:
    """``files`` files of about ``size`` bytes (±10%) of random content; total bytes."""
    rng = random.Random(seed)
    total = 0
    for index in range(files):
        length = int(size * rng.uniform(0.9, 1.1))
        path = folder / f"part-{index // 500:02d}" / f"file-{index:05d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.randbytes(length))
        total += length
    return total


def baseline(client: Any, prefix: str, keys: list[str], target: Path) -> float:
    """Seconds for ``download_file`` once per key (boto3's transfer manager)."""
    started = time.perf_counter()
    for key in keys:
        dest = target / key
        dest.parent.mkdir(parents=True, exist_ok=True)
        client.download_file(BUCKET, f"{prefix}/{key}", str(dest))
    return time.perf_counter() - started


def smart_sync(uri: str, cache: Path) -> float:
    """Seconds for one ``materialise`` of ``uri`` with the cache at ``cache``."""
    os.environ["VLMHB_DATA_CACHE_DIR"] = str(cache)
    store = S3DataStore()
    started = time.perf_counter()
    with store.materialise(uri):
        pass
    return time.perf_counter() - started


def measure(
    name: str, files: int, size: int, repeats: int, work: Path, client: Any
) -> dict[str, Any]:
    source = work / f"{name}-source"
    total = make_dataset(source, files, size, seed=files)
    uri = f"s3://{BUCKET}/{name}"
    S3DataStore().push_folder(source, uri)
    keys = sorted(p.relative_to(source).as_posix() for p in source.rglob("*.bin"))
    shutil.rmtree(source)
    ours, theirs, warm = [], [], []
    for attempt in range(repeats):
        cache = work / f"{name}-cache-{attempt}"
        ours.append(smart_sync(uri, cache))
        warm.append(smart_sync(uri, cache))
        target = work / f"{name}-baseline-{attempt}"
        theirs.append(baseline(client, name, keys, target))
        shutil.rmtree(cache)
        shutil.rmtree(target)
    best_ours, best_theirs = min(ours), min(theirs)
    return {
        "files": files,
        "bytes": total,
        "smart_sync_s": round(best_ours, 3),
        "smart_sync_mb_per_s": round(total / best_ours / 1e6, 1),
        "baseline_download_file_s": round(best_theirs, 3),
        "baseline_mb_per_s": round(total / best_theirs / 1e6, 1),
        "throughput_ratio": round(best_theirs / best_ours, 2),
        "warm_sync_s": round(min(warm), 3),
        "runs_s": {"smart_sync": ours, "baseline": theirs, "warm": warm},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--small", type=int, default=2000)
    parser.add_argument("--large", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    with moto_server() as endpoint, tempfile.TemporaryDirectory() as tmp:
        os.environ.update(
            KEYS | {"VLMHB_S3_ENDPOINT_URL": endpoint, "VLMHB_S3_REGION": "us-east-1"}
        )
        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id=KEYS["VLMHB_S3_ACCESS_KEY_ID"],
            aws_secret_access_key=KEYS["VLMHB_S3_SECRET_ACCESS_KEY"],
            config=Config(
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )
        client.create_bucket(Bucket=BUCKET)
        work = Path(tmp)
        small = measure("small", args.small, 50_000, args.repeats, work, client)
        large = measure("large", args.large, 20_000_000, args.repeats, work, client)
    report = {
        "benchmark": "data_sync",
        "server": "moto_server (S3 protocol over HTTP on 127.0.0.1)",
        "baseline": "boto3 client.download_file once per file (transfer manager), sequential",
        "small_files": small,
        "large_files": large,
        "targets": {"throughput_ratio_min": 1.0, "warm_sync_small_s_max": 1.0},
        "met": {
            "small_throughput": small["throughput_ratio"] >= 1.0,
            "large_throughput": large["throughput_ratio"] >= 1.0,
            "warm_small": small["warm_sync_s"] <= 1.0,
        },
        "environment": environment(load_average_before=list(os.getloadavg())),
    }
    write_results("data_sync", report)


if __name__ == "__main__":
    main()
