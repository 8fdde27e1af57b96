"""The version is written once, in the VERSION file at the repository root: every
pyproject reads it (hatchling's version source), ``__version__`` comes from the installed
metadata, and the web UI's package.json / package-lock.json carry the same value."""

from __future__ import annotations

import importlib.metadata
import json
import re
import tomllib
from pathlib import Path

import vlmhb.core

ROOT = Path(__file__).resolve().parents[3]
VERSION_FILE = ROOT / "VERSION"
ROOT_PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
# the root project and every workspace member
PYPROJECTS = [
    ROOT / "pyproject.toml",
    *sorted(
        path / "pyproject.toml"
        for pattern in ROOT_PYPROJECT["tool"]["uv"]["workspace"]["members"]
        for path in ROOT.glob(pattern)
    ),
]
WEB = ROOT / "services" / "web"


def _version() -> str:
    text = VERSION_FILE.read_text(encoding="utf-8").strip()
    assert re.fullmatch(r"\d+\.\d+\.\d+(?:[.-]?\w+)?", text), text
    return text


def test_every_pyproject_reads_the_version_file() -> None:
    assert len(PYPROJECTS) >= 7  # the root, five packages, the services
    for path in PYPROJECTS:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        project = data["project"]
        name = path.relative_to(ROOT)
        assert "version" not in project, f"{name}: a hand-written version"
        assert "version" in project.get("dynamic", []), name
        source = data["tool"]["hatch"]["version"]
        assert (path.parent / source["path"]).resolve() == VERSION_FILE, name
        keys = [key["file"] for key in data["tool"]["uv"]["cache-keys"]]
        assert (path.parent / keys[-1]).resolve() == VERSION_FILE, f"{name}: uv cache-keys"


def test_installed_metadata_and_dunder_version_agree() -> None:
    version = _version()
    for path in PYPROJECTS:
        name = tomllib.loads(path.read_text(encoding="utf-8"))["project"]["name"]
        installed = importlib.metadata.version(name)
        assert installed == version, f"{name} is installed as {installed}: run `uv sync`"
    assert vlmhb.core.__version__ == version
    literal = re.compile(r"""^__version__\s*=\s*["']""", re.M)
    for init in ROOT.glob("*/*/src/vlmhb/*/__init__.py"):
        assert not literal.search(init.read_text(encoding="utf-8")), init


def test_web_package_carries_the_same_version() -> None:
    version = _version()
    package = json.loads((WEB / "package.json").read_text(encoding="utf-8"))
    lock = json.loads((WEB / "package-lock.json").read_text(encoding="utf-8"))
    assert package["version"] == version, "services/web/package.json"
    assert lock["version"] == lock["packages"][""]["version"] == version, "package-lock.json"
