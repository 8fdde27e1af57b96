"""Management API speed: listing 10,000 experiments, and WebSocket fan-out.

1. ``GET /api/v1/experiments`` on a database holding 10,000 experiments (SQLite file and,
   with ``--postgres``, PostgreSQL): a real ``vlmhb serve`` subprocess, sequential requests
   over keep-alive (first page, status filter, model filter, name search, sort by name,
   deep offset), after a warm-up. Target: p95 <= 50 ms.
2. Fan-out: 100 WebSocket clients of one experiment; 1,000 events are published on Redis
   (the path events take from an orchestrator); the backend persists each into the database
   and pushes it to every client. Target: every client receives all 1,000, in order.

Writes ``benchmarks/results/api_list.json``.
Run: ``.venv/bin/python benchmarks/api_list.py [--experiments N] [--requests N]
[--clients N] [--events N] [--postgres postgresql+psycopg://...] [--redis redis://...]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import websockets
from sqlalchemy import insert

from vlmhb.backend.db.engine import Database
from vlmhb.backend.db.migrate import upgrade
from vlmhb.backend.db.models import Experiment, ExperimentModel
from vlmhb.core.contracts import Event, EventType
from vlmhb.orchestrator.redis_bus import RedisEventBus

RESULTS = Path(__file__).parent / "results" / "api_list.json"
TOKEN = secrets.token_urlsafe(32)  # the server's token for this run (auth is always on)
AUTH = {"Authorization": f"Bearer {TOKEN}"}
STATUSES = ["COMPLETED", "FAILED", "CANCELLED", "COMPLETED", "INTERRUPTED"]
QUERIES: dict[str, dict[str, Any]] = {
    "first_page": {},
    "status_filter": {"status": "FAILED"},
    "model_filter": {"model": "model-7"},
    "name_search": {"name": "exp-00123"},
    "sort_by_name": {"sort": "name", "limit": 100},
    "deep_offset": {"offset": 9000, "limit": 50},
}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def seed(url: str, n: int) -> None:
    """``n`` finished experiments (plus one RUNNING-free fan-out target) in bulk."""
    upgrade(url)
    db = Database(url)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    experiments, models = [], []
    for i in range(n):
        moment = start + timedelta(seconds=30 * i)
        experiments.append(
            {
                "id": f"{i:032x}",
                "name": f"exp-{i:05d}",
                "status": STATUSES[i % len(STATUSES)],
                "message": "",
                "config_format": "yaml",
                "config_path": "/seeded",
                "models": f"model-{i % 20},model-{(i + 1) % 20}",
                "progress": 1.0,
                "stages_total": 7,
                "stages_done": 7,
                "attempts": 1,
                "created_at": moment,
                "updated_at": moment,
                "started_at": moment,
                "finished_at": moment,
            }
        )
        models += [
            {"experiment_id": f"{i:032x}", "model": f"model-{i % 20}", "backend": "scripted"},
            {"experiment_id": f"{i:032x}", "model": f"model-{(i + 1) % 20}", "backend": "scripted"},
        ]
    with db.session() as session:
        for chunk in range(0, n, 2000):
            session.execute(insert(Experiment), experiments[chunk : chunk + 2000])
        for chunk in range(0, len(models), 4000):
            session.execute(insert(ExperimentModel), models[chunk : chunk + 4000])
    db.dispose()


def start_server(folder: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    log = (folder / "server.log").open("ab")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vlmhb.core.cli.main",
            "serve",
            "--port",
            str(port),
            "--data-dir",
            str(folder / "state"),
            "--runs-dir",
            str(folder / "runs"),
        ],
        cwd=folder,
        stdout=log,
        stderr=log,
        env={**os.environ, "VLMHB_AUTH_TOKEN": TOKEN, **env},
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError((folder / "server.log").read_text())
        try:
            if httpx.get(f"{base}/api/v1/health").status_code == 200:
                return proc, base
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError("server did not start")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def measure_list(base: str, requests: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    every: list[float] = []
    with httpx.Client(base_url=base, timeout=30, headers=AUTH) as client:
        for params in QUERIES.values():  # warm-up
            for _ in range(5):
                client.get("/api/v1/experiments", params=params).raise_for_status()
        for name, params in QUERIES.items():
            times = []
            total = None
            for _ in range(requests):
                started = time.perf_counter()
                response = client.get("/api/v1/experiments", params=params)
                times.append((time.perf_counter() - started) * 1000)
                response.raise_for_status()
                total = response.json()["total"]
            every += times
            out[name] = {
                "params": params,
                "matches": total,
                "p50_ms": round(percentile(times, 0.5), 2),
                "p95_ms": round(percentile(times, 0.95), 2),
                "max_ms": round(max(times), 2),
            }
    out["all"] = {
        "requests": len(every),
        "p50_ms": round(percentile(every, 0.5), 2),
        "p95_ms": round(percentile(every, 0.95), 2),
        "p99_ms": round(percentile(every, 0.99), 2),
    }
    return out


async def fan_out(
    base: str, redis_url: str, experiment_id: str, clients: int, events: int
) -> dict[str, Any]:
    ws_base = base.replace("http://", "ws://")
    connected = 0
    all_connected = asyncio.Event()

    async def client() -> list[int]:
        nonlocal connected
        seqs: list[int] = []
        async with websockets.connect(
            f"{ws_base}/api/v1/ws/{experiment_id}", max_size=None, additional_headers=AUTH
        ) as ws:
            snapshot = json.loads(await ws.recv())
            assert snapshot["type"] == "snapshot"
            connected += 1
            if connected == clients:
                all_connected.set()
            while len(seqs) < events:
                message = json.loads(await ws.recv())
                if message["event"]["type"] == "progress":
                    seqs.append(message["seq"])
        return seqs

    tasks = [asyncio.create_task(client()) for _ in range(clients)]
    await asyncio.wait_for(all_connected.wait(), 60)
    bus = RedisEventBus(redis_url)
    started = time.perf_counter()
    for i in range(events):
        bus.publish(
            Event(
                type=EventType.PROGRESS,
                topic=experiment_id,
                done=i + 1,
                total=events,
                ts=time.time(),
            )
        )
    await bus.flush()
    published = time.perf_counter() - started
    results = await asyncio.wait_for(asyncio.gather(*tasks), 300)
    elapsed = time.perf_counter() - started
    await bus.aclose()
    complete = sum(1 for seqs in results if len(seqs) == events)
    ordered = sum(1 for seqs in results if seqs == sorted(set(seqs)))
    return {
        "clients": clients,
        "events": events,
        "clients_with_all_events": complete,
        "clients_in_order": ordered,
        "lost": clients * events - sum(map(len, results)),
        "publish_s": round(published, 3),
        "delivered_all_s": round(elapsed, 3),
        "messages_per_s": round(clients * events / elapsed),
    }


def run_database(label: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        seed(url, args.experiments)
        seeded = time.perf_counter() - started
        env = {"DATABASE_URL": url, "REDIS_URL": args.redis}
        proc, base = start_server(folder, env)
        try:
            listing = measure_list(base, args.requests)
            fan = asyncio.run(fan_out(base, args.redis, f"{0:032x}", args.clients, args.events))
        finally:
            stop(proc)
    print(
        f"[{label}] GET /experiments p95 {listing['all']['p95_ms']} ms; fan-out "
        f"{fan['clients_with_all_events']}/{fan['clients']} clients got all "
        f"{fan['events']} events in {fan['delivered_all_s']} s"
    )
    return {"seed_s": round(seeded, 2), "list": listing, "fan_out": fan}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--experiments", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=100, help="per query type")
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument(
        "--postgres",
        default="postgresql+psycopg://postgres@127.0.0.1:5432",
        help="server URL; a fresh database is created and dropped ('' to skip)",
    )
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["sqlite"] = run_database("sqlite", f"sqlite:///{Path(tmp) / 'bench.db'}", args)
    if args.postgres:
        name = f"vlmhb_bench_{os.getpid()}"
        admin = args.postgres.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        try:
            results["postgresql"] = run_database("postgresql", f"{args.postgres}/{name}", args)
        finally:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    targets = {
        db: {
            "list_p95_ms<=50": r["list"]["all"]["p95_ms"] <= 50,
            "fan_out_no_loss": r["fan_out"]["lost"] == 0
            and r["fan_out"]["clients_in_order"] == r["fan_out"]["clients"],
        }
        for db, r in results.items()
    }
    payload = {
        "benchmark": "api_list",
        "experiments": args.experiments,
        "requests_per_query": args.requests,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "results": results,
        "targets_met": targets,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
