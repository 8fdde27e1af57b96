"""Cached virtual environments with extra packages (dynamic dependency injection).

A venv is keyed by a hash of (Python version, installer, sorted requirements). It
overlays the current environment: a ``.pth`` file adds this interpreter's site-packages
after the venv's own, so the stage entry point and core packages are importable while
the injected packages take precedence. Creation is guarded by a file lock; a finished
venv has a ``.ready`` marker and is reused as is.
"""

from __future__ import annotations

import fcntl
import shutil
import site
import subprocess
import sys
from pathlib import Path

from vlmhb.core.contracts import EnvSpec, stable_hash
from vlmhb.core.envs.base import PreparedEnv
from vlmhb.core.errors import VlmhbError

READY = ".ready"
OVERLAY_PTH = "vlmhb_overlay.pth"


def env_key(env: EnvSpec) -> str:
    return stable_hash(sys.version_info[:3], env.installer, sorted(env.packages), length=16)


def prepare_venv(env: EnvSpec, cache_dir: Path) -> PreparedEnv:
    """A venv with ``env.packages`` installed, created once and reused afterwards."""
    key = env_key(env)
    root = cache_dir / key
    python = root / "bin" / "python"
    cache_dir.mkdir(parents=True, exist_ok=True)
    with open(cache_dir / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (root / READY).exists():
            return PreparedEnv(str(python), key, cache_hit=True)
        if root.exists():
            shutil.rmtree(root)  # a half-made venv from a killed run
        _create(root, env)
        _install(python, env)
        (root / READY).write_text("\n".join(sorted(env.packages)) + "\n", encoding="utf-8")
    return PreparedEnv(str(python), key, cache_hit=False)


def _run(cmd: list[str], what: str) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise VlmhbError(f"{what} failed (exit {proc.returncode}): {' '.join(cmd)}\n{tail}")


def _create(root: Path, env: EnvSpec) -> None:
    if env.installer == "uv":
        _run(
            [sys.executable, "-m", "uv", "venv", "--quiet", "--python", sys.executable, str(root)],
            "creating the venv",
        )
    else:
        _run([sys.executable, "-m", "venv", str(root)], "creating the venv")
    own = next((root / "lib").glob("python*/site-packages"))
    parents = [p for p in [*site.getsitepackages(), site.getusersitepackages()] if Path(p).is_dir()]
    lines = [f"import site; site.addsitedir({p!r})" for p in parents]
    (own / OVERLAY_PTH).write_text("\n".join(lines) + "\n", encoding="utf-8")


def _install(python: Path, env: EnvSpec) -> None:
    if not env.packages:
        return
    if env.installer == "uv":
        cmd = [sys.executable, "-m", "uv", "pip", "install", "--python", str(python), *env.packages]
    else:
        cmd = [str(python), "-m", "pip", "install", "--quiet", *env.packages]
    _run(cmd, f"installing {', '.join(env.packages)}")
