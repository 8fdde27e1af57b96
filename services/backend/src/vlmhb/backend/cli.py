"""CLI entry points (group ``vlmhb.cli``): ``vlmhb serve``, ``vlmhb backend`` and
``vlmhb db upgrade`` (``vlmhb orchestrator`` is ``vlmhb.orchestrator.cli``)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from vlmhb.backend.settings import LOOPBACK_HOSTS, BackendSettings
from vlmhb.orchestrator.cli import GRACEFUL_SHUTDOWN_S, Host, RunsDir, fail, require_redis
from vlmhb.orchestrator.tokens import WeakToken, token_file

DataDir = Annotated[
    Path,
    typer.Option(help="database (SQLite), stored configs and the generated token (auth_token)"),
]
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
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)


def _settings(**values: Any) -> BackendSettings:
    """``BackendSettings`` from the environment and ``values``; a weak token or another
    bad setting is a one-line message and exit code 2, not a traceback."""
    try:
        return BackendSettings(**values)
    except ValidationError as exc:
        problems = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
        fail(f"bad setting: {problems}")


def login_hint(base: str, resolved: BackendSettings, configured: bool, terminal: bool) -> str:
    """The line that says how to log in. The generated token is printed only to a terminal:
    piped or in a container, stdout is a log (``docker logs``) and secrets never go to a log,
    so the line names the token's file instead."""
    if resolved.no_auth:
        return f"Open {base}/  (--no-auth: no token; loopback only)"
    clients = "API clients send 'Authorization: Bearer <token>'"
    if configured:
        return f"Open {base}/?token=<VLMHB_AUTH_TOKEN> to log in; {clients}"
    stored = token_file(resolved.data_dir)
    if not terminal:
        return f"Open {base}/?token=<the token in {stored}> to log in; {clients}"
    return f"Open {base}/?token={resolved.auth_token}\n  (token stored in {stored}; {clients})"


def _url_host(host: str) -> str:
    if host in WILDCARD_HOSTS:
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def _serve(settings: BackendSettings, host: str, port: int) -> None:
    import uvicorn

    from vlmhb.backend.app import create_app

    if settings.no_auth and host not in LOOPBACK_HOSTS:
        fail(
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
        fail(f"refusing to start: {exc}")
    base = f"http://{_url_host(host)}:{port}"
    typer.echo(
        f"VLMHyperBench on {base}  (db: {_safe_url(resolved.url)}, "
        f"runs: {resolved.runs_dir}, events: "
        f"{'redis' if resolved.redis_url else 'in-process'}, orchestrator: "
        f"{resolved.orchestrator_url or 'embedded'})"
    )
    typer.echo(login_hint(base, resolved, configured, terminal=sys.stdout.isatty()))
    if host in WILDCARD_HOSTS and not resolved.allowed_hosts:
        typer.echo(
            "note: only localhost names are accepted in the Host header; set "
            "VLMHB_ALLOWED_HOSTS to the names other machines use",
            err=True,
        )
    require_redis(resolved.redis_url)
    uvicorn.run(
        create_app(resolved),
        host=host,
        port=port,
        log_level="info",
        ws_max_size=1024 * 1024,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )


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
        fail("vlmhb backend needs ORCHESTRATOR_URL (or use 'vlmhb serve')")
    settings = _settings(
        data_dir=data_dir, runs_dir=runs_dir, orchestrator_url=orchestrator_url, no_auth=no_auth
    )
    if not settings.redis_url:
        fail("vlmhb backend needs REDIS_URL: events come back over Redis")
    _serve(settings, host, port)


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
