"""``vlmhb agent`` (group ``vlmhb.cli``): serve this host's agent in the foreground until
SIGINT/SIGTERM. A bad setting, a missing or weak token is one line and exit code 2."""

from __future__ import annotations

import logging
import socket
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from pydantic import ValidationError

from vlmhb.agent.settings import AgentSettings, read_token
from vlmhb.core.errors import settings_problems

GRACEFUL_SHUTDOWN_S = 3  # open long polls and log streams get this long at SIGTERM

agent_app = typer.Typer(help="Host agent: runs stage tasks for the job queue's workers.")


def fail(message: str) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(2)


def load_settings(**given: Any) -> AgentSettings:
    """Settings from the environment, the options given (not ``None``) winning."""
    try:
        return AgentSettings(**{k: v for k, v in given.items() if v is not None})
    except ValidationError as exc:
        fail(f"error: bad agent settings (options or VLMHB_AGENT_*): {settings_problems(exc)}")


@agent_app.callback(invoke_without_command=True)
def agent(
    name: Annotated[str | None, typer.Option(help="this host's agent name")] = None,
    gpus: Annotated[
        str | None, typer.Option(help="GPU ids stages may take: indexes or UUIDs, e.g. 0,1")
    ] = None,
    token_file: Annotated[
        Path | None, typer.Option(help="file holding the bearer token (16+ characters)")
    ] = None,
    host: Annotated[str | None, typer.Option(help="address to bind (default 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="port (default 8101; 0: any free)")] = None,
    cache_dir: Annotated[Path | None, typer.Option(help="env caches; its disk is reported")] = None,
    url: Annotated[str | None, typer.Option(help="URL workers reach this agent at")] = None,
    redis_url: Annotated[str | None, typer.Option(help="Redis for heartbeats")] = None,
) -> None:
    """Start the agent: stage tasks (POST /stages), containers, images, inventory. Every
    route but /health needs the token of TOKEN_FILE."""
    settings = load_settings(
        name=name,
        gpus=gpus,
        token_file=token_file,
        host=host,
        port=port,
        cache_dir=cache_dir,
        url=url,
        redis_url=redis_url,
    )
    try:
        token = read_token(settings.token_file)
    except OSError as exc:
        fail(f"refusing to start: cannot read the token file {settings.token_file}: {exc}")
    except ValueError as exc:
        fail(f"refusing to start: {exc}")
    serve_agent(settings, token)


def serve_agent(settings: AgentSettings, token: str) -> None:
    """Bind, print one line when ready, serve until SIGINT/SIGTERM."""
    import uvicorn

    from vlmhb.agent.app import create_agent_app
    from vlmhb.agent.state import AgentState

    state = AgentState(settings)
    try:
        state.gpus.indexes(settings.gpus)
    except ValueError as exc:
        fail(f"error: --gpus: {exc}")
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((settings.host, settings.port))
    except OSError as exc:
        fail(f"error: cannot bind {settings.host}:{settings.port}: {exc}")
    sock.listen(128)
    state.port = sock.getsockname()[1]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    def ready() -> None:
        typer.echo(
            f"vlmhb agent {settings.name} ready at {settings.public_url(state.port)} "
            f"(gpus: {','.join(settings.gpus) or 'none'})"
        )

    app = create_agent_app(state, token, on_ready=ready)
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S)
    uvicorn.Server(config).run(sockets=[sock])
