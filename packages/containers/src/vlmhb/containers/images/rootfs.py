"""The root of every image: a Debian rootfs made by debootstrap (no registry needed), kept
as a tarball in the image cache (reused between runs) and imported as ``vlmhb/rootfs:<suite>``."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import docker
from docker.errors import ImageNotFound

from vlmhb.containers.images.errors import ImageBuildError

ROOTFS_REPO = "vlmhb/rootfs"
RECIPE_LABEL = "org.vlmhb.rootfs-recipe"
Progress = Callable[[str], None]


@dataclass(frozen=True)
class RootfsRecipe:
    """What debootstrap is asked for."""

    suite: str = "bookworm"
    variant: str = "minbase"
    include: tuple[str, ...] = ("ca-certificates", "python3", "python3-venv")

    @property
    def tag(self) -> str:
        return f"{ROOTFS_REPO}:{self.suite}"

    @property
    def key(self) -> str:
        """A short hash of the recipe: it names the cached tarball."""
        text = json.dumps([self.suite, self.variant, sorted(self.include)])
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def tarball(self, cache_dir: Path) -> Path:
        return cache_dir / f"rootfs-{self.suite}-{self.variant}-{self.key}.tar"

    @classmethod
    def for_image(cls, image: str) -> RootfsRecipe | None:
        """The recipe of a ``vlmhb/rootfs:<suite>`` reference, else ``None``."""
        repo, _, tag = image.partition(":")
        return cls(suite=tag or "bookworm") if repo == ROOTFS_REPO else None


def ensure_rootfs(
    client: docker.DockerClient, recipe: RootfsRecipe, cache_dir: Path, progress: Progress
) -> str:
    """The rootfs image's id: the tagged image when present, else imported from the cached
    tarball, else debootstrapped (root only) into that tarball first."""
    try:
        return str(client.images.get(recipe.tag).id)
    except ImageNotFound:
        pass
    tarball = recipe.tarball(cache_dir)
    if tarball.is_file():
        progress(f"reusing cached rootfs {tarball}")
    else:
        _debootstrap(recipe, tarball, progress)
    progress(f"importing {tarball.name} as {recipe.tag}")
    client.api.import_image_from_file(
        str(tarball),
        repository=ROOTFS_REPO,
        tag=recipe.suite,
        changes=[f"LABEL {RECIPE_LABEL}={recipe.key}"],
    )
    return str(client.images.get(recipe.tag).id)


def _debootstrap(recipe: RootfsRecipe, tarball: Path, progress: Progress) -> None:
    debootstrap = shutil.which("debootstrap")
    if debootstrap is None:
        raise ImageBuildError(
            f"{recipe.tag} is missing and debootstrap is not installed "
            "(apt-get install debootstrap; scripts/test.sh does it in CI)"
        )
    tarball.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=tarball.parent, prefix=".rootfs-") as tmp:
        root = Path(tmp) / "root"
        progress(f"debootstrap {recipe.variant} {recipe.suite} (+{','.join(recipe.include)})")
        _stream(
            [
                debootstrap,
                f"--variant={recipe.variant}",
                f"--include={','.join(recipe.include)}",
                recipe.suite,
                str(root),
            ],
            progress,
        )
        partial = Path(tmp) / "rootfs.tar"
        _stream(["tar", "-C", str(root), "--numeric-owner", "-cf", str(partial), "."], progress)
        partial.replace(tarball)
    progress(f"cached rootfs tarball {tarball}")


def _stream(cmd: list[str], progress: Progress) -> None:
    """Run ``cmd``, passing each output line to ``progress``; fail with its tail."""
    tail: list[str] = []
    with subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            progress(line.rstrip())
            tail = [*tail[-19:], line.rstrip()]
    if proc.returncode != 0:
        joined = "\n".join(tail)
        raise ImageBuildError(f"{cmd[0]} failed (exit {proc.returncode}):\n{joined}")
