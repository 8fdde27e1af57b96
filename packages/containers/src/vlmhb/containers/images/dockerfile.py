"""What a Dockerfile says about its inputs: the images it starts FROM, the context paths it
COPYs, the apt packages it installs. Enough of the syntax for the project's own files."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

_VAR = re.compile(r"\$(?:\{(\w+)(?::-([^}]*))?\}|(\w+))")
_APT_INSTALL = re.compile(r"apt(?:-get)?\s+install\s+(.*?)(?:&&|;|\|\||\||$)", re.S)


@dataclass(frozen=True)
class Instruction:
    """One instruction: ``keyword`` upper-cased, ``args`` the rest of its (joined) lines."""

    keyword: str
    args: str


@dataclass(frozen=True)
class Dockerfile:
    """A parsed Dockerfile."""

    instructions: tuple[Instruction, ...]

    @classmethod
    def read(cls, path: Path) -> Dockerfile:
        return cls.parse(path.read_text(encoding="utf-8"))

    @classmethod
    def parse(cls, text: str) -> Dockerfile:
        """Comment lines dropped, backslash continuations joined."""
        instructions: list[Instruction] = []
        pending = ""
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if line.endswith("\\"):
                pending += line[:-1] + " "
                continue
            whole = (pending + line).strip()
            pending = ""
            keyword, _, args = whole.partition(" ")
            instructions.append(Instruction(keyword.upper(), args.strip()))
        if pending.strip():
            keyword, _, args = pending.strip().partition(" ")
            instructions.append(Instruction(keyword.upper(), args.strip()))
        return cls(tuple(instructions))

    def global_args(self) -> dict[str, str]:
        """``ARG`` defaults declared before the first ``FROM`` (what ``FROM`` may use)."""
        found: dict[str, str] = {}
        for ins in self.instructions:
            if ins.keyword == "FROM":
                break
            if ins.keyword == "ARG":
                name, _, default = ins.args.partition("=")
                found[name.strip()] = _unquote(default.strip())
        return found

    def declared_args(self) -> set[str]:
        """Every ``ARG`` name (build args the Dockerfile takes)."""
        return {
            ins.args.partition("=")[0].strip() for ins in self.instructions if ins.keyword == "ARG"
        }

    def base_images(self, buildargs: Mapping[str, str] | None = None) -> list[str]:
        """The images the build starts from (``FROM`` lines with build args substituted),
        leaving out earlier stages named with ``AS``; in order, without repeats."""
        values = {**self.global_args(), **(buildargs or {})}
        stages: set[str] = set()
        bases: list[str] = []
        for ins in self.instructions:
            if ins.keyword != "FROM":
                continue
            words = [w for w in ins.args.split() if not w.startswith("--")]
            image = _substitute(words[0], values)
            if len(words) >= 3 and words[1].upper() == "AS":
                stages.add(words[2].lower())
            if image.lower() not in stages and image not in bases and image != "scratch":
                bases.append(image)
        return bases

    def copy_sources(self) -> list[str]:
        """Context paths named by ``COPY``/``ADD`` (not ``--from`` copies), as written."""
        sources: list[str] = []
        for ins in self.instructions:
            if ins.keyword not in ("COPY", "ADD"):
                continue
            flags: list[str] = []
            args = ins.args
            while args.startswith("--"):
                flag, _, args = args.partition(" ")
                flags.append(flag)
                args = args.strip()
            if any(f.startswith("--from") for f in flags):
                continue
            paths = [str(w) for w in json.loads(args)] if args.startswith("[") else args.split()
            sources.extend(paths[:-1])
        return sources

    def apt_packages(self) -> list[str]:
        """Packages named by ``apt-get install`` in ``RUN`` lines (options left out)."""
        packages: list[str] = []
        for ins in self.instructions:
            if ins.keyword != "RUN":
                continue
            for match in _APT_INSTALL.finditer(ins.args):
                for word in shlex.split(match.group(1)):
                    if not word.startswith("-") and word not in packages:
                        packages.append(word)
        return packages


def _substitute(word: str, values: Mapping[str, str]) -> str:
    def repl(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(3)
        fallback = match.group(2) or ""
        return values.get(name) or fallback

    return _VAR.sub(repl, word)


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value
