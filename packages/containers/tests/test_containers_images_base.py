"""The stage image vlmhb/base-cpu: non-root, the stage CLI and Tesseract with Russian, with
no network; and the rootfs it starts from comes from a cached tarball."""

from __future__ import annotations

import contextlib
import io
import tarfile
import uuid
from pathlib import Path

import docker
import pytest
from docker.errors import ImageNotFound

from vlmhb.containers.images import ensure_images
from vlmhb.containers.images.errors import ImageBuildError
from vlmhb.containers.images.rootfs import RECIPE_LABEL, RootfsRecipe, ensure_rootfs

pytestmark = pytest.mark.docker


def _run(client: docker.DockerClient, image: str, command: str) -> str:
    out = client.containers.run(
        image, ["sh", "-c", command], network_mode="none", remove=True, stderr=True
    )
    return bytes(out).decode()


def test_base_cpu_runs_the_stage_cli_as_uid_1000_without_network(
    docker_client: docker.DockerClient, base_cpu_image: str
) -> None:
    out = _run(
        docker_client,
        base_cpu_image,
        "id -u; id -g; command -v python; python -m vlmhb.core.cli.main --help >/dev/null "
        "&& echo cli-ok; tesseract --list-langs 2>&1; stat -c '%U %n' /opt/vlmhb/envs "
        "/var/cache/uv; echo $UV_CACHE_DIR; uv --version",
    )
    lines = out.splitlines()
    assert lines[:4] == ["1000", "1000", "/opt/vlmhb/venv/bin/python", "cli-ok"]
    assert "rus" in lines and "eng" in lines
    assert "vlmhb /opt/vlmhb/envs" in lines and "vlmhb /var/cache/uv" in lines
    assert "/var/cache/uv" in lines
    assert any(line.startswith("uv ") for line in lines)


def test_ensure_images_is_a_no_op_when_up_to_date(
    docker_client: docker.DockerClient, base_cpu_image: str
) -> None:
    before = docker_client.images.get(base_cpu_image).id
    assert ensure_images(("base-cpu",), client=docker_client) == {"base-cpu": before}


def test_rootfs_is_imported_from_the_cached_tarball(
    docker_client: docker.DockerClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recipe = RootfsRecipe(suite=f"test-{uuid.uuid4().hex[:8]}")
    monkeypatch.setenv("PATH", str(tmp_path / "no-debootstrap-here"))
    with pytest.raises(ImageBuildError, match="debootstrap is not installed"):
        ensure_rootfs(docker_client, recipe, tmp_path, print)
    with tarfile.open(recipe.tarball(tmp_path), "w") as tar:  # what a previous run cached
        data = b"cached rootfs\n"
        info = tarfile.TarInfo("etc/marker")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    lines: list[str] = []
    try:
        first = ensure_rootfs(docker_client, recipe, tmp_path, lines.append)
        assert any("reusing cached rootfs" in line for line in lines)
        image = docker_client.images.get(recipe.tag)
        assert image.id == first and image.labels[RECIPE_LABEL] == recipe.key
        lines.clear()
        assert ensure_rootfs(docker_client, recipe, tmp_path, lines.append) == first
        assert lines == []  # present: nothing imported again
    finally:
        with contextlib.suppress(ImageNotFound):
            docker_client.images.remove(recipe.tag, force=True)
