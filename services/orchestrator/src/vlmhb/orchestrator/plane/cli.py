"""``vlmhb up`` and ``vlmhb down`` (group ``vlmhb.cli``): the management plane under
Docker Compose, then the host orchestrator in the foreground."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console

from vlmhb.core.errors import settings_problems
from vlmhb.orchestrator.cli import Host, RunsDir, fail, serve_orchestrator
from vlmhb.orchestrator.plane.errors import PlaneError, ServiceFailed
from vlmhb.orchestrator.plane.plane import Plane, docker_client, plane_folders
from vlmhb.orchestrator.plane.settings import PROJECT_PATTERN, PlaneSettings
from vlmhb.orchestrator.tokens import token_file

DataDir = Annotated[
    Path,
    typer.Option(help="the token (auth_token) and stored configs, shared with the backend"),
]
Project = Annotated[
    str | None, typer.Option(help="compose project name (default VLMHB_PLANE_PROJECT or vlmhb)")
]

up_app = typer.Typer(help="Bring the management plane up, then serve the orchestrator.")
down_app = typer.Typer(help="Stop the management plane (volumes are kept).")


def _settings(project: str | None) -> PlaneSettings:
    try:
        settings = PlaneSettings()
    except ValidationError as exc:
        fail(f"bad plane setting: {settings_problems(exc)}")
    if project is None:
        return settings
    if not re.fullmatch(PROJECT_PATTERN, project):
        fail(f"bad --project {project!r}: lower-case letters, digits, '_' and '-' only")
    return settings.model_copy(update={"project": project})


def _data_root() -> Path:
    from vlmhb.core.settings import Settings

    return Settings().data_roots()[0]


@up_app.callback(invoke_without_command=True)
def up(
    host: Host = "127.0.0.1",
    port: Annotated[int, typer.Option(help="the orchestrator's port")] = 8001,
    runs_dir: RunsDir = Path("runs"),
    data_dir: DataDir = Path(".vlmhb"),
    project: Project = None,
    build: Annotated[
        bool, typer.Option(help="build the plane's missing or stale images first")
    ] = True,
) -> None:
    """Check the Docker engine, build the plane's images, start PostgreSQL, Redis, the
    backend and the web front door (deploy/docker-compose.yaml), wait for each health
    check, then serve the orchestrator API on HOST:PORT until Ctrl+C (the plane keeps
    running; `vlmhb down` stops it). A service that fails is named with its log tail."""
    console = Console(highlight=False, soft_wrap=True)

    def say(line: str) -> None:
        console.print(f"vlmhb up: {line}", markup=False)

    settings = _settings(project)
    try:
        folders = plane_folders(settings, data_dir, runs_dir, _data_root())
        plane = Plane(settings, folders, port, say)
        client = docker_client()
        say(f"Docker engine {client.version().get('Version', '?')}; project {settings.project}")
        token = plane.prepare()
        if build:
            plane.build_images(client)
        plane.up(client)
    except ServiceFailed as failed:
        console.print(f"error: {failed}", markup=False)
        console.print(f"--- last lines of the {failed.service} log ---", markup=False)
        console.print(failed.log_tail or "(empty)", markup=False)
        console.print(
            f"--- {failed.service} is stopped (container and log kept), the other services "
            f"keep running; `vlmhb down --project {settings.project}` stops the plane",
            markup=False,
        )
        raise typer.Exit(1) from None
    except PlaneError as exc:
        fail(f"error: {exc}")
    say(
        f"web UI http://127.0.0.1:{settings.web_port}/ and backend "
        f"http://127.0.0.1:{settings.backend_port}/ (token in {token_file(folders.data_dir)}; "
        "a browser logs in with /?token=<token>)"
    )
    say(f"orchestrator on http://{host}:{port} (Redis {plane.redis_url}); Ctrl+C stops it")
    serve_orchestrator(host, port, folders.runs_dir, token, plane.redis_url)


@down_app.callback(invoke_without_command=True)
def down(
    project: Project = None,
    volumes: Annotated[
        bool,
        typer.Option(
            "--volumes", help="also delete the named volumes (the database and Redis data)"
        ),
    ] = False,
) -> None:
    """Stop and remove the plane's containers. The database and Redis volumes are kept
    (the next `vlmhb up` finds the same data) unless --volumes."""
    settings = _settings(project)
    try:
        folders = plane_folders(settings, Path(".vlmhb"), Path("runs"), _data_root())
        Plane(settings, folders, 8001).down(volumes=volumes)
    except PlaneError as exc:
        fail(f"error: {exc}")
    kept = "volumes deleted" if volumes else "volumes kept"
    typer.echo(f"vlmhb down: plane {settings.project} stopped ({kept})")
