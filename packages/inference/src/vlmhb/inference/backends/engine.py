"""``vllm`` and ``sglang`` backends: start the engine's own OpenAI server and proxy to it.

At load the engine runs as a subprocess in its own process group on a free loopback port
(it also gets SIGTERM if the wrapper dies); the backend waits for its health endpoint,
then forwards chat requests (streaming too) as the ``openai`` backend does. At unload the
whole group gets SIGTERM, then SIGKILL after ``stop_grace_s``, so no engine worker is left.

Spec: ``model_path`` (or ``model``) is the weights given to the engine; the engine serves
them as ``model`` (or ``name``). Params, besides those of the ``openai`` backend:

- ``engine_args``: extra arguments, a list of strings or a dict (``{"max_model_len": 4096,
  "enforce_eager": true}`` → ``--max-model-len 4096 --enforce-eager``);
- ``python`` (default this interpreter), ``command`` (a list or a string replacing the
  default command; ``{host}``, ``{port}``, ``{model}``, ``{served_model_name}`` are
  substituted), ``env`` (extra environment variables), ``port`` (default: a free one),
  ``health_path`` (default ``/health``), ``startup_timeout_s`` (default the spec's),
  ``stop_grace_s`` (default 15).
Engine output goes to the wrapper's log (logger ``vlmhb.engine.<backend>``), with values
of arguments naming a key, token or secret masked in the logged command.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shlex
import signal
import sys
import time
from collections import deque
from typing import Annotated, Any

import httpx
from pydantic import Field

from vlmhb.core.contracts import ModelSpec
from vlmhb.core.fieldtypes import OPERATOR
from vlmhb.core.proc import die_with_parent
from vlmhb.core.secrets import is_secret_name, reveal, revealed
from vlmhb.inference.backends.base import BackendError
from vlmhb.inference.backends.openai_remote import OpenAIBackend, OpenAIParams
from vlmhb.inference.launcher import free_port

HOST = "127.0.0.1"


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
    stop_grace_s: float = Field(15.0, ge=0, description="SIGTERM to SIGKILL delay")
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
        self.stop_grace_s = p.stop_grace_s
        self.port = p.port
        self.process: asyncio.subprocess.Process | None = None
        self.output_tail: deque[str] = deque(maxlen=40)
        self._reader: asyncio.Task[None] | None = None
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
            self.process = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                env=env,
                start_new_session=True,
                preexec_fn=die_with_parent(),
            )
        except OSError as exc:
            raise BackendError(
                f"cannot start the {self.name} engine ({command[0]}): {exc}"
            ) from exc
        self._reader = asyncio.create_task(self._read_output(self.process))
        try:
            await self._wait_healthy(self.process)
            await super().load()
        except BaseException:
            await self._stop()
            raise

    async def _read_output(self, process: asyncio.subprocess.Process) -> None:
        """Send engine output lines to the log and keep the last ones for errors."""
        assert process.stdout is not None
        pending = b""
        while chunk := await process.stdout.read(65536):
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                self._line(line)
        if pending:
            self._line(pending)

    def _line(self, raw: bytes) -> None:
        line = raw.decode("utf-8", errors="replace").rstrip()
        self.output_tail.append(line)
        self._engine_log.info("%s", line)

    def _tail(self) -> str:
        return "\n".join(self.output_tail) or "(no output)"

    async def _wait_healthy(self, process: asyncio.subprocess.Process) -> None:
        url = f"http://{HOST}:{self.port}{self.health_path}"
        deadline = time.monotonic() + self.startup_timeout_s
        async with httpx.AsyncClient(timeout=2.0) as http:
            while True:
                if process.returncode is not None:
                    await self._drain()
                    raise BackendError(
                        f"the {self.name} engine exited with code {process.returncode} "
                        f"during startup; last output:\n{self._tail()}"
                    )
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get(url)).status_code == 200:
                        return
                if time.monotonic() > deadline:
                    raise BackendError(
                        f"the {self.name} engine was not healthy at {url} after "
                        f"{self.startup_timeout_s:g} s; last output:\n{self._tail()}"
                    )
                await asyncio.sleep(0.2)

    async def _drain(self) -> None:
        if self._reader is not None:
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self._reader), 2.0)

    async def _stop(self) -> None:
        """SIGTERM to the engine's process group, SIGKILL to what is left after the grace."""
        process, self.process = self.process, None
        if process is None:
            return
        group = process.pid  # the leader of its own session and group
        if process.returncode is None:
            _signal_group(group, signal.SIGTERM)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(process.wait(), self.stop_grace_s)
        _signal_group(group, signal.SIGKILL)
        await process.wait()
        await self._drain()
        if self._reader is not None:
            self._reader.cancel()
        self._engine_log.info("%s engine stopped (exit code %s)", self.name, process.returncode)

    async def unload(self) -> None:
        await super().unload()
        await self._stop()

    def info(self) -> dict[str, Any]:
        return {
            **super().info(),
            "engine_command": masked(self.command()),
            "engine_pid": self.process.pid if self.process else None,
        }


def _signal_group(group: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, signum)


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
