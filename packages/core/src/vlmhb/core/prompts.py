"""Prompt collections: CSV keyed ``"<doc_class> <question_type>"`` and JSON ``prompt_config``.

Templates are Jinja2; they see the sample's ``question``, ``doc_class``,
``question_type``, ``type`` (the question type after ``type_mapping``) and ``fields``
(the field names of an extraction sample).
"""

from __future__ import annotations

import csv
import functools
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from jinja2 import StrictUndefined, Template, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from vlmhb.core.contracts import PromptRef, Sample
from vlmhb.core.errors import ConfigError

# Prompt files may come from a submitted config: templates run sandboxed (no attribute
# access to Python internals, no mutation of the values they are given).
_jinja = ImmutableSandboxedEnvironment(
    undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False
)


class MissingPromptError(LookupError):
    """No prompt for a sample's key; reported as a row problem."""


class PromptCollection(Protocol):
    def render(self, sample: Sample, system_prompt: str | None) -> tuple[str, str]:
        """(system prompt, user prompt) for ``sample``."""
        ...


def prompt_ref(path: Path) -> PromptRef:
    return PromptRef(path=path, sha256=hashlib.sha256(path.read_bytes()).hexdigest())


@functools.lru_cache(maxsize=1024)
def _compiled(template: str) -> Template:
    """A template compiled once: a collection has a few, its samples are many."""
    return _jinja.from_string(template)


def render_template(template: str, sample: Sample, type_name: str, where: str) -> str:
    try:
        return (
            _compiled(template)
            .render(
                question=sample.question,
                doc_class=sample.doc_class,
                question_type=sample.question_type,
                type=type_name,
                fields=list(sample.fields or {}),
            )
            .strip()
        )
    except TemplateError as exc:
        raise ConfigError(where, f"prompt template error: {exc}") from None


@dataclass
class CsvPromptCollection:
    """``prompt;doc_class_question_type`` rows; the key is ``"<doc_class> <question_type>"``."""

    path: Path
    prompts: dict[str, str]

    def render(self, sample: Sample, system_prompt: str | None) -> tuple[str, str]:
        key = f"{sample.doc_class} {sample.question_type}".strip()
        if key not in self.prompts:
            known = ", ".join(repr(k) for k in sorted(self.prompts)[:8])
            raise MissingPromptError(
                f"no prompt for key {key!r} in {self.path.name} (known keys: {known})"
            )
        return system_prompt or "", render_template(
            self.prompts[key], sample, sample.question_type, str(self.path)
        )


@dataclass
class JsonPromptConfig:
    """``{"prompt_config": {system_prompt, user_prompt, fixed_system_prompt, fixed_prompt,
    type_mapping}}``: ``fixed_*`` win over the templates; an empty user prompt asks the
    sample's question."""

    path: Path
    system_prompt: str = ""
    user_prompt: str = ""
    fixed_system_prompt: str = ""
    fixed_prompt: str = ""
    type_mapping: dict[str, str] = field(default_factory=dict)

    def render(self, sample: Sample, system_prompt: str | None) -> tuple[str, str]:
        type_name = self.type_mapping.get(sample.question_type, sample.question_type)
        where = str(self.path)
        system = self.fixed_system_prompt or self.system_prompt or system_prompt or ""
        user = self.fixed_prompt or self.user_prompt or sample.question
        return (
            render_template(system, sample, type_name, where),
            render_template(user, sample, type_name, where),
        )


def load_prompt_collection(path: Path) -> PromptCollection:
    """Read a ``.csv`` or ``.json`` prompt collection; errors name the file and line."""
    if path.suffix.lower() == ".json":
        return _load_json(path)
    if path.suffix.lower() == ".csv":
        return _load_csv(path)
    raise ConfigError(str(path), "a prompt collection is a .csv or .json file")


def _load_csv(path: Path) -> CsvPromptCollection:
    rows = list(csv.reader(path.read_text(encoding="utf-8-sig").splitlines(), delimiter=";"))
    if not rows:
        raise ConfigError(f"{path}:1", "empty prompt collection")
    header = [h.strip() for h in rows[0]]
    if "prompt" not in header or "doc_class_question_type" not in header:
        raise ConfigError(f"{path}:1", "header must be 'prompt;doc_class_question_type'")
    p_col, k_col = header.index("prompt"), header.index("doc_class_question_type")
    prompts: dict[str, str] = {}
    for line, cells in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            raise ConfigError(f"{path}:{line}", f"{len(cells)} cells, header has {len(header)}")
        key = " ".join(cells[k_col].split())
        if key in prompts:
            raise ConfigError(f"{path}:{line}", f"duplicate key {key!r}")
        prompts[key] = cells[p_col]
    return CsvPromptCollection(path, prompts)


def _load_json(path: Path) -> JsonPromptConfig:
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}:{exc.lineno}:{exc.colno}", f"invalid JSON: {exc.msg}") from None
    config = data.get("prompt_config") if isinstance(data, dict) else None
    if not isinstance(config, dict):
        raise ConfigError(str(path), "expected an object with a 'prompt_config' object")
    known = {"system_prompt", "user_prompt", "fixed_system_prompt", "fixed_prompt", "type_mapping"}
    unknown = set(config) - known
    if unknown:
        raise ConfigError(
            str(path),
            f"unknown prompt_config field(s): {', '.join(unknown)}; "
            f"known: {', '.join(sorted(known))}",
        )
    mapping = config.get("type_mapping") or {}
    if not isinstance(mapping, dict):
        raise ConfigError(f"{path} [type_mapping]", "must be an object")
    return JsonPromptConfig(
        path=path,
        system_prompt=config.get("system_prompt") or "",
        user_prompt=config.get("user_prompt") or "",
        fixed_system_prompt=config.get("fixed_system_prompt") or "",
        fixed_prompt=config.get("fixed_prompt") or "",
        type_mapping={str(k): str(v) for k, v in mapping.items()},
    )
