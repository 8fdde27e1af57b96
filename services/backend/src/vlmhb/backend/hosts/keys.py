"""SSH key references: a host names its key by a file name in ``VLMHB_SSH_KEYS_DIR``; the
key is read only by ssh, never by the backend, and never stored, sent or shown."""

from __future__ import annotations

import re
from pathlib import Path

KEY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


class KeyReferenceError(ValueError):
    """A key reference that is not a plain name of a file in the keys folder."""


def resolve_key(keys_dir: Path, name: str) -> Path:
    """The key file ``name`` refers to; ``KeyReferenceError`` for a path, a name that
    leaves the folder (``..``, a symlink out) or a missing file."""
    if not KEY_NAME.match(name) or name in (".", ".."):
        raise KeyReferenceError(
            "ssh_key is not a key name: give the name of a file in the backend's keys "
            "folder (VLMHB_SSH_KEYS_DIR), never a path or the key itself"
        )
    folder = keys_dir.expanduser().resolve()
    path = (folder / name).resolve()
    if not path.is_relative_to(folder) or not path.is_file():
        raise KeyReferenceError(f"ssh_key {name!r}: no such key in the keys folder")
    return path
