"""``fcntl.flock`` locks on files that may be removed while others wait for them."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType


class HeldLock:
    """A lock held on ``path`` until ``release`` (or the ``with`` block's end)."""

    def __init__(self, fd: int, path: Path) -> None:
        self.fd = fd
        self.path = path

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)  # closing the file releases the flock
            self.fd = -1

    def remove(self) -> None:
        """Remove the lock file (held exclusively), then release it."""
        self.path.unlink(missing_ok=True)
        self.release()

    def __enter__(self) -> HeldLock:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


def acquire(path: Path, shared: bool = False, blocking: bool = True) -> HeldLock | None:
    """Lock ``path`` (created if missing): shared or exclusive; None when ``blocking`` is
    off and another holds it. A file removed while we waited (``HeldLock.remove``) is not
    a lock any more: the new file at ``path`` is locked instead. flock locks belong to the
    open file, so they exclude other threads of this process as well as other processes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | (0 if blocking else fcntl.LOCK_NB)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, mode)
        except BlockingIOError:
            os.close(fd)
            return None
        except BaseException:
            os.close(fd)
            raise
        try:
            current = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            current = False
        if current:
            return HeldLock(fd, path)
        os.close(fd)


def lock(path: Path, shared: bool = False) -> HeldLock:
    """``acquire``, waiting as long as it takes."""
    held = acquire(path, shared=shared)
    assert held is not None
    return held
