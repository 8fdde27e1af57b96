"""``vlmhb orchestrator`` (group ``vlmhb.cli``), and the start-up checks the backend's
commands share: a bad setting or an unreachable Redis is one line and exit code 2."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from vlmhb.orchestrator.redis_bus import redis_unreachable, safe_redis_url
from vlmhb.orchestrator.tokens import WeakToken, check_token, load_or_create_token, token_file

Host = Annotated[str, typer.Option(help="address to bind")]
RunsDir = Annotated[Path, typer.Option(help="where experiment runs are written")]
# open requests and WebSocket/SSE streams get this long at SIGTERM, then are cancelled
GRACEFUL_SHUTDOWN_S = 3

orchestrator_app = typer.Typer(help="Orchestrator HTTP service (split mode, Redis events).")


def fail(message: str) -> NoReturn:
    """Print ``message`` to stderr and exit with code 2."""
    typer.echo(message, err=True)
    raise typer.Exit(2)


def require_redis(url: str | None) -> None:
    """Exit with code 2 and one line when Redis at ``url`` does not answer."""
    reason = redis_unreachable(url) if url else None
    if reason:
        fail(
            f"error: Redis at {safe_redis_url(url or '')} is unreachable ({reason}); "
            "start it or unset REDIS_URL"
        )


def env_token() -> str | None:
    """``VLMHB_AUTH_TOKEN`` checked for strength (None when unset)."""
    value = os.environ.get("VLMHB_AUTH_TOKEN")
    if value is None:
        return None
    try:
        return check_token(value)
    except WeakToken as exc:
        fail(f"refusing to start: {exc}")


@orchestrator_app.callback(invoke_without_command=True)
def orchestrator(
    host: Host = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 8001,
    runs_dir: RunsDir = Path("runs"),
    data_dir: Annotated[
        Path, typer.Option(help="where the generated token (auth_token) is stored")
    ] = Path(".vlmhb"),
    redis_url: Annotated[
        str | None, typer.Option(envvar="REDIS_URL", help="Redis for events")
    ] = None,
) -> None:
    """Start the orchestrator service: POST /run, GET /status/{id}, GET /resources.
    Every route but /health needs the token: VLMHB_AUTH_TOKEN, else the one stored in
    DATA_DIR (generated on first start; share the data folder with `vlmhb backend`)."""
    if not redis_url:
        fail("vlmhb orchestrator needs REDIS_URL")
    token = env_token()
    if token is None:
        try:
            token, _ = load_or_create_token(data_dir.expanduser().resolve())
        except WeakToken as exc:
            fail(f"refusing to start: {exc}")
        typer.echo(f"orchestrator token: {token_file(data_dir.expanduser().resolve())}")
    serve_orchestrator(host, port, runs_dir, token, redis_url)


def serve_orchestrator(host: str, port: int, runs_dir: Path, token: str, redis_url: str) -> None:
    """Serve the orchestrator app in the foreground until SIGINT/SIGTERM (``vlmhb
    orchestrator`` and ``vlmhb up``); Redis unreachable is one line and exit code 2."""
    import uvicorn

    from vlmhb.orchestrator.app import create_orchestrator_app

    app = create_orchestrator_app(redis_url, runs_dir, token)
    require_redis(redis_url)
    uvicorn.run(
        app, host=host, port=port, log_level="info", timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S
    )
