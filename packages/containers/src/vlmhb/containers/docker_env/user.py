"""The user a stage container runs as: never root.

A host user that is not root runs its containers as itself (``uid:gid``), so what a
stage writes in the run folder is the user's own. When the host user is root, containers
run as ``1000:1000`` (the ``vlmhb`` user of the project's images) and the folders a stage
writes, and its private task file, are handed to that user first (``chown -R``); root on
the host can still read and write them."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

IMAGE_UID = 1000
IMAGE_GID = 1000


@dataclass(frozen=True)
class ContainerUser:
    uid: int
    gid: int

    @classmethod
    def for_host(cls) -> ContainerUser:
        if os.geteuid() == 0:
            return cls(IMAGE_UID, IMAGE_GID)
        return cls(os.geteuid(), os.getegid())

    @property
    def spec(self) -> str:
        """Docker's ``user`` option."""
        return f"{self.uid}:{self.gid}"

    def give(self, path: Path) -> None:
        """Hand ``path`` (and everything under it) to this user when it is not the host's
        own (the host user is root); a no-op otherwise."""
        if (self.uid, self.gid) == (os.geteuid(), os.getegid()):
            return
        os.chown(path, self.uid, self.gid, follow_symlinks=False)
        if not path.is_dir() or path.is_symlink():
            return
        for folder, dirs, files in os.walk(path):
            for name in (*dirs, *files):
                os.chown(os.path.join(folder, name), self.uid, self.gid, follow_symlinks=False)
