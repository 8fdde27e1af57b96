"""Starting and stopping the API wrapper for one run.

``model_endpoint(spec, run_dir)`` yields where to send requests: ``spec.base_url`` when
the model is an ``openai`` backend without client-side rate limits (its typed params:
``requests_per_s``, ``tokens_per_min``; API key from the env var ``spec.api_key_env``, or
the ``api_key`` param), otherwise a fresh ``vlmhb-api serve`` subprocess on a free
loopback port, logging to ``run_dir/server.log``, stopped when the block ends
(``vlmhb.core.childproc``: SIGTERM, SIGKILL after ``VLMHB_STOP_GRACE_S``). The server
also exits by itself if this process dies (parent-death signal, ``--parent-pid``). The
model spec (secrets included) reaches it in a private 0600 file, never on its command
line.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from vlmhb.core.childproc import ChildProcess, ChildStartError
from vlmhb.core.contracts import ModelSpec
from vlmhb.core.errors import VlmhbError
from vlmhb.core.secrets import reveal, revealed_json, write_private
from vlmhb.inference.backends.openai_remote import OpenAIBackend, OpenAIParams

SERVER_LOG = "server.log"
HOST = "127.0.0.1"


class ServerStartError(ChildStartError):
    """The API wrapper did not become healthy; the message ends with its log tail."""


@dataclass(frozen=True)
class Endpoint:
    """An OpenAI-compatible API: ``base_url`` ends in ``/v1``."""

    base_url: str
    model: str
    api_key: str | None = None


def free_port(host: str = HOST) -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """A ``vlmhb-api serve`` subprocess for ``spec``; use as a context manager."""

    def __init__(self, spec: ModelSpec, run_dir: Path, port: int | None = None) -> None:
        self.spec = spec
        self.log_path = run_dir / SERVER_LOG
        self.port = port or free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.process: ChildProcess | None = None
        self._private: Path | None = None

    def command(self, spec_file: Path) -> list[str]:
        return [
            sys.executable,
            "-m",
            "vlmhb.inference.cli",
            "serve",
            "--model-spec",
            str(spec_file),
            "--host",
            HOST,
            "--port",
            str(self.port),
            "--parent-pid",
            str(os.getpid()),
        ]

    def _write_spec(self) -> Path:
        """The spec, secrets in clear, in a folder only this user can enter."""
        self._private = Path(tempfile.mkdtemp(prefix="vlmhb-model-"))
        return write_private(self._private / "model.json", revealed_json(self.spec))

    def _remove_spec(self) -> None:
        """The server has read its spec (it is healthy) or is gone: remove the file."""
        if self._private is not None:
            shutil.rmtree(self._private, ignore_errors=True)
            self._private = None

    def start(self) -> None:
        """Start the server and wait until ``/health`` is 200 (``ServerStartError`` if not)."""
        self.launch()
        self.wait_ready()

    def launch(self) -> None:
        """Start the server process and return at once (``wait_ready`` waits for it)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            log.write(
                f"--- vlmhb-api start {time.strftime('%Y-%m-%d %H:%M:%S')} "
                f"backend={self.spec.backend} port={self.port}\n".encode()
            )
        self.process = ChildProcess.start(
            f"model server for {self.spec.name!r} (backend {self.spec.backend})",
            self.command(self._write_spec()),
            stdout=self.log_path,
        )

    def wait_ready(self) -> None:
        """Wait until the launched server's ``/health`` is 200 (``ServerStartError`` if it
        exits or times out first; the server is stopped then)."""
        assert self.process is not None, "launch() first"
        try:
            with httpx.Client(timeout=2.0) as http:
                self.process.wait_healthy(lambda: self._healthy(http), self.spec.startup_timeout_s)
        except ChildStartError as exc:
            self.stop()
            raise ServerStartError(str(exc)) from None
        except BaseException:
            self.stop()
            raise
        finally:
            self._remove_spec()

    def _healthy(self, http: httpx.Client) -> bool:
        """``/health`` is 200; a 500 (the model failed to load) ends the wait."""
        assert self.process is not None
        try:
            response = http.get(self.url + "/health")
        except httpx.TransportError:
            return False
        if response.status_code == 500:
            detail = response.json().get("error", response.text)
            raise self.process.failure(f"failed to load the model: {detail}")
        return response.status_code == 200

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after the ``stop_grace_s`` setting."""
        self._remove_spec()
        process, self.process = self.process, None
        if process is not None:
            process.stop()

    def __enter__(self) -> ServerProcess:
        """Launch the server unless ``launch`` already did, and wait until it is ready."""
        if self.process is None:
            self.launch()
        self.wait_ready()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def direct_params(spec: ModelSpec) -> OpenAIParams | None:
    """The typed params of a model queried at its ``base_url`` directly: an ``openai``
    backend without client-side rate limits (those need the wrapper's token buckets)."""
    if not spec.base_url or spec.backend != OpenAIBackend.name:
        return None
    params = OpenAIParams.model_validate(spec.params)
    if params.requests_per_s is not None or params.tokens_per_min is not None:
        return None
    return params


def needs_server(spec: ModelSpec) -> bool:
    """Whether ``model_endpoint`` starts an API wrapper for ``spec`` (else it is queried at
    its ``base_url``)."""
    return direct_params(spec) is None


@contextlib.contextmanager
def model_endpoint(
    spec: ModelSpec, run_dir: Path, launched: ServerProcess | None = None
) -> Iterator[Endpoint]:
    """The endpoint to query for ``spec``; starts and stops a server when needed.
    ``launched`` is a server for ``spec`` started earlier (``ServerProcess.launch``, so
    that it boots while the caller prepares): it is waited for instead of a new one."""
    model = spec.model or spec.name
    params = direct_params(spec)
    if params is not None and spec.base_url:
        if spec.api_key_env:
            api_key = os.environ.get(spec.api_key_env)
            if api_key is None:
                raise VlmhbError(
                    f"model {spec.name!r}: environment variable "
                    f"{spec.api_key_env!r} (api_key_env) is not set"
                )
        else:
            api_key = reveal(params.api_key)
        yield Endpoint(spec.base_url.rstrip("/"), model, api_key)
        return
    with launched or ServerProcess(spec, run_dir) as server:
        yield Endpoint(server.url + "/v1", model)
