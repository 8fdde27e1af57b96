"""CLI entry points (group ``vlmhb.cli``): ``vlmhb serve``, ``vlmhb backend``,
``vlmhb orchestrator`` and ``vlmhb db upgrade``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from vlmhb.backend.settings import LOOPBACK_HOSTS, BackendSettings

Host = Annotated[str, typer.Option(help="address to bind (a non-loopback one needs "
                                        "VLMHB_AUTH_TOKEN)")]
DataDir = Annotated[Path, typer.Option(help="database (SQLite) and stored configs")]
RunsDir = Annotated[Path, typer.Option(help="where experiment runs are written")]

serve_app = typer.Typer(help="Backend + embedded orchestrator in one process.")
backend_app = typer.Typer(help="Backend alone; experiments go to ORCHESTRATOR_URL.")
orchestrator_app = typer.Typer(help="Orchestrator HTTP service (split mode, Redis events).")
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)


def _check_exposure(host: str) -> None:
    if host not in LOOPBACK_HOSTS and not os.environ.get("VLMHB_AUTH_TOKEN"):
        typer.echo(f"refusing to listen on {host} without VLMHB_AUTH_TOKEN: set a token "
                   "(clients send 'Authorization: Bearer <token>') or bind 127.0.0.1",
                   err=True)
        raise typer.Exit(2)


def _serve(settings: BackendSettings, host: str, port: int) -> None:
    import uvicorn

    from vlmhb.backend.app import create_app

    _check_exposure(host)
    resolved = settings.resolved()
    typer.echo(f"VLMHyperBench on http://{host}:{port}  (db: {_safe_url(resolved.url)}, "
               f"runs: {resolved.runs_dir}, events: "
               f"{'redis' if resolved.redis_url else 'in-process'}, orchestrator: "
               f"{resolved.orchestrator_url or 'embedded'})")
    uvicorn.run(create_app(resolved), host=host, port=port, log_level="info",
                ws_max_size=1024 * 1024)


def _safe_url(url: str) -> str:
    """The database URL without its password."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@serve_app.callback(invoke_without_command=True)
def serve(
    host: Host = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 8000,
    data_dir: DataDir = Path(".vlmhb"),
    runs_dir: RunsDir = Path("runs"),
) -> None:
    """Start the management backend and the orchestrator in one process (SQLite in
    DATA_DIR unless DATABASE_URL; Redis events when REDIS_URL is set)."""
    settings = BackendSettings(data_dir=data_dir, runs_dir=runs_dir, orchestrator_url=None)
    _serve(settings, host, port)


@backend_app.callback(invoke_without_command=True)
def backend(
    host: Host = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 8000,
    data_dir: DataDir = Path(".vlmhb"),
    runs_dir: RunsDir = Path("runs"),
    orchestrator_url: Annotated[str | None, typer.Option(
        envvar="ORCHESTRATOR_URL", help="the orchestrator service")] = None,
) -> None:
    """Start the backend alone; submissions go to the orchestrator service, events come
    back over Redis (REDIS_URL is required)."""
    if not orchestrator_url:
        typer.echo("vlmhb backend needs ORCHESTRATOR_URL (or use 'vlmhb serve')", err=True)
        raise typer.Exit(2)
    settings = BackendSettings(data_dir=data_dir, runs_dir=runs_dir,
                               orchestrator_url=orchestrator_url)
    if not settings.redis_url:
        typer.echo("vlmhb backend needs REDIS_URL: events come back over Redis", err=True)
        raise typer.Exit(2)
    _serve(settings, host, port)


@orchestrator_app.callback(invoke_without_command=True)
def orchestrator(
    host: Host = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 8001,
    runs_dir: RunsDir = Path("runs"),
    redis_url: Annotated[str | None, typer.Option(envvar="REDIS_URL",
                                                  help="Redis for events")] = None,
) -> None:
    """Start the orchestrator service: POST /run, GET /status/{id}, GET /resources."""
    import uvicorn

    from vlmhb.backend.orchestrator_service import create_orchestrator_app

    if not redis_url:
        typer.echo("vlmhb orchestrator needs REDIS_URL", err=True)
        raise typer.Exit(2)
    _check_exposure(host)
    app = create_orchestrator_app(redis_url, runs_dir, os.environ.get("VLMHB_AUTH_TOKEN"))
    uvicorn.run(app, host=host, port=port, log_level="info")


@db_app.command("upgrade")
def db_upgrade(
    data_dir: DataDir = Path(".vlmhb"),
    revision: Annotated[str, typer.Option(help="target revision")] = "head",
) -> None:
    """Apply the database migrations (DATABASE_URL, else SQLite in DATA_DIR)."""
    from vlmhb.backend.db.migrate import upgrade

    settings = BackendSettings(data_dir=data_dir).resolved()
    upgrade(settings.url, revision)
    typer.echo(f"database at {_safe_url(settings.url)} upgraded to {revision}")
