"""The API token: its strength rules, the generated token file, the session cookie value.

Auth is always on (Jupyter's model): unless ``VLMHB_AUTH_TOKEN`` is set, the first start
generates a random token and stores it (mode 0600) as ``<data_dir>/auth_token``; later
starts reuse it. The browser exchanges the token for a cookie whose value is derived from
the token (``session_value``), so the cookie is not the bearer token itself.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
from pathlib import Path

MIN_TOKEN_LENGTH = 16
TOKEN_FILE = "auth_token"


class WeakToken(ValueError):
    """A configured token that is blank, too short or padded with whitespace."""


def check_token(token: str, source: str = "VLMHB_AUTH_TOKEN") -> str:
    """``token`` when it is strong enough, else ``WeakToken`` saying why."""
    if not token.strip():
        raise WeakToken(
            f"{source} is blank: unset it (a random token is generated) or set "
            f"at least {MIN_TOKEN_LENGTH} characters"
        )
    if token != token.strip() or any(ch.isspace() for ch in token):
        raise WeakToken(f"{source} contains whitespace: use a token without spaces")
    if len(token) < MIN_TOKEN_LENGTH:
        raise WeakToken(
            f"{source} is {len(token)} characters long; at least "
            f"{MIN_TOKEN_LENGTH} are required (e.g. python -c "
            "'import secrets; print(secrets.token_urlsafe(32))')"
        )
    return token


def token_file(data_dir: Path) -> Path:
    return data_dir / TOKEN_FILE


def load_or_create_token(data_dir: Path) -> tuple[str, bool]:
    """``(token, created)``: the token stored in ``data_dir`` or a new one written there
    (0600, atomically, so two processes starting at once agree on one token)."""
    path = token_file(data_dir)
    if path.is_file():
        return check_token(path.read_text(encoding="utf-8").strip(), str(path)), False
    data_dir.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    temp = path.with_name(f".{TOKEN_FILE}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(token + "\n")
        os.link(temp, path)  # fails when another process won the race
    except FileExistsError:
        return check_token(path.read_text(encoding="utf-8").strip(), str(path)), False
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
    return token, True


def session_value(token: str) -> str:
    """The session cookie's value for ``token`` (changes when the token changes)."""
    return hmac.new(token.encode(), b"vlmhb-session-v1", hashlib.sha256).hexdigest()


def same_secret(given: str, expected: str) -> bool:
    """Constant-time comparison; an empty ``given`` never matches."""
    return bool(given) and hmac.compare_digest(given.encode(), expected.encode())
