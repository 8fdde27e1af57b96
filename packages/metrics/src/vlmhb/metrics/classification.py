"""Classification metrics: accuracy and macro F1 over reference classes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from vlmhb.metrics.base import Metric, Reference, as_texts
from vlmhb.metrics.normalize import Normalization


def _label_normalization() -> Normalization:
    return Normalization(casefold=True, collapse_whitespace=True)


@dataclass(frozen=True, kw_only=True)
class Accuracy(Metric):
    """1.0 when the normalised answer equals the normalised class label (default
    normalisation: casefold + whitespace collapse); the mean is the accuracy."""

    kinds: frozenset[str] = frozenset({"classification"})
    normalization: Normalization = field(default_factory=_label_normalization)

    def score(self, prediction: str, reference: Reference) -> float:
        return float(self.normalize(prediction) == self.normalize(as_texts(reference)[0]))


@dataclass(frozen=True, kw_only=True)
class MacroF1(Metric):
    """Corpus-only: mean over the reference classes of F1 = 2TP / (2TP + FP + FN).

    Classes are the distinct normalised reference labels; an answer outside them counts
    only as a false negative of the true class."""

    kinds: frozenset[str] = frozenset({"classification"})
    normalization: Normalization = field(default_factory=_label_normalization)
    per_sample: ClassVar[bool] = False

    def score(self, prediction: str, reference: Reference) -> float:
        raise TypeError(f"{self.name} is corpus-level only; use corpus()")

    def corpus(self, predictions: Sequence[str], references: Sequence[Reference]) -> float:
        refs = [self.normalize(as_texts(r)[0]) for r in references]
        preds = [self.normalize(p) for p in predictions]
        if len(refs) != len(preds):
            raise ValueError("predictions and references differ in length")
        classes = sorted(set(refs))
        if not classes:
            return 0.0
        scores = []
        for label in classes:
            tp = sum(1 for r, p in zip(refs, preds, strict=True) if r == p == label)
            fp = sum(1 for r, p in zip(refs, preds, strict=True) if p == label != r)
            fn = sum(1 for r, p in zip(refs, preds, strict=True) if r == label != p)
            scores.append(2 * tp / (2 * tp + fp + fn))
        return sum(scores) / len(scores)
