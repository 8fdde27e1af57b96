"""The image folders of ``deploy/images/`` (one image per folder with a Dockerfile), the
order they build in, and each one's source hash."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from vlmhb.containers.images.context import Artefacts, folder_files
from vlmhb.containers.images.dockerfile import Dockerfile
from vlmhb.containers.images.errors import ImageBuildError
from vlmhb.core.errors import did_you_mean

REPO_PREFIX = "vlmhb/"
# Bump when the way images are built changes (context layout, labels): every image rebuilds.
BUILD_RECIPE = "vlmhb-images/1"


@dataclass(frozen=True)
class ImageSource:
    """An image folder: ``deploy/images/<name>/`` with a Dockerfile, tagged ``vlmhb/<name>``."""

    name: str
    folder: Path
    dockerfile: Dockerfile

    @property
    def repo(self) -> str:
        return REPO_PREFIX + self.name

    def dependencies(self, known: Iterable[str]) -> list[str]:
        """The project images this one starts FROM (``vlmhb/<x>`` with a folder ``x``)."""
        names = set(known)
        return [n for n in map(local_name, self.dockerfile.base_images()) if n in names]

    def buildargs(self, given: Mapping[str, str]) -> dict[str, str]:
        """The given build args this Dockerfile declares."""
        declared = self.dockerfile.declared_args()
        return {k: v for k, v in sorted(given.items()) if k in declared}


def local_name(image: str) -> str | None:
    """``vlmhb/base-cpu:latest`` → ``base-cpu``; ``None`` for other images."""
    if not image.startswith(REPO_PREFIX):
        return None
    return image.removeprefix(REPO_PREFIX).partition(":")[0].partition("@")[0]


def discover(images_dir: Path) -> dict[str, ImageSource]:
    """Every image folder under ``images_dir``, by name."""
    if not images_dir.is_dir():
        raise ImageBuildError(f"no image folder {images_dir} (VLMHB_IMAGES_DIR)")
    return {
        folder.name: ImageSource(folder.name, folder, Dockerfile.read(folder / "Dockerfile"))
        for folder in sorted(images_dir.iterdir())
        if (folder / "Dockerfile").is_file()
    }


def build_order(
    sources: Mapping[str, ImageSource], names: Iterable[str] | None
) -> list[ImageSource]:
    """The images named (all when ``None``) and the project images they start from, each
    after its dependencies."""
    wanted = list(sources) if names is None else list(names)
    for name in wanted:
        if name not in sources:
            hint = did_you_mean(name, list(sources))
            extra = f"; did you mean {' or '.join(hint)}?" if hint else ""
            raise ImageBuildError(f"no image folder {name!r} (known: {', '.join(sources)}){extra}")
    ordered: list[ImageSource] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if any(s.name == name for s in ordered):
            return
        if name in visiting:
            raise ImageBuildError(f"image {name!r} starts FROM itself through its dependencies")
        visiting.add(name)
        for dep in sources[name].dependencies(sources):
            visit(dep)
        ordered.append(sources[name])

    for name in wanted:
        visit(name)
    return ordered


def source_hash(
    source: ImageSource,
    artefacts: Artefacts,
    base_ids: Mapping[str, str],
    buildargs: Mapping[str, str],
) -> str:
    """sha256 of everything the image is built from: its folder's files, the build args it
    takes, the ids of the images it starts FROM and the digests of the generated artefacts
    its COPY lines name. Nothing is built to compute it."""
    digest = hashlib.sha256(BUILD_RECIPE.encode() + b"\0")
    files = folder_files(source.folder)
    for rel, path in files.items():
        digest.update(f"file:{rel}\0".encode() + hashlib.sha256(path.read_bytes()).digest())
    for key, value in sorted(buildargs.items()):
        digest.update(f"arg:{key}={value}\0".encode())
    for base, image_id in sorted(base_ids.items()):
        digest.update(f"from:{base}={image_id}\0".encode())
    for name in artefacts.referenced(source.dockerfile.copy_sources()):
        if name not in files:
            digest.update(f"artefact:{name}={artefacts.digest(name)}\0".encode())
    return digest.hexdigest()
