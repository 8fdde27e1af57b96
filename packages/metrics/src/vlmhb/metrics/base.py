"""The ``Metric`` contract every built-in and plugin metric follows."""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

from vlmhb.core.errors import UnknownNameError
from vlmhb.core.metric_info import MetricInfo
from vlmhb.metrics.normalize import Normalization

TASK_KINDS = frozenset({"vqa", "extraction", "classification", "ordering"})

#: A reference: one text, several acceptable texts, or extraction fields.
Reference = str | Sequence[str] | Mapping[str, str]


def as_texts(reference: Reference) -> list[str]:
    """The reference as a non-empty list of acceptable texts."""
    if isinstance(reference, str):
        return [reference]
    if isinstance(reference, Mapping):
        raise TypeError("expected a text reference, got extraction fields")
    texts = [str(item) for item in reference]
    if not texts:
        raise ValueError("empty list of references")
    return texts


@dataclass(frozen=True, kw_only=True)
class Metric(ABC):
    """A named quality metric.

    ``score`` gives the per-sample value (the base of the *macro* aggregate). Metrics with
    a corpus form also give ``counts`` (numerator, denominator) per sample, so the *micro*
    value is ``sum(num) / sum(den)``, or override ``corpus`` directly (BLEU, F1).
    ``per_sample = False`` marks a corpus-only metric (e.g. macro F1).
    ``document_level`` marks extraction metrics scored on the whole document rather than
    on each field. ``higher_is_better``, ``value_range`` (None: unbounded) and
    ``value_unit`` are the metric's metadata, written to ``metrics_schema.json`` by
    ``info``.
    """

    name: str
    kinds: frozenset[str]
    higher_is_better: bool = True
    value_range: tuple[float | None, float | None] = (0.0, 1.0)
    value_unit: str = "fraction"
    normalization: Normalization = field(default_factory=Normalization)
    description: str = ""

    per_sample: ClassVar[bool] = True
    document_level: ClassVar[bool] = False

    def info(self) -> MetricInfo:
        """The metric's metadata (kind ``quality``) as written to ``metrics_schema.json``."""
        return MetricInfo(
            name=self.name,
            kind="quality",
            higher_is_better=self.higher_is_better,
            unit=self.value_unit,
            range=self.value_range,
            description=self.description,
        )

    def normalize(self, text: str) -> str:
        """The text after this metric's normalisation and trimming of outer whitespace."""
        if self.normalization.is_identity:
            return text.strip()
        return self.normalization.apply(text).strip()

    @abstractmethod
    def score(self, prediction: str, reference: Reference) -> float:
        """Per-sample value of ``prediction`` against ``reference``."""

    def scores(self, predictions: Sequence[str], references: Sequence[Reference]) -> list[float]:
        """Per-sample values of paired lists (metrics may override with a faster loop)."""
        return [self.score(p, r) for p, r in zip(predictions, references, strict=True)]

    def counts(self, prediction: str, reference: Reference) -> tuple[float, float] | None:
        """Per-sample (numerator, denominator) of the corpus form; None without one."""
        return None

    @property
    def has_micro(self) -> bool:
        """Whether ``corpus`` gives a micro value distinct from the mean of ``score``."""
        return type(self).counts is not Metric.counts or type(self).corpus is not Metric.corpus

    def ratio(self, num: float, den: float) -> float:
        """num/den; with den == 0: 0.0 when num == 0 else 1.0 (error-rate convention)."""
        if den:
            return num / den
        return 0.0 if num == 0 else 1.0

    def corpus(self, predictions: Sequence[str], references: Sequence[Reference]) -> float | None:
        """Corpus (micro) value over paired lists; None when the metric has no corpus form."""
        num = den = 0.0
        for prediction, reference in zip(predictions, references, strict=True):
            pair = self.counts(prediction, reference)
            if pair is None:
                return None
            num += pair[0]
            den += pair[1]
        return self.ratio(num, den)

    def with_options(self, **options: Any) -> Self:
        """A copy with normalisation flags and/or own fields (``name``, ``threshold``...)
        changed; used for registry YAML variants. Unknown options raise
        ``UnknownNameError`` with suggestions."""
        norm_names = Normalization.option_names()
        own_names = {f.name for f in dataclasses.fields(self)} - {"normalization"}
        for key in options:
            if key not in norm_names and key not in own_names:
                raise UnknownNameError("metric option", key, sorted(norm_names | own_names))
        norm = {k: bool(v) for k, v in options.items() if k in norm_names}
        own = {k: v for k, v in options.items() if k in own_names}
        return dataclasses.replace(
            self, normalization=dataclasses.replace(self.normalization, **norm), **own
        )
