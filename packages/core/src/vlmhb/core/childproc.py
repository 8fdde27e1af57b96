"""Child processes: start, wait until healthy, stop with a grace; they die with us.

Every child (a stage process, a model server, an inference engine) is started through
``ChildProcess.start``: in its own session and process group, stdin closed, and with
Linux's parent-death signal set (``die_with_parent``), so it gets SIGTERM when the thread
that started it, or this process, dies, even by SIGKILL. Start children from a long-lived
thread (the event loop's or the main one), never from a worker thread that ends.

``stop`` sends SIGTERM to the child's whole group, waits the grace, then sends SIGKILL to
what is left of the group (workers the child forked included). The grace is one setting,
``Settings.stop_grace_s`` (``VLMHB_STOP_GRACE_S``, seconds, default 10): a stage process
uses it to finish the requests in flight and write its result, a model server or engine
to shut down cleanly.

Output of each stream goes to a file (``Path``: appended by the OS, nothing read here),
to a line callback (``Callable[[str], object]``: called from a reader thread with each line,
newline removed), or nowhere (``None``); ``stderr="stdout"`` merges stderr into stdout.
The last lines of the stderr stream are kept for error messages (``tail``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Literal

from vlmhb.core.errors import VlmhbError
from vlmhb.core.proc import die_with_parent

LineSink = Callable[[str], object]
Output = Path | LineSink | None
TAIL_LINES = 30
POLL_S = 0.05
CANCEL_DEADLINE_S = 5.0  # a cancelled stage's container is gone within this (issue 9)


class ChildStartError(VlmhbError):
    """A child did not become healthy; the message names it and ends with its last output."""


def stop_grace_s() -> float:
    """The configured grace between SIGTERM and SIGKILL (``VLMHB_STOP_GRACE_S``)."""
    from vlmhb.core.settings import Settings

    return Settings().stop_grace_s


class ChildProcess:
    """A started child; see the module docstring. ``name`` appears in every message."""

    def __init__(
        self,
        name: str,
        popen: subprocess.Popen[bytes],
        readers: list[threading.Thread],
        tail: deque[str],
        tail_file: tuple[Path, int] | None,
    ) -> None:
        self.name = name
        self.popen = popen
        self._readers = readers
        self._tail = tail
        self._tail_file = tail_file

    @classmethod
    def start(
        cls,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        stdout: Output = None,
        stderr: Output | Literal["stdout"] = "stdout",
        tail_lines: int = TAIL_LINES,
    ) -> ChildProcess:
        """Start ``argv``; ``OSError`` if the program cannot be started."""
        tail: deque[str] = deque(maxlen=tail_lines)
        tail_file: tuple[Path, int] | None = None
        error_stream = stdout if stderr == "stdout" else stderr
        if isinstance(error_stream, Path):
            tail_file = (error_stream, _size(error_stream))
        with contextlib.ExitStack() as files:
            out = _target(stdout, files)
            err = subprocess.STDOUT if stderr == "stdout" else _target(stderr, files)
            popen = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env=dict(env) if env is not None else None,
                start_new_session=True,
                preexec_fn=die_with_parent(),
            )
        readers = []
        for stream, sink, keep in (
            (popen.stdout, stdout, stderr == "stdout"),
            (popen.stderr, stderr, True),
        ):
            if stream is not None and callable(sink):
                reader = threading.Thread(
                    target=_read_lines,
                    args=(stream, sink, tail if keep else None),
                    name=f"{name}-output",
                    daemon=True,
                )
                reader.start()
                readers.append(reader)
        return cls(name, popen, readers, tail, tail_file)

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def returncode(self) -> int | None:
        """The exit code, None while it runs."""
        return self.popen.poll()

    def tail(self) -> str:
        """The last lines of its stderr (or merged) output."""
        if self._tail_file is not None:
            path, start = self._tail_file
            return _file_tail(path, start, self._tail.maxlen or TAIL_LINES)
        return "\n".join(self._tail) or "(no output)"

    def failure(self, reason: str) -> ChildStartError:
        """An error naming the child and ending with its last output lines."""
        where = f" of {self._tail_file[0]}" if self._tail_file else ""
        return ChildStartError(
            f"{self.name} (pid {self.pid}) {reason}; last output lines{where}:\n{self.tail()}"
        )

    def wait_healthy(
        self, probe: Callable[[], bool], timeout_s: float, interval_s: float = 0.1
    ) -> None:
        """Call ``probe`` until it is true; ``ChildStartError`` if the child exits first
        or ``timeout_s`` passes. ``probe`` may raise (e.g. ``failure(...)``) to give up."""
        deadline = time.monotonic() + timeout_s
        while True:
            if (code := self.returncode) is not None:
                self._join_readers(2.0)
                raise self.failure(f"exited with code {code} during startup")
            if probe():
                return
            if time.monotonic() > deadline:
                raise self.failure(f"was not healthy after {timeout_s:g} s")
            time.sleep(interval_s)

    def wait(self) -> int:
        """Wait until it exits and its output is read; the exit code."""
        code = self.popen.wait()
        self._join_readers(None)
        return code

    async def wait_async(self) -> int:
        """``wait`` for the event loop (polls; holds no thread)."""
        while self.popen.poll() is None or any(r.is_alive() for r in self._readers):
            await asyncio.sleep(POLL_S)
        await asyncio.sleep(0)  # lines the readers handed to the loop go first
        return self.popen.wait()

    def stop(self, grace_s: float | None = None) -> int:
        """SIGTERM to its group, SIGKILL to what is left after ``grace_s`` (default the
        ``stop_grace_s`` setting; 0: SIGKILL at once); the exit code."""
        grace = stop_grace_s() if grace_s is None else grace_s
        if grace > 0 and self.popen.poll() is None:
            _signal_group(self.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=grace)
        _signal_group(self.pid, signal.SIGKILL)
        code = self.popen.wait()
        self._join_readers(2.0)
        return code

    async def stop_async(self, grace_s: float | None = None) -> int:
        """``stop`` off the event loop (it goes on if the caller is cancelled)."""
        return await asyncio.to_thread(self.stop, grace_s)

    def _join_readers(self, timeout_s: float | None) -> None:
        for reader in self._readers:
            reader.join(timeout_s)


def _target(output: Output, files: contextlib.ExitStack) -> int | IO[bytes]:
    if output is None:
        return subprocess.DEVNULL
    if isinstance(output, Path):
        output.parent.mkdir(parents=True, exist_ok=True)
        return files.enter_context(output.open("ab"))
    return subprocess.PIPE


def _read_lines(stream: IO[bytes], sink: LineSink, tail: deque[str] | None) -> None:
    with stream:
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if tail is not None:
                tail.append(line)
            sink(line)


def _signal_group(group: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, signum)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _file_tail(path: Path, start: int, lines: int) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(start)
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return "(no output file)"
    return "\n".join(text.splitlines()[-lines:]) or "(no output)"
