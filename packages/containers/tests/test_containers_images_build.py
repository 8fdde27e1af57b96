"""`vlmhb images build` against the real engine, on small test images FROM the local rootfs
(base-cpu itself is built once per session by the ``base_cpu_image`` fixture)."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from docker.errors import ImageNotFound
from typer.testing import CliRunner

from vlmhb.containers.images.build import ImageBuilder
from vlmhb.containers.images.cli import images_app
from vlmhb.containers.images.contents import CONTENTS_LABEL, SOURCE_HASH_LABEL, ImageContents
from vlmhb.containers.images.dockerfile import Dockerfile
from vlmhb.containers.images.settings import ImageSettings
from vlmhb.containers.images.workspace import Workspace

pytestmark = pytest.mark.docker
WORKSPACE = Workspace.find(Path(__file__))


@pytest.fixture
def prefix(docker_client: docker.DockerClient) -> Iterator[str]:
    """A unique image-name prefix; every vlmhb/<prefix>* image is removed afterwards."""
    name = f"test-images-{uuid.uuid4().hex[:8]}"
    yield name
    for image in docker_client.images.list(filters={"reference": f"vlmhb/{name}*"}):
        for tag in image.tags:
            with contextlib.suppress(ImageNotFound):
                docker_client.images.remove(tag, force=True)


def _folder(root: Path, name: str, dockerfile: str) -> None:
    (root / name).mkdir(parents=True)
    (root / name / "Dockerfile").write_text(dockerfile)


def test_build_is_a_no_op_until_an_input_changes(
    docker_client: docker.DockerClient, prefix: str, tmp_path: Path
) -> None:
    images = tmp_path / "images"
    ca = tmp_path / "ca.crt"
    ca.write_text("first bundle\n")
    _folder(
        images,
        f"{prefix}-a",
        "FROM vlmhb/rootfs:bookworm\nCOPY ca-certificates.crt /etc/test-ca.crt\n",
    )
    _folder(
        images,
        f"{prefix}-b",
        f"FROM vlmhb/{prefix}-a\nCOPY requirements/vlmhb-core.txt /pins.txt\n"
        "RUN grep -q '^pydantic==' /pins.txt && ! grep -q ^vlmhb /pins.txt\n",
    )
    settings = ImageSettings(image_cache_dir=tmp_path / "cache", ca_bundle=ca)
    lines: list[str] = []
    builder = ImageBuilder(
        docker_client,
        images_dir=images,
        workspace=WORKSPACE,
        settings=settings,
        progress=lambda name, line: lines.append(f"{name}: {line}"),
    )

    first = {o.name: o for o in builder.build([f"{prefix}-b"])}
    assert [first[n].status for n in (f"{prefix}-a", f"{prefix}-b")] == ["built", "built"]
    a_id = first[f"{prefix}-a"].image_id
    image = docker_client.images.get(f"vlmhb/{prefix}-a:latest")
    assert image.id == a_id
    assert f"vlmhb/{prefix}-a:{WORKSPACE.version}" in image.tags
    assert image.labels[SOURCE_HASH_LABEL]
    contents = ImageContents.model_validate_json(image.labels[CONTENTS_LABEL])
    assert contents.python and contents.python.startswith("3.")
    assert contents.vlmhb == WORKSPACE.version
    assert any("Step 2/2 : COPY ca-certificates.crt" in line for line in lines)

    second = {o.name: o for o in builder.build([f"{prefix}-b"])}
    assert {o.status for o in second.values()} == {"up-to-date"}
    assert {n: o.image_id for n, o in second.items()} == {n: o.image_id for n, o in first.items()}

    ca.write_text("second bundle\n")  # a changed context input: a and (FROM a) b rebuild
    third = {o.name: o for o in builder.build([f"{prefix}-b"])}
    assert [third[n].status for n in (f"{prefix}-a", f"{prefix}-b")] == ["built", "built"]
    assert third[f"{prefix}-a"].image_id != a_id
    with pytest.raises(ImageNotFound):  # the replaced image is not left dangling
        docker_client.images.get(str(a_id))

    forced = builder.build([f"{prefix}-a"], force=True)
    assert [o.status for o in forced] == ["built"]


def test_an_image_without_its_base_is_skipped_with_a_message(
    docker_client: docker.DockerClient, prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    images = tmp_path / "images"
    _folder(
        images, f"{prefix}-gpu", f"ARG BASE=vlmhb-absent/{prefix}:1\nFROM ${{BASE}}\nRUN true\n"
    )
    _folder(images, f"{prefix}-ok", "FROM vlmhb/rootfs:bookworm\nLABEL test=1\n")
    monkeypatch.setenv("VLMHB_IMAGE_CACHE_DIR", str(tmp_path / "cache"))
    result = CliRunner().invoke(images_app, ["build", "--images-dir", str(images)])
    assert result.exit_code == 0, result.output
    assert f"base image vlmhb-absent/{prefix}:1 is not present locally" in result.output
    assert f"{prefix}-gpu: skipped" in result.output
    assert f"{prefix}-ok: built" in result.output
    docker_client.images.get(f"vlmhb/{prefix}-ok:latest")


def test_ls_shows_base_cpu_with_what_it_contains(base_cpu_image: str) -> None:
    result = CliRunner().invoke(images_app, ["ls", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["tag"]: row for row in json.loads(result.output)}
    row = rows[base_cpu_image]
    assert row["digest"] == row["image_id"]  # never pushed: the digest is the local id
    contents = ImageContents.model_validate(row["contents"])
    assert contents.python == "3.11.2"
    assert (contents.python_path or "").startswith("/opt/vlmhb/venv/bin/python")
    for dist in ("vlmhb-core", "vlmhb-data", "vlmhb-metrics", "vlmhb-inference", "vlmhb-reporting"):
        assert contents.packages[dist] == WORKSPACE.version
    assert "uv" in contents.packages
    assert "tesseract-ocr-rus" in contents.apt
    table = CliRunner().invoke(images_app, ["ls"])
    assert "vlmhb/base-cpu [" in table.output and "tesseract-ocr-rus" in table.output


def test_base_gpu_is_skipped_where_its_cuda_base_is_absent(
    docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    images = WORKSPACE.root / "deploy" / "images"
    base = Dockerfile.read(images / "base-gpu" / "Dockerfile").base_images()[0]
    try:
        docker_client.images.get(base)
        pytest.skip(f"{base} is present here: base-gpu would really build")
    except ImageNotFound:
        pass
    lines: list[str] = []
    builder = ImageBuilder(
        docker_client,
        images_dir=images,
        settings=ImageSettings(image_cache_dir=tmp_path),
        progress=lambda name, line: lines.append(f"{name}: {line}"),
    )
    [outcome] = builder.build(["base-gpu"])
    assert (outcome.status, outcome.image_id) == ("skipped", None)
    assert f"base-gpu: skipped: base image {base} is not present locally" in lines[-1]
