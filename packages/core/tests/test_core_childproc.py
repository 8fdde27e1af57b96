"""``vlmhb.core.childproc`` with real subprocesses: grace then SIGKILL, death with the
parent, health waits that name the child and show its last stderr lines."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from vlmhb.core.childproc import ChildProcess, ChildStartError

PY = sys.executable
IGNORE_TERM = (
    "import signal, sys, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "print('ready', flush=True)\n"
    "time.sleep(60)\n"
)


def gone(pid: int, within_s: float = 10.0) -> bool:
    """The process ends (or is only a zombie) within ``within_s``."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def started(lines: list[str], within_s: float = 10.0) -> None:
    deadline = time.monotonic() + within_s
    while not lines and time.monotonic() < deadline:
        time.sleep(0.02)
    assert lines, "the child printed nothing"


def test_child_ignoring_sigterm_is_killed_after_the_grace() -> None:
    lines: list[str] = []
    child = ChildProcess.start("stubborn", [PY, "-c", IGNORE_TERM], stdout=lines.append)
    started(lines)
    begun = time.monotonic()
    code = child.stop(grace_s=0.5)
    took = time.monotonic() - begun
    assert code == -signal.SIGKILL
    assert 0.5 <= took < 5


def test_grace_comes_from_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VLMHB_STOP_GRACE_S", "0.3")
    lines: list[str] = []
    child = ChildProcess.start("stubborn", [PY, "-c", IGNORE_TERM], stdout=lines.append)
    started(lines)
    begun = time.monotonic()
    assert child.stop() == -signal.SIGKILL
    assert 0.3 <= time.monotonic() - begun < 3


def test_polite_child_ends_on_sigterm_and_its_group_goes_too(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    script = textwrap.dedent(
        f"""
        import subprocess, sys, time
        grandchild = subprocess.Popen([sys.executable, "-c", {IGNORE_TERM!r}])
        open({str(pid_file)!r}, "w").write(str(grandchild.pid))
        print("ready", flush=True)
        time.sleep(60)
        """
    )
    lines: list[str] = []
    child = ChildProcess.start("parent-of-one", [PY, "-c", script], stdout=lines.append)
    started(lines)
    grandchild = int(pid_file.read_text())
    begun = time.monotonic()
    assert child.stop(grace_s=5) == -signal.SIGTERM
    assert time.monotonic() - begun < 4  # the leader ended at once
    assert gone(grandchild)  # a worker that ignores SIGTERM gets the group's SIGKILL


def test_child_dies_when_its_parent_is_sigkilled(tmp_path: Path) -> None:
    sleeper = "import time; time.sleep(60)"
    parent_script = textwrap.dedent(
        f"""
        import sys, time
        from vlmhb.core.childproc import ChildProcess
        child = ChildProcess.start("orphan", [sys.executable, "-c", {sleeper!r}])
        print(child.pid, flush=True)
        time.sleep(60)
        """
    )
    parent = subprocess.Popen([PY, "-c", parent_script], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child_pid = int(parent.stdout.readline())
    assert not gone(child_pid, within_s=0.2)
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    assert gone(child_pid)


def test_wait_healthy_times_out_naming_the_child_and_its_last_stderr_lines() -> None:
    script = (
        "import sys, time\n"
        "for i in range(50): print(f'loading shard {i}', file=sys.stderr, flush=True)\n"
        "time.sleep(60)\n"
    )
    child = ChildProcess.start("slow-server", [PY, "-c", script], stderr=lambda line: None)
    try:
        with pytest.raises(ChildStartError) as caught:
            child.wait_healthy(lambda: False, timeout_s=1.0)
    finally:
        child.stop(grace_s=1)
    message = str(caught.value)
    assert message.startswith(f"slow-server (pid {child.pid}) was not healthy after 1 s")
    assert "loading shard 49" in message and "loading shard 0\n" not in message


def test_wait_healthy_reports_an_early_exit_with_the_log_file_tail(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    log.write_text("an older start\n", encoding="utf-8")
    script = "import sys; print('bad weights', file=sys.stderr); sys.exit(3)"
    child = ChildProcess.start("model server", [PY, "-c", script], stdout=log)
    with pytest.raises(ChildStartError) as caught:
        child.wait_healthy(lambda: False, timeout_s=30)
    message = str(caught.value)
    assert "model server" in message and "exited with code 3 during startup" in message
    assert str(log) in message and "bad weights" in message
    assert "an older start" not in message


def test_wait_healthy_returns_once_the_probe_is_true(tmp_path: Path) -> None:
    flag = tmp_path / "up"
    script = (
        f"import pathlib, time; time.sleep(0.3); pathlib.Path({str(flag)!r}).touch(); "
        "time.sleep(60)"
    )
    child = ChildProcess.start("flagger", [PY, "-c", script])
    try:
        child.wait_healthy(flag.exists, timeout_s=10)
    finally:
        assert child.stop(grace_s=2) == -signal.SIGTERM


async def test_wait_async_delivers_every_line_before_it_returns() -> None:
    lines: list[str] = []
    loop = asyncio.get_running_loop()
    script = "for i in range(200): print(i)\nimport sys; print('done', file=sys.stderr)"
    child = ChildProcess.start(
        "counter",
        [PY, "-c", script],
        stdout=lambda line: loop.call_soon_threadsafe(lines.append, line),
        stderr=lambda line: None,
    )
    assert await child.wait_async() == 0
    assert lines == [str(i) for i in range(200)]
    assert child.tail() == "done"
