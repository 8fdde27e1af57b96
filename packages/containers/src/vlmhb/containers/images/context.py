"""Build contexts: an image's folder plus the generated artefacts every image may COPY —
``wheels/<wheel>`` (each workspace package, built from this checkout),
``requirements/<dist>.txt`` (its third-party dependencies pinned from uv.lock) and
``ca-certificates.crt`` (the host's CA bundle, so pip and apt in the build trust the
package index). Artefacts are made only when an image that names them is built."""

from __future__ import annotations

import fnmatch
import hashlib
import os
import shutil
import subprocess
import tarfile
from collections.abc import Iterable
from pathlib import Path
from typing import IO

from vlmhb.containers.images.errors import ImageBuildError
from vlmhb.containers.images.workspace import Member, Workspace

CA_FILE = "ca-certificates.crt"
WHEELS = "wheels"
REQUIREMENTS = "requirements"


class Artefacts:
    """The generated context files of one build run, made on demand under ``work_dir``."""

    def __init__(self, workspace: Workspace, ca_bundle: Path, work_dir: Path) -> None:
        self.workspace = workspace
        self.ca_bundle = ca_bundle
        self.work_dir = work_dir
        self._made: dict[str, Path] = {}

    def names(self) -> list[str]:
        """Every artefact's context path (what a COPY source can match)."""
        members = self.workspace.members.values()
        return [
            *(f"{WHEELS}/{self.workspace.wheel_file(m)}" for m in members),
            *(f"{REQUIREMENTS}/{m.dist}.txt" for m in members),
            CA_FILE,
        ]

    def referenced(self, sources: Iterable[str]) -> list[str]:
        """The artefacts that the COPY/ADD ``sources`` of a Dockerfile match."""
        names = self.names()
        return sorted({name for source in sources for name in names if _matches(source, name)})

    def digest(self, name: str) -> str:
        """What an artefact is made from, hashed, without making it: a wheel's package
        sources, a pin file's uv.lock, the CA bundle's bytes."""
        kind, _, rest = name.partition("/")
        if kind == WHEELS:
            return self.workspace.source_hash(self._member_of_wheel(rest))
        if kind == REQUIREMENTS:
            return _file_sha(self.workspace.lock) + rest
        return _file_sha(self._ca_bundle())

    def path(self, name: str) -> Path:
        """The artefact's file, made now if it is not made yet."""
        if name not in self._made and name.startswith(WHEELS + "/"):
            self._build_all_wheels()
        if name not in self._made:
            self._made[name] = self._make(name)
        return self._made[name]

    def _build_all_wheels(self) -> None:
        """One ``uv build --all-packages`` (quicker than one call per package) the first
        time a wheel is asked for."""
        folder = self.work_dir / WHEELS
        if folder.is_dir():
            return
        _run_uv(["build", "--all-packages", "--wheel", "-o", str(folder)], self.workspace)
        for wheel in folder.glob("*.whl"):
            self._made[f"{WHEELS}/{wheel.name}"] = wheel

    def _make(self, name: str) -> Path:
        kind, _, rest = name.partition("/")
        target = self.work_dir / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if kind == WHEELS:
            raise ImageBuildError(f"uv build made no {rest} (is its version VERSION's?)")
        if kind == REQUIREMENTS:
            dist = rest.removesuffix(".txt")
            pins = _run_uv(
                [
                    "export",
                    "--frozen",
                    "--no-dev",
                    "--no-hashes",
                    "--no-header",
                    "--no-emit-workspace",
                    "--package",
                    dist,
                ],
                self.workspace,
            )
            target.write_text(pins, encoding="utf-8")
        else:
            shutil.copyfile(self._ca_bundle(), target)
        if not target.is_file():
            raise ImageBuildError(f"building {name} left no file at {target}")
        return target

    def _member_of_wheel(self, file_name: str) -> Member:
        for member in self.workspace.members.values():
            if self.workspace.wheel_file(member) == file_name:
                return member
        raise ImageBuildError(f"no workspace package builds {file_name}")

    def _ca_bundle(self) -> Path:
        if not self.ca_bundle.is_file():
            raise ImageBuildError(f"CA bundle {self.ca_bundle} not found (VLMHB_CA_BUNDLE)")
        return self.ca_bundle


def folder_files(folder: Path) -> dict[str, Path]:
    """An image folder's files by context path (hidden files left out)."""
    return {
        str(p.relative_to(folder)): p
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    }


def write_context(files: dict[str, Path], out: IO[bytes]) -> None:
    """A tar of ``files`` (context path → file) for the Docker build API; owner root, modes
    kept, times zeroed (the content alone decides COPY's layer cache)."""
    with tarfile.open(fileobj=out, mode="w") as tar:
        for arcname in sorted(files):
            info = tar.gettarinfo(str(files[arcname]), arcname=arcname)
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mtime = 0
            with files[arcname].open("rb") as handle:
                tar.addfile(info, handle)
    out.seek(0)


def _matches(source: str, name: str) -> bool:
    pattern = source.removeprefix("./").rstrip("/")
    if pattern in ("", "."):
        return True
    return name == pattern or name.startswith(pattern + "/") or fnmatch.fnmatchcase(name, pattern)


def _file_sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _run_uv(args: list[str], workspace: Workspace) -> str:
    uv = shutil.which("uv")
    if uv is None:
        raise ImageBuildError("uv is not on PATH (needed to build wheels and export pins)")
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": os.environ.get("UV_PYTHON_DOWNLOADS", "never")}
    done = subprocess.run(
        [uv, *args], cwd=workspace.root, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise ImageBuildError(f"uv {' '.join(args)} failed: {done.stderr.strip()[-2000:]}")
    return done.stdout
