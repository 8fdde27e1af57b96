"""Fixtures of the bootstrap tests: a token file, and a GPU host in a container."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from docker.models.containers import Container

sys.path.insert(0, str(Path(__file__).parent))
from vlmhb_hosts_testkit import TOKEN, start_host


@pytest.fixture(scope="session")
def token_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("secrets") / "agent.token"
    path.write_text(TOKEN + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path


@pytest.fixture(scope="session")
def gpu_host(docker_client: docker.DockerClient, base_cpu_image: str) -> Iterator[Container]:
    container = start_host(docker_client, base_cpu_image, gpus=True)
    yield container
    container.remove(force=True)
