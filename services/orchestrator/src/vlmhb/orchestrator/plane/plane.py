"""Bring the management plane up (engine check, images, folders and token, services in
dependency order with a health wait each) and stop it."""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable
from pathlib import Path

import docker
from docker.errors import DockerException

from vlmhb.orchestrator.plane.compose import Compose
from vlmhb.orchestrator.plane.errors import PlaneError, ServiceFailed
from vlmhb.orchestrator.plane.health import wait_healthy
from vlmhb.orchestrator.plane.settings import (
    PLANE_IMAGES,
    PlaneFolders,
    PlaneSettings,
    compose_env,
)
from vlmhb.orchestrator.tokens import load_or_create_token

Say = Callable[[str], None]
NOT_BUILT_DIR = "web-not-built"  # mounted when services/web/dist does not exist


def docker_client() -> docker.DockerClient:
    """A client of the local engine (``DOCKER_HOST`` or the default socket) that answered
    a ping; ``PlaneError`` saying so when none answers."""
    try:
        client = docker.from_env()
        client.ping()
    except DockerException as exc:
        raise PlaneError(
            f"no Docker engine answers ({exc}); start dockerd or set DOCKER_HOST"
        ) from None
    return client


def plane_folders(
    settings: PlaneSettings, data_dir: Path, runs_dir: Path, data_root: Path
) -> PlaneFolders:
    """Absolute folders (not created); the UI folder falls back to an empty one in the data
    folder when the UI is not built (the backend then says how to build it)."""
    data = data_dir.expanduser().resolve()
    dist = settings.web_dist.expanduser().resolve()
    return PlaneFolders(
        data_dir=data,
        runs_dir=runs_dir.expanduser().resolve(),
        data_root=data_root.expanduser().resolve(),
        web_dist=dist if (dist / "index.html").is_file() else data / NOT_BUILT_DIR,
    )


def first_unreachable(folder: Path, uid: int, gid: int) -> Path | None:
    """The first of ``folder`` and its parents that ``uid``/``gid`` may not enter (no
    search permission), None when it reaches ``folder``."""
    for path in (*reversed(folder.parents), folder):
        info = path.stat()
        if info.st_uid == uid:
            allowed = info.st_mode & stat.S_IXUSR
        elif info.st_gid == gid:
            allowed = info.st_mode & stat.S_IXGRP
        else:
            allowed = info.st_mode & stat.S_IXOTH
        if not allowed:
            return path
    return None


class Plane:
    """One compose project of the plane (``settings.project``)."""

    def __init__(
        self,
        settings: PlaneSettings,
        folders: PlaneFolders,
        orchestrator_port: int,
        say: Say = lambda line: None,
    ) -> None:
        self.settings = settings
        self.folders = folders
        self.say = say
        if not settings.compose_file.is_file():
            raise PlaneError(f"compose file {settings.compose_file} not found")
        self.compose = Compose(
            settings.project,
            settings.compose_file,
            compose_env(settings, folders, orchestrator_port),
        )

    @property
    def redis_url(self) -> str:
        """The plane's Redis, as the host orchestrator reaches it."""
        return f"redis://127.0.0.1:{self.settings.redis_port}/0"

    def prepare(self) -> str:
        """Create the shared folders and the token (``<data dir>/auth_token``, read by the
        backend container and this orchestrator alike); as root, hand the data folder and
        the runs folder to the plane's user. Returns the token."""
        if os.environ.get("VLMHB_AUTH_TOKEN"):
            raise PlaneError(
                "vlmhb up keeps the token in <data dir>/auth_token, which the backend "
                "container reads too: unset VLMHB_AUTH_TOKEN (or write it into that file)"
            )
        folders = self.folders
        for folder in (folders.data_dir, folders.runs_dir, folders.data_root, folders.web_dist):
            folder.mkdir(parents=True, exist_ok=True)
        token, _ = load_or_create_token(folders.data_dir)
        if os.getuid() == 0:
            uid, gid = self.settings.user()
            for folder in (folders.data_dir, folders.runs_dir, folders.data_root):
                blocked = first_unreachable(folder.parent, uid, gid)
                if blocked is not None:
                    raise PlaneError(
                        f"the plane's user (uid {uid}) cannot reach {folder}: {blocked} "
                        "is closed to it; use folders it can reach, or run vlmhb up as "
                        "that user"
                    )
            for path in (folders.data_dir, *folders.data_dir.rglob("*"), folders.runs_dir):
                if path.lstat().st_uid != uid:
                    os.chown(path, uid, gid, follow_symlinks=False)
        return token

    def build_images(self, client: docker.DockerClient) -> None:
        """Build the plane's images that are missing or stale (``vlmhb images build``)."""
        from vlmhb.containers.images import ImageBuildError, ensure_images
        from vlmhb.containers.images.settings import ImageSettings

        images_dir = self.settings.compose_file.parent / "images"
        started = time.monotonic()
        try:
            ensure_images(
                PLANE_IMAGES,
                client=client,
                settings=ImageSettings(images_dir=images_dir),
                progress=lambda name, line: self.say(f"  [{name}] {line}"),
            )
        except ImageBuildError as exc:
            raise PlaneError(f"building the plane's images failed: {exc}") from None
        self.say(f"images ready ({time.monotonic() - started:.1f} s)")

    def up(self, client: docker.DockerClient) -> None:
        """Start the services level by level (``depends_on``), each level waited healthy
        within ``health_timeout_s``. A service that fails is stopped (its container and log
        stay for inspection; the others keep running) and ``ServiceFailed`` is raised."""
        started = time.monotonic()
        for level in self.compose.start_order():
            self.say(f"starting {', '.join(level)}")
            self.compose.up(level)
            ids: dict[str, str] = {}
            for service in level:
                container_id = self.compose.container_id(service)
                if container_id is None:
                    raise ServiceFailed(service, "compose created no container", "")
                ids[service] = container_id
            try:
                wait_healthy(
                    client,
                    ids,
                    self.settings.health_timeout_s,
                    on_healthy=lambda service, _s: self.say(
                        f"{service} healthy ({time.monotonic() - started:.1f} s)"
                    ),
                )
            except ServiceFailed as failed:
                self.compose.stop([failed.service])
                raise
        self.say(f"plane healthy ({time.monotonic() - started:.1f} s)")

    def down(self, volumes: bool = False) -> None:
        """Stop and remove the plane's containers; named volumes stay unless ``volumes``."""
        self.compose.down(volumes=volumes)
