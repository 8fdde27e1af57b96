"""CLI entry points (group ``vlmhb.cli``): ``vlmhb serve``, ``vlmhb backend``,
``vlmhb orchestrator`` and ``vlmhb db upgrade``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from pydantic import ValidationError

from vlmhb.backend.settings import LOOPBACK_HOSTS, BackendSettings
from vlmhb.backend.tokens import WeakToken, check_token, load_or_create_token, token_file

Host = Annotated[str, typer.Option(help="address to bind")]
DataDir = Annotated[
    Path,
    typer.Option(help="database (SQLite), stored configs and the generated token (auth_token)"),
]
RunsDir = Annotated[Path, typer.Option(help="where experiment runs are written")]
NoAuth = Annotated[
    bool,
    typer.Option(
        "--no-auth",
        help="no token at all (loopback addresses only; Host and Origin are still checked)",
    ),
]
WILDCARD_HOSTS = {"0.0.0.0", "::", ""}

serve_app = typer.Typer(help="Backend + embedded orchestrator in one process.")
backend_app = typer.Typer(help="Backend alone; experiments go to ORCHESTRATOR_URL.")
orchestrator_app = typer.Typer(help="Orchestrator HTTP service (split mode, Redis events).")
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)


def _fail(message: str) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(2)


def _settings(**values: Any) -> BackendSettings:
    """``BackendSettings`` from the environment and ``values``; a weak token or another
    bad setting is a one-line message and exit code 2, not a traceback."""
    try:
        return BackendSettings(**values)
    except ValidationError as exc:
        problems = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
        _fail(f"bad setting: {problems}")


def _env_token() -> str | None:
    """``VLMHB_AUTH_TOKEN`` checked for strength (None when unset)."""
    value = os.environ.get("VLMHB_AUTH_TOKEN")
    if value is None:
        return None
    try:
        return check_token(value)
    except WeakToken as exc:
        _fail(f"refusing to start: {exc}")


def _url_host(host: str) -> str:
    if host in WILDCARD_HOSTS:
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def _serve(settings: BackendSettings, host: str, port: int) -> None:
    import uvicorn

    from vlmhb.backend.app import create_app

    if settings.no_auth and host not in LOOPBACK_HOSTS:
        _fail(
            f"refusing --no-auth on {host}: it is allowed only on a loopback address "
            "(127.0.0.1, localhost, ::1); drop --no-auth to use the token"
        )
    extra = [] if host in WILDCARD_HOSTS | LOOPBACK_HOSTS else [host]
    configured = settings.auth_token is not None
    settings = settings.model_copy(
        update={"host": host, "port": port, "allowed_hosts": [*settings.allowed_hosts, *extra]}
    )
    try:
        resolved, _ = settings.resolved().with_token()
    except WeakToken as exc:
        _fail(f"refusing to start: {exc}")
    base = f"http://{_url_host(host)}:{port}"
    typer.echo(
        f"VLMHyperBench on {base}  (db: {_safe_url(resolved.url)}, "
        f"runs: {resolved.runs_dir}, events: "
        f"{'redis' if resolved.redis_url else 'in-process'}, orchestrator: "
        f"{resolved.orchestrator_url or 'embedded'})"
    )
    # the login URL goes to the terminal only, never to a logger
    if resolved.no_auth:
        typer.echo(f"Open {base}/  (--no-auth: no token; loopback only)")
    elif configured:
        typer.echo(
            f"Open {base}/?token=<VLMHB_AUTH_TOKEN> to log in; API clients send "
            "'Authorization: Bearer <token>'"
        )
    else:
        typer.echo(
            f"Open {base}/?token={resolved.auth_token}\n  (token stored in "
            f"{token_file(resolved.data_dir)}; API clients send "
            "'Authorization: Bearer <token>')"
        )
    if host in WILDCARD_HOSTS and not resolved.allowed_hosts:
        typer.echo(
            "note: only localhost names are accepted in the Host header; set "
            "VLMHB_ALLOWED_HOSTS to the names other machines use",
            err=True,
        )
    _require_redis(resolved.redis_url)
    uvicorn.run(
        create_app(resolved),
        host=host,
        port=port,
        log_level="info",
        ws_max_size=1024 * 1024,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )


# open requests and WebSocket/SSE streams get this long at SIGTERM, then are cancelled
GRACEFUL_SHUTDOWN_S = 3


def _require_redis(url: str | None) -> None:
    """Exit with code 2 and one line when Redis at ``url`` does not answer."""
    from vlmhb.backend.events.redis_bus import redis_unreachable, safe_redis_url

    reason = redis_unreachable(url) if url else None
    if reason:
        typer.echo(
            f"error: Redis at {safe_redis_url(url or '')} is unreachable ({reason}); "
            "start it or unset REDIS_URL",
            err=True,
        )
        raise typer.Exit(2)


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
    no_auth: NoAuth = False,
) -> None:
    """Start the management backend and the orchestrator in one process (SQLite in
    DATA_DIR unless DATABASE_URL; Redis events when REDIS_URL is set). Prints the URL
    to open (it carries the token, generated on first start unless VLMHB_AUTH_TOKEN)."""
    settings = _settings(
        data_dir=data_dir, runs_dir=runs_dir, orchestrator_url=None, no_auth=no_auth
    )
    _serve(settings, host, port)


@backend_app.callback(invoke_without_command=True)
def backend(
    host: Host = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 8000,
    data_dir: DataDir = Path(".vlmhb"),
    runs_dir: RunsDir = Path("runs"),
    orchestrator_url: Annotated[
        str | None, typer.Option(envvar="ORCHESTRATOR_URL", help="the orchestrator service")
    ] = None,
    no_auth: NoAuth = False,
) -> None:
    """Start the backend alone; submissions go to the orchestrator service, events come
    back over Redis (REDIS_URL is required)."""
    if not orchestrator_url:
        _fail("vlmhb backend needs ORCHESTRATOR_URL (or use 'vlmhb serve')")
    settings = _settings(
        data_dir=data_dir, runs_dir=runs_dir, orchestrator_url=orchestrator_url, no_auth=no_auth
    )
    if not settings.redis_url:
        _fail("vlmhb backend needs REDIS_URL: events come back over Redis")
    _serve(settings, host, port)


@orchestrator_app.callback(invoke_without_command=True)
def orchestrator(
    host: Host = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 8001,
    runs_dir: RunsDir = Path("runs"),
    data_dir: DataDir = Path(".vlmhb"),
    redis_url: Annotated[
        str | None, typer.Option(envvar="REDIS_URL", help="Redis for events")
    ] = None,
) -> None:
    """Start the orchestrator service: POST /run, GET /status/{id}, GET /resources.
    Every route but /health needs the token: VLMHB_AUTH_TOKEN, else the one stored in
    DATA_DIR (generated on first start; share the data folder with `vlmhb backend`)."""
    import uvicorn

    from vlmhb.backend.orchestrator_service import create_orchestrator_app

    if not redis_url:
        _fail("vlmhb orchestrator needs REDIS_URL")
    token = _env_token()
    if token is None:
        try:
            token, _ = load_or_create_token(data_dir.expanduser().resolve())
        except WeakToken as exc:
            _fail(f"refusing to start: {exc}")
        typer.echo(f"orchestrator token: {token_file(data_dir.expanduser().resolve())}")
    app = create_orchestrator_app(redis_url, runs_dir, token)
    _require_redis(redis_url)
    uvicorn.run(
        app, host=host, port=port, log_level="info", timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S
    )


@db_app.command("upgrade")
def db_upgrade(
    data_dir: DataDir = Path(".vlmhb"),
    revision: Annotated[str, typer.Option(help="target revision")] = "head",
) -> None:
    """Apply the database migrations (DATABASE_URL, else SQLite in DATA_DIR)."""
    from vlmhb.backend.db.migrate import upgrade

    settings = _settings(data_dir=data_dir).resolved()
    upgrade(settings.url, revision)
    typer.echo(f"database at {_safe_url(settings.url)} upgraded to {revision}")
