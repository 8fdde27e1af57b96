"""Job-queue dispatch overhead: 1,000 trivial stage tasks through Redis to 4 workers.

Each task takes the path of a stage task without the stage: the sender creates its
attempt in the lease store (SQLite, WAL) and sends it with the job queue's own Celery app
(``vlmhb.worker.app.make_app``: late acks, prefetch 1, the settings ``vlmhb worker``
uses) to its ``cpu`` queue; a worker process (thread pool, concurrency 1, as ``vlmhb
worker`` starts it) claims the lease, commits a result and records when it got the task.
``overhead_ms`` per task = worker start - max(send, the end of that worker's previous
task) (clocks of one machine): the time a task waited while a worker was free, not the
time it queued behind busy workers (1,000 are sent at once). Baseline in the
same run: a raw Redis ``LPUSH`` → ``BRPOP`` hand-off between the same number of processes
(no Celery, no lease store), so the ratio says what the queue's machinery costs over the
broker itself. Target (issue 10): median overhead <= 20 ms; also tasks/s end to end.
A private ``redis-server`` on a free port (never the shared one). Writes
``benchmarks/results/queue_dispatch.json``.

Run: ``.venv/bin/python benchmarks/queue_dispatch.py [--tasks 1000 --workers 4]``
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import redis
from results_file import environment, write_results

from vlmhb.core.contracts import StageName, StageResult, TaskState
from vlmhb.worker.app import make_app, queue_name
from vlmhb.worker.settings import WorkerSettings
from vlmhb.worker.store import LeaseStore

TASK = "vlmhb.bench.noop_stage"
DONE_KEY = "bench:done"
RAW_QUEUE, RAW_DONE = "bench:raw", "bench:raw-done"
PREFIX = "bench."


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def worker_main(mode: str) -> None:
    """A worker process: ``celery`` (the queue's app, thread pool) or ``raw`` (BRPOP)."""
    settings = WorkerSettings()
    client = redis.Redis.from_url(os.environ["BENCH_REDIS"])
    if mode == "raw":
        while True:
            item = client.brpop([RAW_QUEUE], timeout=0)
            assert item is not None
            sent = float(item[1])
            now = time.time()
            client.rpush(RAW_DONE, f"{sent},{now},{now},{os.getpid()}")
    store = LeaseStore(settings.database_url(), migrate=False)
    app = make_app(settings)
    worker = f"bench-{os.getpid()}"

    @app.task(name=TASK, acks_late=True)  # type: ignore[untyped-decorator]
    def noop_stage(stage_id: str, lease: int, sent: float) -> None:
        started = time.time()
        assert store.claim(lease, worker), f"lease {lease} refused"
        result = StageResult(
            task_id=stage_id, stage=StageName.EVALUATION, status=TaskState.COMPLETED
        )
        assert store.commit(lease, worker, result)
        client.rpush(DONE_KEY, f"{sent},{started},{time.time()},{os.getpid()}")

    app.worker_main(
        ["worker", "--pool", "threads", "--concurrency", "1", "--loglevel", "WARNING",
         "-Q", queue_name(settings, "cpu"), "--without-gossip", "--without-mingle",
         "--without-heartbeat"]
    )  # fmt: skip


def start_workers(mode: str, count: int, env: dict[str, str]) -> list[subprocess.Popen[bytes]]:
    command = [sys.executable, __file__, "--worker", mode]
    return [subprocess.Popen(command, env=env) for _ in range(count)]


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def wait_done(client: redis.Redis, key: str, count: int, timeout_s: float) -> list[str]:
    deadline = time.monotonic() + timeout_s
    while client.llen(key) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {client.llen(key)} of {count} tasks done")
        time.sleep(0.05)
    return [item.decode() for item in client.lrange(key, 0, -1)]


def warm(client: redis.Redis, key: str, count: int) -> None:
    """Wait until each worker has taken a task (all connected), then clear the record."""
    wait_done(client, key, count, 120)
    client.delete(key)


def run_celery(
    settings: WorkerSettings, client: redis.Redis, tasks: int, workers: int, env: dict[str, str]
) -> dict[str, Any]:
    store = LeaseStore(settings.database_url())
    app = make_app(settings)
    queue = queue_name(settings, "cpu")

    def send(index: int) -> None:
        stage_id = f"stage-{index}"
        lease = store.create(stage_id, 0, "bench", queue)
        app.send_task(TASK, args=[stage_id, lease, time.time()], queue=queue)

    processes = start_workers("celery", workers, env)
    try:
        for index in range(workers * 2):
            send(-1 - index)
        warm(client, DONE_KEY, workers * 2)
        began = time.time()
        for index in range(tasks):
            send(index)
        rows = [line.split(",") for line in wait_done(client, DONE_KEY, tasks, 600)]
    finally:
        stop(processes)
        store.close()
    return summary(rows, began)


def run_raw(client: redis.Redis, tasks: int, workers: int, env: dict[str, str]) -> dict[str, Any]:
    processes = start_workers("raw", workers, env)
    try:
        for _ in range(workers * 2):
            client.lpush(RAW_QUEUE, str(time.time()))
        warm(client, RAW_DONE, workers * 2)
        began = time.time()
        for _ in range(tasks):
            client.lpush(RAW_QUEUE, str(time.time()))
        rows = [line.split(",") for line in wait_done(client, RAW_DONE, tasks, 600)]
    finally:
        stop(processes)
    return summary(rows, began)


def idle_waits_ms(rows: list[list[str]]) -> list[float]:
    """Per task: start - max(send, end of its worker's previous task), in ms."""
    waits: list[float] = []
    free_since: dict[str, float] = {}
    for sent, start, end, worker in sorted(rows, key=lambda row: (row[3], float(row[1]))):
        ready = max(float(sent), free_since.get(worker, float(sent)))
        waits.append((float(start) - ready) * 1000)
        free_since[worker] = float(end)
    return waits


def summary(rows: list[list[str]], began: float) -> dict[str, Any]:
    overheads_ms = idle_waits_ms(rows)
    tasks_per_s = len(rows) / (max(float(row[2]) for row in rows) - began)
    return {
        "overhead_ms_median": round(statistics.median(overheads_ms), 2),
        "overhead_ms_p90": round(percentile(overheads_ms, 0.9), 2),
        "overhead_ms_p99": round(percentile(overheads_ms, 0.99), 2),
        "tasks_per_s": round(tasks_per_s, 1),
    }


def main() -> int:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--tasks", type=int, default=1000)
    args.add_argument("--workers", type=int, default=4)
    args.add_argument("--worker", choices=["celery", "raw"], help=argparse.SUPPRESS)
    options = args.parse_args()
    if options.worker:
        worker_main(options.worker)
        return 0
    with tempfile.TemporaryDirectory(prefix="vlmhb-bench-queue-") as folder:
        port = free_port()
        server = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", folder],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            url = f"redis://127.0.0.1:{port}/0"
            client = redis.Redis.from_url(url)
            for _ in range(100):
                try:
                    client.ping()
                    break
                except redis.ConnectionError:
                    time.sleep(0.05)
            env = {
                **os.environ,
                "BENCH_REDIS": url,
                "VLMHB_BROKER_URL": url,
                "VLMHB_QUEUE_PREFIX": PREFIX,
                "VLMHB_QUEUE_DB_URL": f"sqlite:///{Path(folder) / 'queue.db'}",
                "VLMHB_DATA_DIR": folder,
            }
            os.environ.update(env)
            settings = WorkerSettings()
            load_before = os.getloadavg()
            raw = run_raw(client, options.tasks, options.workers, env)
            celery = run_celery(settings, client, options.tasks, options.workers, env)
            load_after = os.getloadavg()
        finally:
            server.terminate()
            server.wait(timeout=10)
    report = {
        "benchmark": "queue_dispatch",
        "tasks": options.tasks,
        "workers": options.workers,
        "broker": "redis (private redis-server)",
        "lease_store": "sqlite (WAL)",
        "celery": celery,
        "raw_redis_baseline": raw,
        "ratio_overhead_median_celery_to_raw": round(
            celery["overhead_ms_median"] / max(raw["overhead_ms_median"], 1e-3), 1
        ),
        "target_overhead_ms_median": 20.0,
        "met": celery["overhead_ms_median"] <= 20.0,
        "environment": environment(
            load_average_before=[round(x, 2) for x in load_before],
            load_average_after=[round(x, 2) for x in load_after],
        ),
    }
    write_results("queue_dispatch", report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
