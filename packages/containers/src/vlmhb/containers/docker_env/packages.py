"""Packages of an env (``env.packages``) in a docker env: a venv made once, in the cache.

The venv's key is a hash of (image id, installer, sorted packages). Its host folder
``<cache_dir>/docker/<key>`` is bind-mounted at ``/opt/vlmhb/envs/<key>`` in every
container that uses it. A short *prepare* container (network ``host``, the uv cache
volume) runs the image's own python with ``vlmhb.core.envs.venv_cache``: the venv overlays
the image's ``/opt/vlmhb/venv``, so vlmhb stays importable while the injected packages
win. Once done the host folder gets a ``.ready`` marker naming the venv's python; a later
start finds it and starts no container. A host file lock keeps two managers from making
the same venv at once; a half-made one (killed run) is made again.
"""

from __future__ import annotations

import fcntl
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vlmhb.core.contracts import EnvSpec, stable_hash
from vlmhb.core.errors import VlmhbError

ENVS_MOUNT = "/opt/vlmhb/envs"
READY = ".ready"
UV_CACHE_VOLUME = "vlmhb-uv-cache"
UV_CACHE_DIR = "/var/cache/uv"
PREPARE_SCRIPT = """\
import json, sys
from pathlib import Path
from vlmhb.core.contracts import EnvSpec
from vlmhb.core.envs.venv_cache import prepare_venv
prepared = prepare_venv(EnvSpec.model_validate_json(sys.argv[1]), Path(sys.argv[2]))
print(json.dumps({"python": prepared.python}))
"""


@dataclass(frozen=True)
class PackageEnv:
    """A venv with an env's packages: its host folder, mount point and python."""

    key: str
    host_dir: Path
    mount: str
    python: str
    cache_hit: bool


# (command, mounts {host folder: container path}) -> (exit code, stdout, stderr tail)
RunPrepare = Callable[[list[str], dict[Path, str]], tuple[int, str, str]]


def env_key(image_id: str, env: EnvSpec) -> str:
    return stable_hash(image_id, env.installer, sorted(env.packages), length=16)


def ensure_package_env(
    env: EnvSpec, image_id: str, cache_dir: Path, run_prepare: RunPrepare
) -> PackageEnv:
    """The venv for ``env`` in ``image_id``, made by ``run_prepare`` when not ready yet."""
    key = env_key(image_id, env)
    root = cache_dir / "docker"
    host_dir = root / key
    mount = f"{ENVS_MOUNT}/{key}"
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        ready = host_dir / READY
        if ready.is_file():
            python = json.loads(ready.read_text(encoding="utf-8"))["python"]
            return PackageEnv(key, host_dir, mount, python, cache_hit=True)
        host_dir.mkdir(exist_ok=True)
        code, out, err = run_prepare(
            ["python", "-c", PREPARE_SCRIPT, env.model_dump_json(), mount], {host_dir: mount}
        )
        lines = out.strip().splitlines()
        if code != 0 or not lines:
            raise VlmhbError(
                f"installing {', '.join(env.packages)} in a container failed (exit {code}):\n{err}"
            )
        python = json.loads(lines[-1])["python"]
        ready.write_text(json.dumps({"python": python}) + "\n", encoding="utf-8")
    return PackageEnv(key, host_dir, mount, python, cache_hit=False)
