"""The agent's wheelhouse: every wheel ``vlmhb agent`` needs, so a host installs it with no
package index (``uv pip install --offline --no-index``). Built on the controller from this
checkout (its packages' wheels) and ``uv.lock`` (the third-party pins of ``vlmhb-agent``,
downloaded once), packed in one tar and cached by what it is made of."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from packaging.markers import Marker, default_environment

from vlmhb.containers.images.context import REQUIREMENTS, WHEELS, Artefacts
from vlmhb.containers.images.workspace import Workspace

AGENT_DIST = "vlmhb-agent"
DEFAULT_CACHE = Path("~/.cache/vlmhb/wheelhouse")
PIP = "pip>=24,<27"  # run by `uv tool run` for `pip download` (uv has no download command)


class WheelhouseError(Exception):
    """The wheelhouse could not be built (the message says which step failed)."""


def agent_wheelhouse(cache_dir: Path | None = None, start: Path | None = None) -> Path:
    """The wheelhouse tar for this checkout (built when its inputs changed, else cached)."""
    workspace = Workspace.find(start or Path.cwd())
    members = workspace.members.values()
    digest = hashlib.sha256(workspace.lock.read_bytes())
    for member in sorted(members, key=lambda m: m.dist):
        digest.update(workspace.source_hash(member).encode())
    cache = (cache_dir or DEFAULT_CACHE).expanduser()
    target = cache / f"agent-{workspace.version}-{digest.hexdigest()[:16]}.tar"
    if target.is_file():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="vlmhb-wheelhouse-") as tmp:
        work = Path(tmp)
        artefacts = Artefacts(workspace, Path("/etc/ssl/certs/ca-certificates.crt"), work)
        wheels = [artefacts.path(f"{WHEELS}/{workspace.wheel_file(m)}") for m in members]
        pins = artefacts.path(f"{REQUIREMENTS}/{AGENT_DIST}.txt")
        downloads = work / "downloads"
        _pip_download(pins, downloads)
        partial = target.with_suffix(f".{os.getpid()}.part")
        with tarfile.open(partial, "w") as tar:
            for wheel in sorted([*wheels, *downloads.glob("*.whl")], key=lambda p: p.name):
                tar.add(wheel, arcname=wheel.name)
        partial.replace(target)
    return target


def _pip_download(requirements: Path, out: Path) -> None:
    """The pinned wheels for this interpreter, plus those a marker on the Python version
    leaves out here (``async-timeout ; python_full_version < '3.11.3'``: Debian 12's
    python3 is 3.11.2, and pip's ``--python-version`` does not set the full version)."""
    uv = shutil.which("uv")
    if uv is None:
        raise WheelhouseError("uv is not on PATH (it builds the agent's wheelhouse)")
    command = [uv, "tool", "run", "--from", PIP, "pip", "download", "-q", "--only-binary=:all:"]
    by_version = _only_older_patch(requirements.read_text(encoding="utf-8"))
    runs = [["-r", str(requirements)]]
    if by_version:
        runs.append(["--no-deps", *by_version])
    for args in runs:
        done = subprocess.run(
            [*command, *args, "-d", str(out)], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise WheelhouseError(
                f"downloading the agent's dependencies failed: {done.stderr[-800:]}"
            )


def _only_older_patch(pins: str) -> list[str]:
    """Pins whose marker holds on ``X.Y.0`` of this interpreter's minor version but not
    here (the host's patch release may be older)."""
    here: dict[str, str] = {str(k): str(v) for k, v in default_environment().items()}
    oldest = {**here, "python_full_version": f"{sys.version_info.major}.{sys.version_info.minor}.0"}
    found = []
    for line in pins.splitlines():
        requirement, sep, marker = line.partition(";")
        if sep and marker.strip():
            parsed = Marker(marker.strip())
            if parsed.evaluate(oldest) and not parsed.evaluate(here):
                found.append(requirement.strip())
    return found
