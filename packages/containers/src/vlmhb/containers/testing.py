"""Pytest fixtures shared by every package's container tests (a pytest plugin, loaded by the
repository's root ``conftest.py``).

``docker_client`` is a session-wide client of the local Docker engine; tests that need it
are skipped, with the reason, only when no engine answers (CI starts one). ``base_cpu_image``
is the stage image's tag, built first when it is missing or stale (CI builds it before the
suite, so this is a quick check there)."""

from __future__ import annotations

from collections.abc import Iterator

import docker
import pytest
from docker.errors import DockerException


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "docker: needs a Docker engine (real containers)")


@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    """A client of the local Docker engine (``DOCKER_HOST`` or the default socket)."""
    try:
        client = docker.from_env()
        client.ping()
    except DockerException as exc:
        pytest.skip(f"no Docker engine answers here ({exc}); CI starts one (scripts/test.sh)")
    yield client
    client.close()


@pytest.fixture(scope="session")
def base_cpu_image(docker_client: docker.DockerClient) -> str:
    """``vlmhb/base-cpu:latest``, up to date with this checkout (``ensure_images``)."""
    from vlmhb.containers.images import ensure_images

    ensure_images(("base-cpu",), client=docker_client)
    return "vlmhb/base-cpu:latest"
