"""``vlmhb worker`` (group ``vlmhb.cli``): a Celery worker in this process that takes stage
tasks from the queues and runs each through a host agent; ``vlmhb worker attempts`` prints
a stage's attempt history from the lease store."""

from __future__ import annotations

import os
import secrets
import socket
from datetime import datetime
from typing import Annotated, NoReturn

import typer
from pydantic import ValidationError

from vlmhb.core.errors import settings_problems
from vlmhb.worker.settings import WorkerSettings, masked_url

worker_app = typer.Typer(help="Job queue worker: takes stage tasks, runs them on host agents.")


def fail(message: str) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(2)


def load_settings() -> WorkerSettings:
    try:
        return WorkerSettings()
    except ValidationError as exc:
        fail(f"error: bad worker settings (VLMHB_*): {settings_problems(exc)}")


@worker_app.callback(invoke_without_command=True)
def worker(
    ctx: typer.Context,
    concurrency: Annotated[int, typer.Option(min=1, help="stages at once (1 per GPU)")] = 1,
    queues: Annotated[
        str, typer.Option("--queues", "-Q", help="queues to take from (without the prefix)")
    ] = "cpu,gpu",
    loglevel: Annotated[str, typer.Option(help="Celery log level")] = "INFO",
) -> None:
    """Run the worker in the foreground until SIGTERM (warm shutdown) or SIGINT."""
    if ctx.invoked_subcommand is not None:
        return
    from vlmhb.worker.agents import AgentDirectory
    from vlmhb.worker.app import make_app
    from vlmhb.worker.store import LeaseStore
    from vlmhb.worker.tasks import register_run_stage

    settings = load_settings()
    try:
        agents = AgentDirectory(settings)
    except (ValueError, OSError) as exc:
        fail(f"error: {exc}")
    store = LeaseStore(settings.database_url())
    worker_id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
    app = make_app(settings)
    register_run_stage(app, store, agents, worker_id)
    names = [settings.queue_prefix + q.strip() for q in queues.split(",") if q.strip()]
    listed = ", ".join(a.name for a in agents.static) or f"from heartbeats in {settings.redis_url}"
    typer.echo(f"vlmhb worker {worker_id}")
    typer.echo(f"  agents: {listed}")
    typer.echo(f"  broker: {masked_url(settings.broker_url)} (queues: {', '.join(names)})")
    typer.echo(f"  queue db: {masked_url(settings.database_url())}", color=False)
    try:
        app.worker_main(
            [
                "worker",
                "--pool=threads",
                f"--concurrency={concurrency}",
                f"--queues={','.join(names)}",
                f"--hostname={worker_id}",
                f"--loglevel={loglevel}",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ]
        )
    finally:
        agents.close()
        store.close()


@worker_app.command()
def attempts(stage_id: Annotated[str, typer.Argument(help="the stage task id")]) -> None:
    """Every attempt of a stage: lease, state, worker, agent, GPUs, times and reason."""
    from vlmhb.worker.store import LeaseStore

    store = LeaseStore(load_settings().database_url())
    try:
        history = store.history(stage_id)
    finally:
        store.close()
    if not history:
        fail(f"no attempts of {stage_id} in the queue database")
    for a in history:
        started = (
            datetime.fromtimestamp(a.started_at).isoformat(" ", "seconds") if a.started_at else "-"
        )
        status = a.result.status if a.result else a.state
        gpus = ",".join(a.gpu_ids) or "-"
        typer.echo(
            f"lease {a.lease} attempt {a.attempt}: {status} worker={a.worker or '-'} "
            f"agent={a.agent or '-'} gpus={gpus} started={started} {a.reason}".rstrip()
        )
