"""Starting and stopping the API wrapper for one run.

``model_endpoint(spec, run_dir)`` yields where to send requests: ``spec.base_url`` when
the model is an already running server without client-side rate limits (API key from
the env var ``spec.api_key_env``),
otherwise a fresh ``vlmhb-api serve`` subprocess on a free loopback port, logging to
``run_dir/server.log``, stopped (SIGTERM, then SIGKILL) when the block ends. The server
also exits by itself if this process dies (``--parent-pid``). The model spec (secrets
included) reaches it in a private 0600 file, never on its command line.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from vlmhb.core.contracts import ModelSpec
from vlmhb.core.errors import VlmhbError
from vlmhb.core.secrets import reveal, revealed_json, write_private

SERVER_LOG = "server.log"
HOST = "127.0.0.1"


class ServerStartError(VlmhbError):
    """The API wrapper did not become healthy; the message ends with its log tail."""


RATE_LIMIT_PARAMS = {"requests_per_s", "tokens_per_min"}


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


def log_tail(path: Path, start: int = 0, lines: int = 20) -> str:
    """The last ``lines`` lines of ``path`` written after byte ``start``."""
    try:
        with path.open("rb") as handle:
            handle.seek(start)
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return "(no server log)"
    return "\n".join(text.splitlines()[-lines:]) or "(server log is empty)"


class ServerProcess:
    """A ``vlmhb-api serve`` subprocess for ``spec``; use as a context manager."""

    def __init__(self, spec: ModelSpec, run_dir: Path, port: int | None = None) -> None:
        self.spec = spec
        self.log_path = run_dir / SERVER_LOG
        self.port = port or free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self._log_start = 0
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
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._log_start = log.tell()
            log.write(
                f"--- vlmhb-api start {time.strftime('%Y-%m-%d %H:%M:%S')} "
                f"backend={self.spec.backend} port={self.port}\n".encode()
            )
            log.flush()
            self.process = subprocess.Popen(
                self.command(self._write_spec()),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        try:
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise
        finally:
            self._remove_spec()

    def _fail(self, reason: str) -> ServerStartError:
        tail = log_tail(self.log_path, self._log_start)
        return ServerStartError(
            f"model server for {self.spec.name!r} "
            f"(backend {self.spec.backend}) {reason}; "
            f"last lines of {self.log_path}:\n{tail}"
        )

    def _wait_healthy(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self.spec.startup_timeout_s
        with httpx.Client(timeout=2.0) as http:
            while True:
                code = self.process.poll()
                if code is not None:
                    raise self._fail(f"exited with code {code} during startup")
                with contextlib.suppress(httpx.TransportError):
                    response = http.get(self.url + "/health")
                    if response.status_code == 200:
                        return
                    if response.status_code == 500:
                        detail = response.json().get("error", response.text)
                        raise self._fail(f"failed to load the model: {detail}")
                if time.monotonic() > deadline:
                    raise self._fail(
                        f"was not healthy after {self.spec.startup_timeout_s:g} s "
                        "(startup_timeout_s)"
                    )
                time.sleep(0.1)

    def stop(self, grace_s: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after ``grace_s``."""
        self._remove_spec()
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def model_endpoint(spec: ModelSpec, run_dir: Path) -> Iterator[Endpoint]:
    """The endpoint to query for ``spec``; starts and stops a server when needed.

    A ``base_url`` model is queried directly, unless it sets client-side rate limits: then
    the wrapper (its ``openai`` backend holds the token buckets) sits in between."""
    model = spec.model or spec.name
    if spec.base_url and not RATE_LIMIT_PARAMS & set(spec.params):
        api_key = (
            os.environ.get(spec.api_key_env)
            if spec.api_key_env
            else reveal(spec.params.get("api_key"))
        )
        if spec.api_key_env and api_key is None:
            raise VlmhbError(
                f"model {spec.name!r}: environment variable "
                f"{spec.api_key_env!r} (api_key_env) is not set"
            )
        yield Endpoint(spec.base_url.rstrip("/"), model, api_key)
        return
    with ServerProcess(spec, run_dir) as server:
        yield Endpoint(server.url + "/v1", model)
