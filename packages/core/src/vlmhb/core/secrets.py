"""Secrets in configs: typed as ``SecretStr``, masked in every dump, revealed only in
private hand-offs to child processes.

A value is a secret when the key that holds it names one, at any depth of a model's
``params`` (``api_key``, ``hf_token``, ``env.HF_TOKEN``, ``engine_args.hf-token``, a
``--api-key`` flag followed by its value in an argument list). ``seal`` turns such values
into ``SecretStr``; Pydantic then dumps them as ``**********`` in ``run.json``,
``manifest.json``, task files, events and API answers. ``revealed_json`` is the one place
the real values are written: a private (0600) file that a child process reads.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path, PurePath
from typing import Any

from pydantic import BaseModel, SecretStr

MASK = "**********"  # how Pydantic dumps a SecretStr
SECRET_PARTS = frozenset(
    {
        "key",
        "apikey",
        "token",
        "secret",
        "password",
        "passwd",
        "credential",
        "credentials",
        "auth",
        "authorization",
    }
)
_SPLIT = re.compile(r"[^a-z0-9]+")


def is_secret_name(name: str) -> bool:
    """Whether a key or flag (``api_key``, ``HF_TOKEN``, ``--hf-token``) names a secret.

    Names are split at non-alphanumerics, so ``max_tokens`` or ``token_burst`` with a
    number are not secrets (only string values are ever sealed)."""
    return any(part in SECRET_PARTS for part in _SPLIT.split(name.lower()))


def seal(value: Any, secret: bool = False) -> Any:
    """``value`` with every string held under a secret-naming key turned into ``SecretStr``
    (dicts and lists walked at any depth; ``--secret-flag value`` pairs in lists too)."""
    if isinstance(value, SecretStr):
        return value
    if isinstance(value, str):
        return SecretStr(value) if secret else value
    if isinstance(value, dict):
        return {k: seal(v, secret or is_secret_name(str(k))) for k, v in value.items()}
    if isinstance(value, list | tuple):
        out: list[Any] = []
        hide_next = False
        for item in value:
            if isinstance(item, str) and item.startswith("-") and not secret:
                flag, eq, _ = item.partition("=")
                if is_secret_name(flag) and eq:
                    out.append(SecretStr(item))
                    hide_next = False
                    continue
                out.append(item)
                hide_next = is_secret_name(flag)
                continue
            out.append(seal(item, secret or hide_next))
            hide_next = False
        return out
    return value


def reveal(value: Any) -> Any:
    """The plain value of a ``SecretStr`` (other values as they are), for the code that
    finally uses it (an HTTP header, a child's environment)."""
    return value.get_secret_value() if isinstance(value, SecretStr) else value


def revealed(value: Any) -> Any:
    """``value`` with every ``SecretStr`` at any depth replaced by its plain text."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, dict):
        return {k: revealed(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [revealed(v) for v in value]
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def revealed_json(model: BaseModel) -> str:
    """``model`` as JSON with secrets in clear: only for ``write_private``."""
    return json.dumps(model.model_dump(mode="python"), default=_plain, ensure_ascii=False)


def write_private(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` readable by this user only (0600, created so)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path


@contextmanager
def private_dir(prefix: str) -> Iterator[Path]:
    """A temporary folder only this user can enter (0700), removed afterwards."""
    with tempfile.TemporaryDirectory(prefix=prefix) as name:
        os.chmod(name, 0o700)
        yield Path(name)
