"""Deterministic backend for tests and oracle / noisy / replay baselines.

Params (declared with types and ranges in ``ScriptedParams``):
- ``answers_file`` (or ``ModelSpec.model_path``): CSV with ``;``; the id is taken from
  ``id_column`` (default ``id``) or, when that column is absent, the 0-based row number;
  the answer from ``answer_column`` (default ``model_answer``).
- ``rule``: answer for samples not in the file: ``echo`` (the user text, the default when
  no file is given) or ``constant:<text>``.
- ``noise``: probability (0..1) of replacing each character, seeded by the sample id.
- ``latency_ms`` (total delay), ``ttft_ms`` (delay before the first chunk).
- ``fail_ids``: sample ids that always fail (HTTP 500); ``fail_first_n``: the first N
  requests of every sample id fail, later ones succeed.
- ``load_delay_s``: seconds ``load`` takes (to test slow or hanging starts).
- ``request_log``: file that gets one line per request: the sample id.
Answers are looked up by ``metadata.sample_id``.
"""

from __future__ import annotations

import asyncio
import csv
import random
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, field_validator

from vlmhb.core.contracts import ModelSpec
from vlmhb.core.fieldtypes import BackendParams, PathRole
from vlmhb.inference.backends.base import (
    Backend,
    BackendError,
    Generation,
    GenerationRequest,
    apply_limits,
    count_words,
    split_chunks,
)

NOISE_ALPHABET = "абвгдежзийклмнопрстуфхцчшщыэюяABCDEFGHKMOPTX0123456789"


def read_answers(path: Path, id_column: str, answer_column: str) -> dict[str, str]:
    """Answers by sample id from a ``;`` CSV (UTF-8, BOM tolerated)."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle, delimiter=";")
        fields = reader.fieldnames or []
        if answer_column not in fields:
            raise BackendError(f"{path}: no column {answer_column!r} (columns: {fields})")
        return {
            (row[id_column] if id_column in fields else str(index)): row[answer_column] or ""
            for index, row in enumerate(reader)
        }


def add_noise(text: str, probability: float, seed: str) -> str:
    """Replace each character with probability ``probability``; same seed, same result."""
    if probability <= 0:
        return text
    rng = random.Random(f"vlmhb-noise:{seed}")
    out = []
    for char in text:
        if rng.random() < probability:
            choices = [c for c in NOISE_ALPHABET if c != char]
            out.append(rng.choice(choices))
        else:
            out.append(char)
    return "".join(out)


async def _sleep_until(deadline: float) -> None:
    """Sleep until the ``time.perf_counter()`` mark ``deadline`` (at once if it is past),
    never less: uvloop's timers count from the loop's cached clock and may fire a little
    early."""
    while (delay := deadline - time.perf_counter()) > 0:
        await asyncio.sleep(delay)


class ScriptedParams(BackendParams):
    """The scripted backend's params."""

    answers_file: Annotated[
        Path | None,
        PathRole.INPUT,
        Field(description="CSV (;) of answers by sample id (else the spec's model_path)"),
    ] = None
    id_column: str = Field("id", description="id column (absent: the 0-based row number)")
    answer_column: str = Field("model_answer", description="answer column")
    rule: str = Field(
        "",
        description="answer for samples not in the file: echo (the "
        "default without a file) or constant:<text>",
    )
    noise: float = Field(
        0.0,
        ge=0,
        le=1,
        description="probability of replacing each character, seeded by the sample id",
    )
    latency_ms: float = Field(0.0, ge=0, description="total delay of an answer")
    ttft_ms: float = Field(0.0, ge=0, description="delay before the first chunk")
    fail_ids: list[Annotated[str, BeforeValidator(str)]] = Field(
        default_factory=list, description="sample ids that always fail (HTTP 500)"
    )
    fail_first_n: int = Field(0, ge=0, description="the first N requests of every sample id fail")
    load_delay_s: float = Field(0.0, ge=0, description="seconds load takes")
    request_log: Annotated[
        Path | None,
        PathRole.OUTPUT,
        Field(description="file that gets one line per request: the sample id"),
    ] = None

    @field_validator("rule")
    @classmethod
    def _rule(cls, value: str) -> str:
        if value and value != "echo" and not value.startswith("constant:"):
            raise ValueError(f"unknown rule {value!r} (echo | constant:<text>)")
        return value


class ScriptedBackend(Backend):
    """Answers from a file or a rule, with configurable delays and failures."""

    name = "scripted"
    Params = ScriptedParams
    p: ScriptedParams
    decode_images = False  # answers never depend on pixels: the wrapper checks headers only

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__(spec)
        p = self.p
        source = p.answers_file or spec.model_path
        self.answers_file = Path(source) if source else None
        self.rule = p.rule or ("" if self.answers_file else "echo")
        self.noise = p.noise
        self.ttft_s = p.ttft_ms / 1000
        self.latency_s = max(p.latency_ms / 1000, self.ttft_s)
        self.fail_ids = set(p.fail_ids)
        self.request_log = p.request_log
        self.answers: dict[str, str] = {}
        self.requests: Counter[str] = Counter()

    async def load(self) -> None:
        if self.p.load_delay_s:
            await asyncio.sleep(self.p.load_delay_s)
        if self.answers_file is not None:
            if not self.answers_file.is_file():
                raise BackendError(f"scripted: answers_file {self.answers_file} does not exist")
            self.answers = read_answers(self.answers_file, self.p.id_column, self.p.answer_column)

    def _answer(self, request: GenerationRequest) -> Generation:
        """Record the request, apply failure rules, return the scripted answer."""
        sample_id = request.sample_id or ""
        self.requests[sample_id] += 1
        if self.request_log is not None:
            with self.request_log.open("a", encoding="utf-8") as handle:
                handle.write(sample_id + "\n")
        if sample_id in self.fail_ids:
            raise BackendError(f"scripted failure for sample {sample_id!r} (fail_ids)")
        if self.requests[sample_id] <= self.p.fail_first_n:
            raise BackendError(
                f"scripted failure {self.requests[sample_id]}/{self.p.fail_first_n} "
                f"for sample {sample_id!r} (fail_first_n)"
            )
        if sample_id in self.answers:
            text = self.answers[sample_id]
        elif self.rule == "echo":
            text = request.user
        elif self.rule.startswith("constant:"):
            text = self.rule.removeprefix("constant:")
        else:
            raise BackendError(f"no scripted answer for sample {sample_id!r}")
        text, finish = apply_limits(add_noise(text, self.noise, sample_id), request)
        prompt_tokens = count_words(request.system) + count_words(request.user)
        return Generation(text, prompt_tokens, count_words(text), finish)

    async def generate(self, request: GenerationRequest) -> Generation:
        generation = self._answer(request)
        if self.latency_s:
            await _sleep_until(time.perf_counter() + self.latency_s)
        return generation

    async def stream(self, request: GenerationRequest) -> AsyncIterator[str]:
        """Chunks word by word: first after ``ttft_ms``, the rest spread to ``latency_ms``.
        Each chunk is due at a deadline counted from the start, so timer overshoots do
        not add up (a sleep per gap made 20 ms answers take 22.5)."""
        chunks = split_chunks(self._answer(request).text) or [""]
        start = time.perf_counter()
        rest = max(self.latency_s - self.ttft_s, 0.0)
        gap = rest / (len(chunks) - 1) if len(chunks) > 1 else 0.0
        for index, chunk in enumerate(chunks):
            await _sleep_until(start + self.ttft_s + index * gap)
            yield chunk
        if len(chunks) == 1 and rest:
            await _sleep_until(start + self.latency_s)

    def info(self) -> dict[str, Any]:
        return {
            **super().info(),
            "answers": len(self.answers),
            "rule": self.rule,
            "noise": self.noise,
            "latency_ms": self.latency_s * 1000,
        }
