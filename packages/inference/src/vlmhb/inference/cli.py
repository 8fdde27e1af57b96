"""``vlmhb-api serve``: run the API wrapper over a registered backend.

Example::

    vlmhb-api serve --backend scripted --port 8000 --param latency_ms=20 --param rule=echo

The API key is taken only from the environment (``VLMHB_API_KEY``), never from a flag,
so it does not show in process listings or logs.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vlmhb.core.contracts import ModelSpec
from vlmhb.core.errors import VlmhbError
from vlmhb.core.registries import get_registries
from vlmhb.inference.backends.base import Backend


def parse_param(text: str) -> tuple[str, Any]:
    """``key=value``; the value is read as JSON when it parses, else kept as a string."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"--param wants key=value, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def build_spec(args: argparse.Namespace) -> ModelSpec:
    """The ``ModelSpec`` from ``--model-spec`` (JSON text or a file) and the other flags."""
    data: dict[str, Any] = {}
    if args.model_spec:
        raw = args.model_spec.strip()
        text = raw if raw.startswith("{") else Path(raw).read_text(encoding="utf-8")
        data = json.loads(text)
    data.setdefault("name", args.backend or data.get("backend", "model"))
    if args.backend:
        data["backend"] = args.backend
    if args.model:
        data["model_path"] = args.model
    data["params"] = {**data.get("params", {}), **dict(args.param)}
    return ModelSpec.model_validate(data)


def make_backend(spec: ModelSpec) -> Backend:
    """Instantiate the backend class registered under ``spec.backend``."""
    backend_class: type[Backend] = get_registries().models.get(spec.backend)
    return backend_class(spec)


def watch_parent(pid: int, interval_s: float = 0.5) -> None:
    """Terminate this process (SIGTERM, graceful) once process ``pid`` is gone."""

    def watch() -> None:
        while os.getppid() == pid:
            time.sleep(interval_s)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from vlmhb.inference.server import ServerConfig, create_app

    logging.basicConfig(
        level=args.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    spec = build_spec(args)
    backend = make_backend(spec)
    if args.parent_pid:
        watch_parent(args.parent_pid)
    config: dict[str, Any] = {
        "host": args.host,
        "port": args.port,
        "access_log": False,
        "log_level": args.log_level,
        "timeout_graceful_shutdown": 5,
    }
    server_config = ServerConfig.from_env(
        [Path(p) for p in args.allowed_root], args.max_image_bytes
    )
    uvicorn.run(create_app(backend, server_config), **config)
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="vlmhb-api", description="VLMHyperBench API wrapper")
    commands = root.add_subparsers(dest="command", required=True)
    run = commands.add_parser("serve", help="serve a backend as an OpenAI-compatible API")
    run.add_argument("--backend", help="backend name in the model registry")
    run.add_argument("--port", type=int, default=8000)
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--model-spec", help="ModelSpec as JSON text or a JSON file path")
    run.add_argument("--model", help="model path (ModelSpec.model_path)")
    run.add_argument(
        "--param",
        type=parse_param,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="backend parameter (JSON value or string)",
    )
    run.add_argument(
        "--allowed-root",
        action="append",
        default=[],
        metavar="DIR",
        help="folder whose files may be sent as file:// image URLs "
        "(repeatable; also VLMHB_API_ALLOWED_ROOTS)",
    )
    run.add_argument(
        "--max-image-bytes",
        type=int,
        default=None,
        metavar="N",
        help="largest accepted image in bytes (default 20 MiB)",
    )
    run.add_argument(
        "--parent-pid", type=int, help="exit when this process is gone (used by the launcher)"
    )
    run.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
    )
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if not args.backend and not args.model_spec:
        parser().error("serve needs --backend or --model-spec")
    try:
        return serve(args)
    except (VlmhbError, ValueError, OSError) as exc:
        print(f"vlmhb-api: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
