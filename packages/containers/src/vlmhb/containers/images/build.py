"""``vlmhb images build``: build the images of ``deploy/images/`` with the local engine (no
registry), skipping those whose source hash matches the label of the image already there."""

from __future__ import annotations

import io
import re
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import docker
from docker.errors import APIError, ImageNotFound
from docker.models.images import Image

from vlmhb.containers.images.contents import CONTENTS_LABEL, SOURCE_HASH_LABEL, probe_contents
from vlmhb.containers.images.context import Artefacts, folder_files, write_context
from vlmhb.containers.images.errors import ImageBuildError
from vlmhb.containers.images.rootfs import RootfsRecipe, ensure_rootfs
from vlmhb.containers.images.settings import ImageSettings
from vlmhb.containers.images.sources import (
    ImageSource,
    build_order,
    discover,
    source_hash,
)
from vlmhb.containers.images.workspace import Workspace
from vlmhb.core.proc import exclusive_lock

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
Progress = Callable[[str, str], None]  # (image name, line)
Status = Literal["built", "up-to-date", "skipped"]


@dataclass(frozen=True)
class BuildOutcome:
    """What happened to one image: ``image_id`` is ``None`` only when it was skipped."""

    name: str
    status: Status
    image_id: str | None
    detail: str
    seconds: float


def _quiet(name: str, line: str) -> None:
    """The default progress sink: drop the lines."""


class ImageBuilder:
    """Builds image folders of ``images_dir`` with artefacts from ``workspace``."""

    def __init__(
        self,
        client: docker.DockerClient,
        *,
        images_dir: Path | None = None,
        workspace: Workspace | None = None,
        settings: ImageSettings | None = None,
        buildargs: Mapping[str, str] | None = None,
        progress: Progress = _quiet,
    ) -> None:
        self.client = client
        self.settings = settings or ImageSettings()
        self.images_dir = images_dir or self.settings.images_dir or default_images_dir()
        self.workspace = workspace or _workspace_of(self.images_dir)
        self.buildargs = dict(buildargs or {})
        self.progress = progress

    def build(
        self, names: Iterable[str] | None = None, *, force: bool = False
    ) -> list[BuildOutcome]:
        """Build ``names`` (every folder when ``None``) and what they start from, in order."""
        sources = discover(self.images_dir)
        order = build_order(sources, names)
        cache_dir = self.settings.image_cache_dir
        cache_dir.mkdir(parents=True, exist_ok=True)
        with (
            exclusive_lock(cache_dir / "build.lock", on_wait=self._waiting),
            tempfile.TemporaryDirectory(prefix="vlmhb-images-") as work,
        ):
            artefacts = Artefacts(self.workspace, self.settings.ca_bundle, Path(work))
            return [self._one(source, artefacts, force) for source in order]

    def _waiting(self) -> None:
        self.progress("*", "waiting for another image build to finish")

    def _one(self, source: ImageSource, artefacts: Artefacts, force: bool) -> BuildOutcome:
        started = time.monotonic()

        def outcome(status: Status, image_id: str | None, detail: str) -> BuildOutcome:
            self.progress(source.name, detail)
            return BuildOutcome(source.name, status, image_id, detail, time.monotonic() - started)

        args = source.buildargs(self.buildargs)
        base_ids: dict[str, str] = {}
        for base in source.dockerfile.base_images(args):
            found = self._base_id(source.name, base)
            if found is None:
                return outcome(
                    "skipped",
                    None,
                    f"skipped: base image {base} is not present locally (no registry is used; "
                    "load or build it first)",
                )
            base_ids[base] = found
        digest = source_hash(source, artefacts, base_ids, args)
        existing = self._image(f"{source.repo}:latest")
        if existing is not None and not force and existing.labels.get(SOURCE_HASH_LABEL) == digest:
            self._tag(existing.id, source.repo)
            return outcome("up-to-date", str(existing.id), f"up to date ({_short(existing.id)})")
        image_id = self._build(source, artefacts, args, digest)
        self._tag(image_id, source.repo)
        if existing is not None and existing.id != image_id:
            self._remove_quietly(str(existing.id))
        return outcome("built", image_id, f"built {source.repo} ({_short(image_id)})")

    def _base_id(self, name: str, base: str) -> str | None:
        recipe = RootfsRecipe.for_image(base)
        if recipe is not None:
            return ensure_rootfs(
                self.client,
                recipe,
                self.settings.image_cache_dir,
                lambda line: self.progress(name, line),
            )
        image = self._image(base)
        return None if image is None else str(image.id)

    def _build(
        self, source: ImageSource, artefacts: Artefacts, args: dict[str, str], digest: str
    ) -> str:
        files = folder_files(source.folder)
        for name in artefacts.referenced(source.dockerfile.copy_sources()):
            if name not in files:
                self.progress(source.name, f"context: {name}")
                files[name] = artefacts.path(name)
        self.progress(source.name, f"building {source.repo} from {source.folder}")
        with tempfile.TemporaryFile() as context:
            write_context(files, context)
            built = self._stream(source.name, fileobj=context, custom_context=True, buildargs=args)
        contents = probe_contents(
            self.client, built, source.dockerfile.apt_packages(), self.workspace.version
        )
        if contents.error:
            self.progress(source.name, f"contents probe failed: {contents.error}")
        labels = {CONTENTS_LABEL: contents.model_dump_json(), SOURCE_HASH_LABEL: digest}
        return self._stream(
            source.name, fileobj=io.BytesIO(f"FROM {built}\n".encode()), labels=labels, quiet=True
        )

    def _stream(self, name: str, *, quiet: bool = False, **kwargs: Any) -> str:
        """Run one build through the engine's API, streaming its lines; the image id."""
        image_id: str | None = None
        pending = ""
        chunks = self.client.api.build(
            decode=True, rm=True, forcerm=True, pull=False, network_mode="host", **kwargs
        )
        for chunk in chunks:
            if "error" in chunk:
                raise ImageBuildError(f"building {name} failed: {chunk['error'].strip()}")
            aux = chunk.get("aux")
            if isinstance(aux, dict) and "ID" in aux:
                image_id = str(aux["ID"])
            # The engine splits output anywhere (and colours stderr): emit whole lines.
            *lines, pending = _ANSI.sub("", pending + str(chunk.get("stream", ""))).split("\n")
            for line in lines:
                image_id = self._line(name, line, quiet) or image_id
        image_id = self._line(name, pending, quiet) or image_id
        if image_id is None:
            raise ImageBuildError(f"building {name}: the engine reported no image id")
        return str(self.client.images.get(image_id).id)

    def _line(self, name: str, line: str, quiet: bool) -> str | None:
        """Pass one output line on; the image id when it is the legacy builder's last."""
        line = line.rsplit("\r", 1)[-1].rstrip()
        if line and not quiet:
            self.progress(name, line)
        return line.split()[-1] if line.startswith("Successfully built ") else None

    def _tag(self, image_id: str, repo: str) -> None:
        image = self.client.images.get(image_id)
        for tag in ("latest", self.workspace.version):
            if tag and f"{repo}:{tag}" not in image.tags:
                image.tag(repo, tag)

    def _image(self, ref: str) -> Image | None:
        try:
            return self.client.images.get(ref)
        except ImageNotFound:
            return None

    def _remove_quietly(self, image_id: str) -> None:
        """Drop the image a rebuild replaced, unless something still uses or tags it."""
        try:
            image = self.client.images.get(image_id)
            if not image.tags:
                self.client.images.remove(image_id)
        except (ImageNotFound, APIError):
            pass


def default_images_dir() -> Path:
    """``deploy/images`` of the checkout holding the working directory (else this package's)."""
    for start in (Path.cwd(), Path(__file__).parent):
        try:
            folder = Workspace.find(start).root / "deploy" / "images"
        except ImageBuildError:
            continue
        if folder.is_dir():
            return folder
    raise ImageBuildError("no deploy/images folder found; set VLMHB_IMAGES_DIR")


def _workspace_of(images_dir: Path) -> Workspace:
    """The workspace holding the image folders, else the working directory's."""
    try:
        return Workspace.find(images_dir)
    except ImageBuildError:
        return Workspace.find(Path.cwd())


def ensure_images(
    names: Iterable[str] = ("base-cpu",),
    *,
    force: bool = False,
    progress: Progress = _quiet,
    client: docker.DockerClient | None = None,
    settings: ImageSettings | None = None,
) -> dict[str, str]:
    """Build the images that are missing or stale (source hash differs) and return every
    available one's id by name; a no-op, quick, when all are up to date. Images whose base
    is not present (base-gpu without its CUDA base) are left out."""
    own = client is None
    engine = client or docker.from_env()
    try:
        builder = ImageBuilder(engine, settings=settings, progress=progress)
        outcomes = builder.build(list(names), force=force)
    finally:
        if own:
            engine.close()
    return {o.name: o.image_id for o in outcomes if o.image_id is not None}


def _short(image_id: str) -> str:
    return image_id.removeprefix("sha256:")[:12]
