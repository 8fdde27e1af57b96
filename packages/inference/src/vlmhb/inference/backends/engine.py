"""``vllm`` and ``sglang`` backends: start the engine's own OpenAI server and proxy to it.

At load the engine runs as a child process (``vlmhb.core.childproc``: its own process
group, SIGTERM if the wrapper dies) on a free loopback port; the backend waits for its
health endpoint, then forwards chat requests (streaming too) as the ``openai`` backend
does. At unload the whole group gets SIGTERM, then SIGKILL after the ``stop_grace_s``
setting (``VLMHB_STOP_GRACE_S``), so no engine worker is left.

Spec: ``model_path`` (or ``model``) is the weights given to the engine; the engine serves
them as ``model`` (or ``name``). Params, besides those of the ``openai`` backend:

- ``engine_args``: extra arguments, a list of strings or a dict (``{"max_model_len": 4096,
  "enforce_eager": true}`` → ``--max-model-len 4096 --enforce-eager``);
- ``python`` (default this interpreter), ``command`` (a list or a string replacing the
  default command; ``{host}``, ``{port}``, ``{model}``, ``{served_model_name}`` are
  substituted), ``env`` (extra environment variables), ``port`` (default: a free one),
  ``health_path`` (default ``/health``), ``startup_timeout_s`` (default the spec's).
Engine output goes to the wrapper's log (logger ``vlmhb.engine.<backend>``), with values
of arguments naming a key, token or secret masked in the logged command.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shlex
import sys
from typing import Annotated, Any

import httpx
from pydantic import Field

from vlmhb.core.childproc import ChildProcess
from vlmhb.core.contracts import ModelSpec
from vlmhb.core.fieldtypes import OPERATOR
from vlmhb.core.secrets import is_secret_name, reveal, revealed
from vlmhb.inference.backends.base import BackendError
from vlmhb.inference.backends.openai_remote import OpenAIBackend, OpenAIParams
from vlmhb.inference.launcher import free_port

HOST = "127.0.0.1"
OUTPUT_TAIL_LINES = 40


def engine_arguments(value: Any) -> list[str]:
    """``engine_args`` as command-line arguments (a list as is, a dict as ``--flags``)."""
    if value is None:
        return []
    value = reveal(value)
    if isinstance(value, str):
        return shlex.split(value)
    if isinstance(value, list):
        return [str(reveal(item)) for item in value]
    if not isinstance(value, dict):
        raise ValueError(f"engine_args must be a list or a dict, got {type(value).__name__}")
    args: list[str] = []
    for key, item in value.items():
        item = reveal(item)
        flag = "--" + str(key).replace("_", "-")
        if item is True:
            args.append(flag)
        elif item is False or item is None:
            continue
        elif isinstance(item, dict | list):
            args += [flag, json.dumps(revealed(item))]
        else:
            args += [flag, str(item)]
    return args


def masked(command: list[str]) -> str:
    """The command as a shell line, values of secret-looking flags replaced by ``***``."""
    out: list[str] = []
    hide_next = False
    for arg in command:
        flag, eq, _ = arg.partition("=")
        secret = arg.startswith("--") and is_secret_name(flag)
        if hide_next:
            out.append("***")
        elif secret and eq:
            out.append(f"{shlex.quote(flag)}=***")
        else:
            out.append(shlex.quote(arg))
        hide_next = secret and not eq
    return " ".join(out)


class EngineParams(OpenAIParams):
    """The engine's params (plus the ``openai`` ones); its launch settings name a program
    and its command line: operator only."""

    command: Annotated[
        list[Any] | str | None,
        OPERATOR,
        Field(
            description="replaces the engine command ({host}, {port}, {model}, "
            "{served_model_name} substituted)"
        ),
    ] = None
    python: Annotated[
        str | None,
        OPERATOR,
        Field(description="Python of the engine's environment (default this interpreter)"),
    ] = None
    engine_args: Annotated[
        list[Any] | dict[str, Any] | str | None,
        OPERATOR,
        Field(description="extra engine arguments: a list, or a dict of --flags"),
    ] = None
    env: Annotated[
        dict[str, Any] | None,
        OPERATOR,
        Field(description="extra environment variables of the engine"),
    ] = None
    port: int = Field(0, ge=0, le=65535, description="engine port (0: a free one)")
    health_path: str = Field("/health", pattern="^/", description="engine health URL path")
    startup_timeout_s: float | None = Field(
        None, gt=0, description="time to become healthy (default the spec's)"
    )
    check_on_load: bool = Field(False, description="GET /models once healthy")


class EngineBackend(OpenAIBackend):
    """Runs an OpenAI-compatible engine server as a child and proxies to it."""

    name = "engine"
    Params = EngineParams
    p: EngineParams
    module = ""
    model_flag = "--model"

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__(spec)
        p = self.p
        self.weights = spec.model_path or spec.model
        if not self.weights and p.command is None:
            raise ValueError(f"backend {self.name}: the model spec needs model_path or model")
        self.health_path = p.health_path
        self.startup_timeout_s = p.startup_timeout_s or spec.startup_timeout_s
        self.port = p.port
        self.process: ChildProcess | None = None
        self._engine_log = logging.getLogger(f"vlmhb.engine.{self.name}")

    def command(self) -> list[str]:
        """The engine command line for ``self.port``."""
        values = {
            "{host}": HOST,
            "{port}": str(self.port),
            "{model}": self.weights or "",
            "{served_model_name}": self.model,
        }
        custom = self.p.command
        if custom is None:
            python = self.p.python or sys.executable
            base = [
                python,
                "-m",
                self.module,
                self.model_flag,
                "{model}",
                "--host",
                "{host}",
                "--port",
                "{port}",
                "--served-model-name",
                "{served_model_name}",
            ]
        else:
            base = (
                shlex.split(custom) if isinstance(custom, str) else [str(reveal(a)) for a in custom]
            )
        args = [*base, *engine_arguments(self.p.engine_args)]
        for placeholder, value in values.items():
            args = [arg.replace(placeholder, value) for arg in args]
        return args

    async def load(self) -> None:
        """Start the engine, wait until it is healthy, then open the proxy client."""
        self.port = self.port or free_port(HOST)
        self.base_url = f"http://{HOST}:{self.port}/v1"
        command = self.command()
        self._engine_log.info("starting %s engine: %s", self.name, masked(command))
        env = {**os.environ, **{str(k): str(reveal(v)) for k, v in (self.p.env or {}).items()}}
        try:
            self.process = ChildProcess.start(
                f"the {self.name} engine",
                command,
                env=env,
                stdout=lambda line: self._engine_log.info("%s", line),
                tail_lines=OUTPUT_TAIL_LINES,
            )
        except OSError as exc:
            raise BackendError(
                f"cannot start the {self.name} engine ({command[0]}): {exc}"
            ) from exc
        try:
            await asyncio.to_thread(self._wait_healthy, self.process)
            await super().load()
        except BaseException:
            await self._stop()
            raise

    def _wait_healthy(self, process: ChildProcess) -> None:
        url = f"http://{HOST}:{self.port}{self.health_path}"
        with httpx.Client(timeout=2.0) as http:

            def healthy() -> bool:
                try:
                    return http.get(url).status_code == 200
                except httpx.TransportError:
                    return False

            process.wait_healthy(healthy, self.startup_timeout_s, interval_s=0.2)

    async def _stop(self) -> None:
        """SIGTERM to the engine's process group, SIGKILL to what is left after the grace."""
        process, self.process = self.process, None
        if process is None:
            return
        code = await process.stop_async()
        self._engine_log.info("%s engine stopped (exit code %s)", self.name, code)

    async def unload(self) -> None:
        await super().unload()
        await self._stop()

    def info(self) -> dict[str, Any]:
        return {
            **super().info(),
            "engine_command": masked(self.command()),
            "engine_pid": self.process.pid if self.process else None,
        }


class VllmBackend(EngineBackend):
    """vLLM's OpenAI server (``python -m vllm.entrypoints.openai.api_server``)."""

    name = "vllm"
    module = "vllm.entrypoints.openai.api_server"
    model_flag = "--model"


class SglangBackend(EngineBackend):
    """SGLang's server (``python -m sglang.launch_server``)."""

    name = "sglang"
    module = "sglang.launch_server"
    model_flag = "--model-path"
