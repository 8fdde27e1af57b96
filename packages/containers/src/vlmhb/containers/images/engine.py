"""The local Docker engine for the image commands."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import docker
from docker.errors import DockerException

from vlmhb.containers.images.errors import ImageBuildError


@contextlib.contextmanager
def open_engine() -> Iterator[docker.DockerClient]:
    """A client of the engine (``DOCKER_HOST`` or the default socket); a clear error when
    none answers."""
    try:
        client = docker.from_env()
        client.ping()
    except DockerException as exc:
        raise ImageBuildError(f"no Docker engine answers ({exc}); start dockerd first") from exc
    try:
        yield client
    finally:
        client.close()
