"""Dockerfile reading, build order and source hashes of `vlmhb images` (no engine needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from vlmhb.containers.images.context import Artefacts
from vlmhb.containers.images.dockerfile import Dockerfile
from vlmhb.containers.images.errors import ImageBuildError
from vlmhb.containers.images.sources import build_order, discover, source_hash
from vlmhb.containers.images.workspace import Workspace

REPO = Workspace.find(Path(__file__)).root
IMAGES = REPO / "deploy" / "images"


def test_base_gpu_from_is_a_build_arg_with_a_cuda_default() -> None:
    gpu = Dockerfile.read(IMAGES / "base-gpu" / "Dockerfile")
    assert "BASE" in gpu.declared_args()
    assert gpu.global_args()["BASE"].startswith("nvidia/cuda:")
    assert gpu.base_images() == [gpu.global_args()["BASE"]]
    assert gpu.base_images({"BASE": "example/cuda:1"}) == ["example/cuda:1"]


def test_base_cpu_names_its_inputs() -> None:
    cpu = Dockerfile.read(IMAGES / "base-cpu" / "Dockerfile")
    assert cpu.base_images() == ["vlmhb/rootfs:bookworm"]
    assert {"tesseract-ocr", "tesseract-ocr-rus", "fonts-dejavu-core"} <= set(cpu.apt_packages())
    sources = cpu.copy_sources()
    assert "ca-certificates.crt" in sources
    assert "requirements/vlmhb-core.txt" in sources
    assert "wheels/vlmhb_core-*.whl" in sources


def test_parse_continuations_stages_and_copy_forms() -> None:
    text = """# comment
ARG A=one
FROM vlmhb/x:${A} AS build
RUN apt-get update \\
 # a comment inside a continuation
 && apt-get install -y --no-install-recommends foo bar && echo done
FROM build
COPY --chown=1000:1000 ["a b.txt", "c", "/dst/"]
COPY --from=build /x /y
ADD d.tar /
"""
    parsed = Dockerfile.parse(text)
    assert parsed.base_images() == ["vlmhb/x:one"]
    assert parsed.copy_sources() == ["a b.txt", "c", "d.tar"]
    assert parsed.apt_packages() == ["foo", "bar"]


def _image(root: Path, name: str, dockerfile: str) -> None:
    (root / name).mkdir(parents=True)
    (root / name / "Dockerfile").write_text(dockerfile)


def test_build_order_puts_dependencies_first(tmp_path: Path) -> None:
    _image(tmp_path, "c", "FROM vlmhb/b\n")
    _image(tmp_path, "b", "FROM vlmhb/a:latest\n")
    _image(tmp_path, "a", "FROM vlmhb/rootfs:bookworm\n")
    _image(tmp_path, "other", "FROM debian:12\n")
    sources = discover(tmp_path)
    assert [s.name for s in build_order(sources, ["c"])] == ["a", "b", "c"]
    assert [s.name for s in build_order(sources, None)] == ["a", "b", "c", "other"]
    with pytest.raises(ImageBuildError, match="did you mean other"):
        build_order(sources, ["othr"])


def test_build_order_refuses_a_cycle(tmp_path: Path) -> None:
    _image(tmp_path, "a", "FROM vlmhb/b\n")
    _image(tmp_path, "b", "FROM vlmhb/a\n")
    with pytest.raises(ImageBuildError, match="FROM itself"):
        build_order(discover(tmp_path), ["a"])


def _workspace(root: Path) -> Workspace:
    root.mkdir()
    (root / "pyproject.toml").write_text('[tool.uv.workspace]\nmembers = ["packages/*"]\n')
    (root / "VERSION").write_text("1.2.3\n")
    (root / "uv.lock").write_text("lock v1\n")
    for dist in ("pkg-a", "pkg-b"):
        src = root / "packages" / dist / "src" / dist.replace("-", "_")
        src.mkdir(parents=True)
        (src.parents[1] / "pyproject.toml").write_text(f'[project]\nname = "{dist}"\n')
        (src / "__init__.py").write_text("x = 1\n")
    return Workspace(root)


def test_source_hash_follows_only_the_inputs_an_image_copies(tmp_path: Path) -> None:
    ws = _workspace(tmp_path / "ws")
    ca = tmp_path / "ca.crt"
    ca.write_text("CA 1\n")
    images = tmp_path / "images"
    _image(images, "uses-a", "FROM vlmhb/rootfs:bookworm\nCOPY wheels/pkg_a-*.whl /w/\n")
    _image(images, "uses-pins", "FROM vlmhb/rootfs:bookworm\nCOPY requirements/pkg-b.txt /r/\n")
    _image(images, "uses-ca", "FROM vlmhb/rootfs:bookworm\nCOPY ca-certificates.crt /c\n")
    sources = discover(images)
    artefacts = Artefacts(ws, ca, tmp_path / "work")
    assert artefacts.referenced(["wheels/"]) == [
        "wheels/pkg_a-1.2.3-py3-none-any.whl",
        "wheels/pkg_b-1.2.3-py3-none-any.whl",
    ]
    bases = {"vlmhb/rootfs:bookworm": "sha256:1"}

    def hashes() -> dict[str, str]:
        return {n: source_hash(s, artefacts, bases, {}) for n, s in sources.items()}

    before = hashes()
    assert hashes() == before  # stable
    (ws.root / "packages" / "pkg-a" / "src" / "pkg_a" / "__init__.py").write_text("x = 2\n")
    after_code = hashes()
    assert after_code["uses-a"] != before["uses-a"]
    assert after_code["uses-pins"] == before["uses-pins"]
    assert after_code["uses-ca"] == before["uses-ca"]
    # Tests and caches are not part of a wheel: they change nothing.
    cache = ws.root / "packages" / "pkg-a" / "src" / "pkg_a" / "__pycache__"
    cache.mkdir()
    (cache / "m.cpython-311.pyc").write_bytes(b"\0")
    (ws.root / "packages" / "pkg-a" / "tests").mkdir()
    (ws.root / "packages" / "pkg-a" / "tests" / "test_x.py").write_text("")
    assert hashes() == after_code
    (ws.root / "uv.lock").write_text("lock v2\n")
    ca.write_text("CA 2\n")
    after_lock = hashes()
    assert after_lock["uses-pins"] != after_code["uses-pins"]
    assert after_lock["uses-ca"] != after_code["uses-ca"]
    assert after_lock["uses-a"] == after_code["uses-a"]
    # The image folder's own files and the base image's id count too.
    (images / "uses-a" / "extra.txt").write_text("x")
    assert hashes()["uses-a"] != after_lock["uses-a"]
    moved = {
        n: source_hash(s, artefacts, {"vlmhb/rootfs:bookworm": "sha256:2"}, {})
        for n, s in sources.items()
    }
    assert moved["uses-ca"] != after_lock["uses-ca"]
